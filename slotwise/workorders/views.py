"""Placeholder views (replaced by the pages)."""

from django.http import HttpResponse


def order_detail(request, public_id):
    return HttpResponse("")


def tech_order(request, public_id):
    return HttpResponse("")
