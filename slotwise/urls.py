from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from slotwise.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("manifest.webmanifest", core_views.manifest, name="manifest"),
    path("sw.js", core_views.service_worker, name="service_worker"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("slotwise.accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api_docs"),
    path("api/", include("slotwise.api_urls")),
    path("org/", include("slotwise.org.urls")),
    path("customers/", include("slotwise.customers.urls")),
    path("scheduling/", include("slotwise.scheduling.urls")),
    path("bookings/", include("slotwise.bookings.urls")),
    path("book/", include("slotwise.bookings.public_urls")),
    path("payments/", include("slotwise.payments.urls")),
    path("shop/", include("slotwise.payments.shop_urls")),
    path("messaging/", include("slotwise.messaging.urls")),
    path("inbox/", include("slotwise.messaging.inbox_urls")),
    path("chat/", include("slotwise.messaging.chat_urls")),
    path("onboarding/", include("slotwise.onboarding.urls")),
    path("channels/", include("slotwise.messaging.settings_urls")),
    path("work/", include("slotwise.workorders.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
