from django.urls import path

from . import views

urlpatterns: list = [
    path("phone/", views.phone_login, name="phone_login"),
    path("phone/verify/", views.phone_verify, name="phone_verify"),
]
