from allauth.account.views import LoginView
from django.urls import path

from . import views

urlpatterns: list = [
    path("phone/", views.phone_login, name="phone_login"),
    path("phone/verify/", views.phone_verify, name="phone_verify"),
    # allauth's own "account/login.html" wins the app template lookup (allauth is listed before
    # slotwise.accounts), so the password login page is served here, ahead of allauth's URL, with
    # our template. The URL name stays allauth's `account_login`, which reverses to this path.
    path("login/", LoginView.as_view(template_name="accounts/password_login.html")),
]
