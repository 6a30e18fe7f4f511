"""Office pages: placeholder until the pages land."""

from django.http import HttpResponse


def order_page(request, public_id):
    return HttpResponse("")
