"""The webshop's URLs (S4.9), mounted at /shop/ by slotwise/urls.py."""

from django.urls import path

from . import shop_views as views

app_name = "shop"

urlpatterns = [
    path("<slug:org_slug>/", views.catalogue, name="catalogue"),
    path("<slug:org_slug>/cart/", views.cart, name="cart"),
    path("<slug:org_slug>/cart/add/", views.cart_add, name="cart_add"),
    path("<slug:org_slug>/checkout/", views.checkout, name="checkout"),
    path("<slug:org_slug>/orders/", views.orders, name="orders"),
    path("<slug:org_slug>/orders/<uuid:public_id>/", views.order, name="order"),
]
