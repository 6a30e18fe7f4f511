import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import health
from .home import home_context


def home(request):
    template, context = home_context(request)
    return render(request, template, context)


@never_cache
@require_GET
def healthz(request):
    healthy, body = health.report()
    return JsonResponse(body, status=200 if healthy else 503)


@require_GET
def manifest(request):
    data = {
        "name": settings.PWA_NAME,
        "short_name": settings.PWA_NAME,
        "description": _("Appointments, visits and one inbox."),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#1f5f8b",
        "icons": [
            {"src": static("slotwise/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("slotwise/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        ],
    }
    return HttpResponse(json.dumps(data), content_type="application/manifest+json")


@require_GET
def service_worker(request):
    response = render(request, "core/sw.js", content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response
