"""Intake pages (S2.1).

- `/work/request/<org>/` (``workorders:request``): the public request form for the company's
  site, no login. ``?embed=1`` is the framed variant (like the public booking page: no top
  navigation, frameable by the allowed sites, CSRF by the Origin check when the browser keeps no
  cookies — `bookings.views.embed_csrf`). A honeypot field and a rate limit per IP
  (``WORKORDER_REQUEST_RATE_LIMIT``, default 5 per 10 minutes) keep bots out. The thank-you page
  (``workorders:request_thanks``) shows the order number; it is reached by a signed token, never
  by the number.
- `/work/new/` (``workorders:new``): the call centre enters a phone call, a manager an order —
  an existing customer (searched, ``workorders:new_contacts``) or a new one, address, work and
  an optional window; then the office order page.
- `/work/from-conversation/<uuid>/` (``workorders:from_conversation``): the inbox's
  "Create work order" button.
"""

from __future__ import annotations

import datetime

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slotwise.bookings.display import org_zone
from slotwise.bookings.views import _language, _respond, _with_keep, embed_csrf
from slotwise.core.errors import ValidationError
from slotwise.core.ratelimit import hit as rate_limit_hit
from slotwise.customers.selectors import contact_search, contacts_for
from slotwise.org.models import Organisation, OrgUnit
from slotwise.org.rules import unit_visible
from slotwise.org.selectors import staff_of, units_for
from slotwise.scheduling.models import AppointmentType

from . import intake
from .models import Source, WorkOrder

THANKS_SALT = "slotwise.workorders.request-thanks"
THANKS_MAX_AGE = 24 * 60 * 60
DEFAULT_RATE = "5/10m"

# -- forms --------------------------------------------------------------------------------------


def _date_input():
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _datetime_input():
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class AddressFields(forms.Form):
    address = forms.CharField(label=_lazy("Street and number"), max_length=300, required=False)
    postcode = forms.CharField(label=_lazy("Postcode"), max_length=16, required=False)
    city = forms.CharField(label=_lazy("City"), max_length=120, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["address"].widget.attrs["autocomplete"] = "street-address"
        self.fields["postcode"].widget.attrs["autocomplete"] = "postal-code"
        self.fields["city"].widget.attrs["autocomplete"] = "address-level2"


class RequestForm(AddressFields):
    """The public request form. What is required and what needs the database (the phone
    number's format for the organisation's country, the postcode, the days against today) is
    checked by `intake.order_from_web_form`, so a visitor sees every problem at once, as field
    errors. `website` is a honeypot: people never see it, bots fill it in."""

    name = forms.CharField(label=_lazy("Your name"), max_length=240, required=False)
    phone = forms.CharField(label=_lazy("Phone"), max_length=40, required=False)
    email = forms.CharField(label=_lazy("E-mail"), max_length=254, required=False)
    title = forms.CharField(label=_lazy("What needs doing?"), max_length=200, required=False)
    description = forms.CharField(
        label=_lazy("Details"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_lazy("What is broken, since when, anything the technician should bring."),
    )
    preferred_from = forms.DateField(
        label=_lazy("Preferred days from"), required=False, widget=_date_input()
    )
    preferred_to = forms.DateField(label=_lazy("until"), required=False, widget=_date_input())
    website = forms.CharField(label=_lazy("Leave this field empty"), required=False)

    field_order = [
        "name",
        "phone",
        "email",
        "address",
        "postcode",
        "city",
        "title",
        "description",
        "preferred_from",
        "preferred_to",
        "website",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["autocomplete"] = "name"
        self.fields["phone"].widget.attrs.update({"autocomplete": "tel", "inputmode": "tel"})
        self.fields["email"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})
        self.fields["website"].widget.attrs.update({"autocomplete": "off", "tabindex": "-1"})
        for name in ("name", "title"):
            self.fields[name].widget.attrs["required"] = True

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))


class NewOrderForm(AddressFields):
    """The staff page. `contact` is the public id of a customer picked in the search; without
    one, name + phone/e-mail find (or make) the customer."""

    source = forms.ChoiceField(
        label=_lazy("How did the request come in?"),
        choices=[(Source.PHONE, Source.PHONE.label), (Source.MANUAL, Source.MANUAL.label)],
        initial=Source.PHONE,
        widget=forms.RadioSelect,
    )
    contact = forms.CharField(required=False)
    name = forms.CharField(label=_lazy("Name"), max_length=240, required=False)
    phone = forms.CharField(label=_lazy("Phone"), max_length=40, required=False)
    email = forms.CharField(label=_lazy("E-mail"), max_length=254, required=False)
    title = forms.CharField(label=_lazy("Short description"), max_length=200, required=False)
    description = forms.CharField(
        label=_lazy("Description"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    type = forms.ModelChoiceField(
        label=_lazy("Work"),
        queryset=AppointmentType.objects.none(),
        required=False,
        empty_label=_lazy("— not decided yet —"),
    )
    unit = forms.ModelChoiceField(
        label=_lazy("Handled by"), queryset=OrgUnit.objects.none(), required=False
    )
    window_start = forms.DateTimeField(
        label=_lazy("Visit window from"), required=False, widget=_datetime_input()
    )
    window_end = forms.DateTimeField(label=_lazy("until"), required=False, widget=_datetime_input())

    def __init__(self, *args, user, staff, **kwargs):
        super().__init__(*args, **kwargs)
        organisation_id = staff.organisation_id
        self.user = user
        self.fields["type"].queryset = AppointmentType.objects.filter(
            organisation_id=organisation_id, active=True
        ).order_by("name")
        units = units_for(user).filter(organisation_id=organisation_id).order_by("path")
        self.fields["unit"].queryset = units
        self.fields["unit"].empty_label = None
        self.fields["unit"].initial = staff.unit_id
        self.fields["unit"].help_text = _lazy("The unit whose managers prepare and dispatch it.")
        self.fields["name"].widget.attrs["autocomplete"] = "off"
        self.fields["phone"].widget.attrs["inputmode"] = "tel"
        self.fields["title"].widget.attrs["required"] = True

    def clean_contact(self):
        value = (self.cleaned_data.get("contact") or "").strip()
        if not value:
            return None
        try:
            contact = contacts_for(self.user).filter(public_id=value).first()
        except (ValueError, TypeError, forms.ValidationError):
            contact = None
        if contact is None:
            raise forms.ValidationError(_("Choose a customer from the search."))
        return contact


def add_errors(form: forms.Form, exc: ValidationError, aliases: dict | None = None) -> None:
    """A service's field errors onto the form (unknown keys: the form's own error list)."""
    aliases = aliases or {}
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(None, message)
        return
    for key, messages_ in exc.message_dict.items():
        field = aliases.get(key, key)
        for message in messages_:
            form.add_error(field if field in form.fields else None, message)


# -- the public request form --------------------------------------------------------------------


def _rate_ok(request) -> bool:
    rate = getattr(settings, "WORKORDER_REQUEST_RATE_LIMIT", DEFAULT_RATE)
    ip = request.META.get("REMOTE_ADDR", "") or "unknown"
    return rate_limit_hit(f"workorder-request:ip:{ip}", rate)


def thanks_token(order: WorkOrder) -> str:
    return signing.TimestampSigner(salt=THANKS_SALT).sign(str(order.public_id))


@require_http_methods(["GET", "POST"])
@embed_csrf
def request_form(request, org_slug: str):
    """The public request form (see the module docstring)."""
    organisation = get_object_or_404(Organisation, slug=org_slug)
    lang = _language(request, organisation)
    context = {"organisation": organisation}
    if request.method == "GET":
        context["form"] = RequestForm()
        return _respond(request, "workorders/intake/request.html", context)
    form = RequestForm(request.POST)
    context["form"] = form
    if not _rate_ok(request):
        context["problem"] = _("Too many requests from your connection. Please wait a few minutes.")
        return _respond(request, "workorders/intake/request.html", context, status=429)
    if form.is_bot:
        context["problem"] = _("Your request could not be sent. Please try again.")
        return _respond(request, "workorders/intake/request.html", context, status=400)
    if form.is_valid():
        data = form.cleaned_data
        try:
            order = intake.order_from_web_form(
                organisation=organisation,
                name=data["name"],
                phone=data["phone"],
                email=data["email"],
                title=data["title"],
                description=data["description"],
                address=data["address"],
                postcode=data["postcode"],
                city=data["city"],
                preferred_from=data["preferred_from"],
                preferred_to=data["preferred_to"],
                language=lang,
            )
        except ValidationError as exc:
            add_errors(form, exc, {"location": "postcode", "contact": "name"})
        else:
            url = reverse("workorders:request_thanks", args=[organisation.slug])
            return redirect(_with_keep(url, request, t=thanks_token(order)))
    return _respond(request, "workorders/intake/request.html", context, status=400)


@require_GET
def request_thanks(request, org_slug: str):
    organisation = get_object_or_404(Organisation, slug=org_slug)
    _language(request, organisation)
    try:
        public_id = signing.TimestampSigner(salt=THANKS_SALT).unsign(
            request.GET.get("t", ""), max_age=THANKS_MAX_AGE
        )
        order = WorkOrder.objects.filter(organisation=organisation, public_id=public_id).first()
    except (signing.BadSignature, ValueError):
        order = None
    if order is None:
        return redirect(
            _with_keep(reverse("workorders:request", args=[organisation.slug]), request)
        )
    context = {
        "organisation": organisation,
        "order": order,
        "again_url": _with_keep(reverse("workorders:request", args=[organisation.slug]), request),
    }
    return _respond(request, "workorders/intake/thanks.html", context)


# -- staff: new order ---------------------------------------------------------------------------


def _office_staff(request):
    staff = staff_of(request.user)
    if staff is None or not request.user.has_perm("workorders.create_order"):
        raise PermissionDenied
    return staff


def _aware(value: datetime.datetime | None, zone) -> datetime.datetime | None:
    """A datetime-local value is wall-clock time in the organisation's zone."""
    if value is None:
        return None
    return value.replace(tzinfo=None).replace(tzinfo=zone)


def _order_url(order: WorkOrder) -> str:
    return reverse("workorders:order", args=[order.public_id])


@login_required
@require_http_methods(["GET", "POST"])
def new_order(request):
    """The call centre's and managers' "New order" page."""
    staff = _office_staff(request)
    organisation = staff.organisation
    zone = org_zone(organisation)
    if request.method == "GET":
        form = NewOrderForm(user=request.user, staff=staff)
        contact = None
        if request.GET.get("contact"):  # "New order" from a contact's card
            try:
                contact = (
                    contacts_for(request.user).filter(public_id=request.GET["contact"]).first()
                )
            except (ValueError, TypeError, DjangoValidationError):
                contact = None
        return render(request, "workorders/intake/new.html", {"form": form, "contact": contact})
    with timezone.override(zone):
        form = NewOrderForm(request.POST, user=request.user, staff=staff)
        valid = form.is_valid()
    contact = form.cleaned_data.get("contact") if hasattr(form, "cleaned_data") else None
    if valid:
        data = form.cleaned_data
        try:
            order = intake.order_from_staff(
                organisation=organisation,
                actor=request.user,
                source=data["source"],
                title=data["title"],
                description=data["description"],
                contact=contact,
                name=data["name"],
                phone=data["phone"],
                email=data["email"],
                address=data["address"],
                postcode=data["postcode"],
                city=data["city"],
                type=data["type"],
                window_start=_aware(data["window_start"], zone),
                window_end=_aware(data["window_end"], zone),
                unit=data["unit"] or staff.unit,
            )
        except ValidationError as exc:
            add_errors(form, exc, {"location": "postcode"})
        else:
            if order.duplicate_of_id:
                messages.warning(
                    request,
                    _("Order #%(number)s was created; it may duplicate order #%(other)s.")
                    % {"number": order.number, "other": order.duplicate_of.number},
                )
            else:
                messages.success(
                    request, _("Order #%(number)s was created.") % {"number": order.number}
                )
            return redirect(_order_url(order))
    return render(
        request, "workorders/intake/new.html", {"form": form, "contact": contact}, status=400
    )


@login_required
@require_GET
def new_order_contacts(request):
    """htmx: the customers the user may see matching a name, phone or e-mail (at most 10)."""
    _office_staff(request)
    q = (request.GET.get("q") or "").strip()
    results = (
        list(contact_search(request.user, q).select_related("location")[:10]) if len(q) >= 2 else []
    )
    return render(
        request,
        "scheduling/_contact_results.html",
        {"results": results, "q": q, "field": "contact"},
    )


# -- the inbox button ---------------------------------------------------------------------------


@login_required
@require_POST
def from_conversation(request, public_id):
    """An order from an inbox conversation (the button on the conversation page)."""
    from slotwise.messaging.inbox_views import _redirect
    from slotwise.messaging.selectors import conversations_for

    staff = _office_staff(request)
    conversation = get_object_or_404(
        conversations_for(request.user).select_related("contact__unit", "contact__location"),
        public_id=public_id,
    )
    unit = conversation.contact.unit
    if unit is None or not unit_visible(request.user, unit):
        unit = staff.unit
    existing = WorkOrder.objects.filter(
        organisation_id=conversation.organisation_id, contact_id=conversation.contact_id
    ).values_list("pk", flat=True)
    before = set(existing)
    try:
        order = intake.order_from_conversation(conversation, request.user, unit=unit)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return _redirect(conversation)
    if order.pk in before:
        messages.info(
            request,
            _("Order #%(number)s was already made from this conversation's last message.")
            % {"number": order.number},
        )
    else:
        messages.success(request, _("Order #%(number)s was created.") % {"number": order.number})
    if not request.user.has_perm("workorders.view_order", order):
        return _redirect(conversation)
    return redirect(_order_url(order))
