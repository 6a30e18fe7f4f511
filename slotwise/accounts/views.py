"""Customer login by phone number + SMS code: step 1 asks for the number, step 2 for the code."""

from __future__ import annotations

from django import forms
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from . import services

SESSION_PHONE_KEY = "phone_login_phone"


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile phone number"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        help_text=_("Include the country code, e.g. +46 70 123 45 67."),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from the text message"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"}
        ),
    )


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, messages in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


@require_http_methods(["GET", "POST"])
def phone_login(request):
    form = PhoneForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            phone = services.phone_code_request(
                phone_raw=form.cleaned_data["phone"], ip=_client_ip(request)
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            request.session[SESSION_PHONE_KEY] = phone
            return redirect("phone_verify")
    return render(request, "accounts/phone_login.html", {"form": form})


@require_http_methods(["GET", "POST"])
def phone_verify(request):
    phone = request.session.get(SESSION_PHONE_KEY)
    if not phone:
        return redirect("phone_login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.phone_code_verify(
                phone_raw=phone, code=form.cleaned_data["code"], ip=_client_ip(request)
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session.pop(SESSION_PHONE_KEY, None)
            return redirect("home")
    return render(request, "accounts/phone_verify.html", {"form": form, "phone": phone})
