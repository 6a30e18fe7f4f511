"""The technician's app: placeholder until the pages land."""

from django.http import HttpResponse


def order_card(request, public_id):
    return HttpResponse("")
