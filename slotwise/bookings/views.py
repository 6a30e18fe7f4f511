"""Customer-facing booking pages (S4.6, S4.13, S0.1, S0.3).

- `/book/<org>/` and `/book/<org>/<type>/`: the public booking page, with and without login;
  `?embed=1` is the framed variant the embed snippet (static/slotwise/embed.js) shows on a
  company's own site: no top navigation, frameable (CSP frame-ancestors from
  settings.EMBED_ALLOWED_ORIGINS), and it tells the host page its height with postMessage.
- `/bookings/confirmation/<public_id>/` (+ `.ics`): what was booked.
- `/bookings/manage/<token>/`: reschedule or cancel through a signed link (signing.py).
- `/bookings/mine/`: a logged-in customer's bookings.

The public flow keeps no server-side state between its steps (the chosen option travels as a
signed token), so it also works in a third-party iframe where the browser keeps no cookies; the
booking POST is protected by Django's CSRF check when the CSRF cookie is there, and otherwise by
an Origin check plus a signed form token (`embed_csrf`).

Language: `?lang=` (the embedded page's switcher) wins, then the visitor's language cookie (the
selector in the top bar), then the organisation's language (the manage pages: the customer's).
"""

from __future__ import annotations

import datetime
from collections import OrderedDict
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.csrf import csrf_failure
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slotwise.core.errors import Conflict, ValidationError
from slotwise.core.ratelimit import hit as rate_limit_hit
from slotwise.customers.models import Contact
from slotwise.org.models import Organisation, Staff
from slotwise.org.selectors import staff_of
from slotwise.scheduling.models import AppointmentType

from . import signing
from .display import local, org_zone, place_text, price_text
from .forms import ContactDetailsForm, SearchForm
from .models import ACTIVE_STATUSES, Booking, BookingStatus
from .public import (
    form_token,
    form_token_ok,
    option_token,
    public_booking_create,
    read_option_token,
)

DEFAULT_DAYS = 14
# Options start at least this much later than the type's notice asks, so the visitor has time to
# fill in the form before the earliest time stops being bookable.
GRACE_MINUTES = 10
OPTIONS_LIMIT = 40
PER_DAY = 6  # times shown per day before "More times"
SUGGESTED = 3  # the best-ranked options shown first
OTHER_STAFF_OPTIONS = 12  # rescheduling: times offered with colleagues
CONFIRMATION_LINKS_MINUTES = 60

# --- helpers ---------------------------------------------------------------------------------


def _is_embed(request) -> bool:
    return (request.GET.get("embed") or request.POST.get("embed")) == "1"


def _language(request, organisation, default: str = "") -> str:
    languages = dict(settings.LANGUAGES)
    lang = request.GET.get("lang") or request.POST.get("lang") or ""
    if lang not in languages:
        lang = ""
        if request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) in languages:
            lang = request.COOKIES[settings.LANGUAGE_COOKIE_NAME]
    lang = lang or (default if default in languages else "") or organisation.default_language
    translation.activate(lang)
    request.LANGUAGE_CODE = lang
    return lang


def _frame_ancestors() -> str:
    origins = [o.strip() for o in settings.EMBED_ALLOWED_ORIGINS if o.strip()]
    if not origins or "*" in origins:
        return "frame-ancestors *"
    return "frame-ancestors 'self' " + " ".join(origins)


def _respond(request, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    """Render a public page; the embedded variant may be framed by the allowed sites."""
    embed = _is_embed(request)
    context.setdefault("embed", embed)
    context["base_template"] = "bookings/embed_base.html" if embed else "base.html"
    context.setdefault("lang", translation.get_language())
    query = {"embed": "1", "lang": context["lang"]} if embed else {}
    context["keep"] = urlencode(query)
    organisation = context.get("organisation")
    # Templates show aware datetimes in the current time zone: the organisation's.
    with timezone.override(org_zone(organisation) if organisation else None):
        response = render(request, template, context, status=status)
    if embed:
        response.xframe_options_exempt = True
        response["Content-Security-Policy"] = _frame_ancestors()
    return response


def _with_keep(url: str, request, **extra) -> str:
    query = {}
    if _is_embed(request):
        query = {"embed": "1", "lang": translation.get_language()}
    query.update({k: v for k, v in extra.items() if v})
    return f"{url}?{urlencode(query)}" if query else url


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _rate_ok(request) -> bool:
    """Count one booking attempt for the client's IP; False past PUBLIC_BOOKING_RATE_LIMIT."""
    return rate_limit_hit(
        f"public-booking:ip:{_client_ip(request)}", settings.PUBLIC_BOOKING_RATE_LIMIT
    )


def _own_origin(request) -> str:
    return f"{'https' if request.is_secure() else 'http'}://{request.get_host()}"


def embed_csrf(view):
    """CSRF protection for the booking POST that also works inside a third-party iframe.

    With the CSRF cookie present (the normal page, or a browser that keeps third-party cookies)
    Django's own check runs unchanged. Without it (an embedded page in a browser that blocks
    third-party cookies), the request must come from our own origin (the Origin header, which
    browsers set on every cross-site POST and scripts cannot forge) and carry the signed form
    token rendered into the form. Such a visitor has no session cookie either, so there is no
    ambient login a forged request could abuse."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method == "POST":
            if settings.CSRF_COOKIE_NAME in request.COOKIES:
                rejected = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
                if rejected is not None:
                    return rejected
            elif not getattr(request, "_dont_enforce_csrf_checks", False):
                origin_ok = request.META.get("HTTP_ORIGIN") == _own_origin(request)
                type_id = kwargs.get("_type_id_for_csrf")
                token_ok = type_id is None or form_token_ok(request.POST.get("ft", ""), type_id)
                if not (origin_ok and token_ok):
                    return csrf_failure(request, reason="Origin or form token missing.")
        kwargs.pop("_type_id_for_csrf", None)
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapped)


def _org_or_404(org_slug: str) -> Organisation:
    return get_object_or_404(Organisation, slug=org_slug)


def _type_or_404(organisation, type_slug: str) -> AppointmentType:
    return get_object_or_404(
        AppointmentType.objects.select_related("organisation"),
        organisation=organisation,
        slug=type_slug,
        active=True,
    )


def _customer_contact(request, organisation) -> Contact | None:
    """The logged-in customer's contact in this organisation (staff book through the booker)."""
    user = request.user
    if not user.is_authenticated or staff_of(user) is not None:
        return None
    return Contact.objects.filter(user=user, organisation=organisation).first()


def _today(organisation) -> datetime.date:
    return timezone.localtime(timezone.now(), org_zone(organisation)).date()


def _error_dict(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    return {"__all__": list(exc.messages)}


# --- option search ---------------------------------------------------------------------------

SEARCH_FIELDS = {
    "postcode": "postcode",
    "address": "address",
    "window_start": "start",
    "window_end": "end",
}


def _search_form(request, organisation, type_, contact, *, data=None) -> SearchForm:
    today = _today(organisation)
    source = data if data is not None else request.GET
    bound = {
        "start": today.isoformat(),
        "end": (today + datetime.timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
    }
    if contact is not None and contact.location_id:
        bound["postcode"] = contact.location.postcode
        bound["address"] = contact.location.address
    bound.update({k: source[k] for k in ("start", "end", "postcode", "address") if k in source})
    return SearchForm(bound, needs_travel=type_.needs_travel, today=today)


def _window(organisation, type_, start: datetime.date, end: datetime.date, now):
    zone = org_zone(organisation)
    window_start = datetime.datetime.combine(start, datetime.time.min, tzinfo=zone)
    window_end = datetime.datetime.combine(
        end + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
    )
    window_start = max(window_start, now + datetime.timedelta(minutes=GRACE_MINUTES))
    horizon = now + datetime.timedelta(days=type_.horizon_days)
    return window_start, min(window_end, horizon)


def _find(
    *,
    organisation,
    type_,
    form: SearchForm,
    contact=None,
    now=None,
    preferred_staff=None,
    exclude_booking=None,
):
    """Run the option generator for a valid search form. Returns (options, location); field
    errors go onto the form and give ([], None)."""
    from slotwise.scheduling.selectors import find_options, resolve_location, visit_spec

    now = now or timezone.now()
    data = form.cleaned_data
    try:
        location = None
        if type_.needs_travel:
            location = resolve_location(
                organisation=organisation,
                postcode=data.get("postcode", ""),
                address=data.get("address", ""),
                country=organisation.country,
            )
        window_start, window_end = _window(organisation, type_, data["start"], data["end"], now)
        if window_end <= window_start:
            form.add_error("start", _("Bookings for this service are not open for these days."))
            return [], None
        options = find_options(
            organisation=organisation,
            spec=visit_spec([type_]),
            location=location,
            window_start=window_start,
            window_end=window_end,
            contact=contact,
            preferred_staff=preferred_staff,
            limit=OPTIONS_LIMIT,
            now=now + datetime.timedelta(minutes=GRACE_MINUTES),
            exclude_booking=exclude_booking,
        )
    except ValidationError as exc:
        for field, messages in _error_dict(exc).items():
            target = SEARCH_FIELDS.get(field)
            if target not in form.fields:
                target = None
            for message in messages:
                form.add_error(target, message)
        return [], None
    return options, location


PERSONAL_REASONS = ("usual_staff", "substitute")


def _short_reasons(option, limit: int = 2) -> list[str]:
    """The option's first reasons, the personal ones ("your usual advisor") first."""
    pairs = list(zip(option.reason_codes, option.reasons, strict=False))
    pairs.sort(key=lambda pair: pair[0].get("code") not in PERSONAL_REASONS)
    return [text for _code, text in pairs[:limit]]


def _option_items(options, organisation, *, token_for) -> list[dict]:
    first_names = dict(
        Staff.objects.filter(pk__in={o.staff_id for o in options}).values_list(
            "pk", "user__first_name"
        )
    )
    return [
        {
            "start": local(option.start, organisation),
            "end": local(option.end, organisation),
            "staff_id": option.staff_id,
            "staff_first_name": first_names.get(option.staff_id) or option.staff_name.split(" ")[0],
            "reasons": _short_reasons(option),
            "reason_codes": [c.get("code") for c in option.reason_codes],
            "seats_left": option.seats_left,
            "token": token_for(option),
        }
        for option in options
    ]


def _group_by_day(options, organisation, *, token_for) -> list[dict]:
    """[{day, options: [{start, end, staff_first_name, reasons, seats_left, token}], first,
    more}] in the organisation's zone, days in order, times in order within a day."""
    days: OrderedDict[datetime.date, list] = OrderedDict()
    items = _option_items(options, organisation, token_for=token_for)
    for item in sorted(items, key=lambda i: (i["start"], i["staff_id"])):
        days.setdefault(item["start"].date(), []).append(item)
    return [
        {"day": day, "options": items, "first": items[:PER_DAY], "more": items[PER_DAY:]}
        for day, items in days.items()
    ]


def _prepay_text(type_) -> str:
    """ "Pay now 950.00 SEK" / "Deposit 200.00 SEK" for a type paid when booking, else ""."""
    from slotwise.payments.booking import prepayment_purpose, type_payment_due

    due = type_payment_due(type_)
    if due is None:
        return ""
    amount = price_text(due.amount, due.currency)
    if prepayment_purpose(type_) == "deposit":
        return _("Deposit %(amount)s when booking") % {"amount": amount}
    return _("Pay now %(amount)s") % {"amount": amount}


def _type_facts(type_) -> dict:
    return {
        "price": price_text(type_.price, type_.currency),
        "mode": type_.get_mode_display(),
        "duration": type_.duration_minutes,
        "prepay": _prepay_text(type_),
    }


# --- public booking page ---------------------------------------------------------------------


@require_GET
def public_types(request, org_slug: str):
    organisation = _org_or_404(org_slug)
    _language(request, organisation)
    types = AppointmentType.objects.filter(organisation=organisation, active=True).order_by("name")
    items = [
        {
            "type": t,
            "url": _with_keep(reverse("book:type", args=[organisation.slug, t.slug]), request),
            **_type_facts(t),
        }
        for t in types
    ]
    return _respond(
        request, "bookings/public_types.html", {"organisation": organisation, "types": items}
    )


def _render_type_page(
    request, organisation, type_, *, form, contact, status=200, problem="", now=None
):
    days, suggested, searched = [], [], False
    ready = form.is_bound and (not type_.needs_travel or form.data.get("postcode"))
    if ready and form.is_valid():
        searched = True
        options, _location = _find(
            organisation=organisation, type_=type_, form=form, contact=contact, now=now
        )
        data = form.cleaned_data
        details_url = reverse("book:details", args=[organisation.slug, type_.slug])

        def token_for(option):
            token = option_token(
                type_id=type_.pk,
                staff_id=option.staff_id,
                start=option.start,
                postcode=data.get("postcode", ""),
                address=data.get("address", ""),
            )
            return _with_keep(details_url, request, o=token)

        days = _group_by_day(options, organisation, token_for=token_for)
        # The option generator's best few, in its order (continuity, travel, compact days).
        suggested = _option_items(options[:SUGGESTED], organisation, token_for=token_for)
    elif not ready:  # the first visit: ask for the postcode, no errors yet
        form = SearchForm(
            initial=dict(form.data.items()), needs_travel=True, today=_today(organisation)
        )
    return _respond(
        request,
        "bookings/public_book.html",
        {
            "organisation": organisation,
            "type": type_,
            "facts": _type_facts(type_),
            "form": form,
            "days": days,
            "suggested": suggested,
            "searched": searched,
            "contact": contact,
            "problem": problem,
            "types_url": _with_keep(reverse("book:types", args=[organisation.slug]), request),
            "zone": organisation.time_zone,
        },
        status=status,
    )


@require_GET
def public_book(request, org_slug: str, type_slug: str):
    organisation = _org_or_404(org_slug)
    type_ = _type_or_404(organisation, type_slug)
    _language(request, organisation)
    contact = _customer_contact(request, organisation)
    form = _search_form(request, organisation, type_, contact)
    return _render_type_page(request, organisation, type_, form=form, contact=contact)


def _details_context(organisation, type_, choice, staff) -> dict:
    start = local(choice.start, organisation)
    end = local(choice.start + datetime.timedelta(minutes=type_.duration_minutes), organisation)
    return {
        "start": start,
        "end": end,
        "staff_first_name": staff.user.first_name,
        "where": choice.address or choice.postcode,
        **_type_facts(type_),
    }


def _booking_csrf(view):
    """`embed_csrf` with the type resolved for the form-token check."""

    @wraps(view)
    def wrapped(request, org_slug: str, type_slug: str):
        organisation = _org_or_404(org_slug)
        type_ = _type_or_404(organisation, type_slug)
        guarded = embed_csrf(lambda req, **kw: view(req, organisation, type_))
        return guarded(request, _type_id_for_csrf=type_.pk)

    return csrf_exempt(wrapped)


@require_http_methods(["GET", "POST"])
@_booking_csrf
def public_details(request, organisation, type_):
    """The chosen option: contact details (or just "Confirm" for a logged-in customer), then
    book."""
    lang = _language(request, organisation)
    contact = _customer_contact(request, organisation)
    token = request.POST.get("o") if request.method == "POST" else request.GET.get("o")
    try:
        choice = read_option_token(token or "", type_id=type_.pk)
    except ValidationError:
        form = _search_form(request, organisation, type_, contact, data={})
        return _render_type_page(
            request,
            organisation,
            type_,
            form=form,
            contact=contact,
            status=400,
            problem=_("This choice has expired. Please choose a time again."),
        )
    staff = get_object_or_404(
        Staff.objects.select_related("user"), pk=choice.staff_id, organisation=organisation
    )
    context = {
        "organisation": organisation,
        "type": type_,
        "choice": _details_context(organisation, type_, choice, staff),
        "option_token": token,
        "form_token": form_token(type_.pk),
        "contact": contact,
        "back_url": _with_keep(
            reverse("book:type", args=[organisation.slug, type_.slug]),
            request,
            postcode=choice.postcode,
            address=choice.address,
        ),
    }
    form = None if contact else ContactDetailsForm(country=organisation.country)
    if request.method == "GET":
        context["form"] = form
        return _respond(request, "bookings/public_details.html", context)

    if not _rate_ok(request):
        context["form"] = form
        context["problem"] = _("Too many booking attempts. Please wait a few minutes.")
        return _respond(request, "bookings/public_details.html", context, status=429)
    details = None
    if contact is None:
        form = ContactDetailsForm(request.POST, country=organisation.country)
        context["form"] = form
        if form.is_bot:
            context["problem"] = _("Your booking could not be sent. Please try again.")
            return _respond(request, "bookings/public_details.html", context, status=400)
        if not form.is_valid():
            return _respond(request, "bookings/public_details.html", context, status=400)
        details = form.cleaned_data
    location = None
    try:
        if type_.needs_travel:
            from slotwise.scheduling.selectors import resolve_location

            location = resolve_location(
                organisation=organisation,
                postcode=choice.postcode,
                address=choice.address,
                country=organisation.country,
            )
        booking = public_booking_create(
            type=type_,
            staff=staff,
            start=choice.start,
            location=location,
            contact=contact,
            details=details,
            language=lang,
            actor=request.user if request.user.is_authenticated else None,
        )
    except Conflict as exc:
        return _fresh_options(request, organisation, type_, contact, choice, exc.message)
    except ValidationError as exc:
        errors = _error_dict(exc)
        if form is not None and set(errors) & set(form.fields):
            for field, messages in errors.items():
                for message in messages:
                    form.add_error(field if field in form.fields else None, message)
            return _respond(request, "bookings/public_details.html", context, status=400)
        message = " ".join(m for messages in errors.values() for m in messages)
        return _fresh_options(request, organisation, type_, contact, choice, message)
    if booking.status == BookingStatus.HELD:  # paid when booking: choose how to pay
        return redirect(_with_keep(reverse("bookings:pay", args=[booking.public_id]), request))
    return redirect(_with_keep(reverse("bookings:confirmation", args=[booking.public_id]), request))


def _fresh_options(request, organisation, type_, contact, choice, message):
    """A lost race (or a time that stopped being bookable): say so and show fresh options for
    the same search (409)."""
    today = _today(organisation)
    data = {
        "start": today.isoformat(),
        "end": (today + datetime.timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        "postcode": choice.postcode,
        "address": choice.address,
    }
    form = SearchForm(data, needs_travel=type_.needs_travel, today=today)
    return _render_type_page(
        request, organisation, type_, form=form, contact=contact, status=409, problem=message
    )


@login_required
@require_GET
def embed_code(request, org_slug: str):
    """The snippet to paste on the company's own website (org admins and managers)."""
    organisation = _org_or_404(org_slug)
    staff = staff_of(request.user)
    if (
        staff is None
        or staff.organisation_id != organisation.pk
        or not request.user.has_perm("scheduling.manage_types")
    ):
        raise Http404
    script = request.build_absolute_uri(static("slotwise/embed.js"))
    types = AppointmentType.objects.filter(organisation=organisation, active=True).order_by("name")
    snippets = [
        {
            "type": t,
            "snippet": (
                f'<script src="{script}" data-slotwise-org="{organisation.slug}" '
                f'data-slotwise-type="{t.slug}" async></script>'
            ),
            "url": request.build_absolute_uri(
                reverse("book:type", args=[organisation.slug, t.slug])
            ),
        }
        for t in types
    ]
    all_types = f'<script src="{script}" data-slotwise-org="{organisation.slug}" async></script>'
    return render(
        request,
        "bookings/embed_code.html",
        {"organisation": organisation, "snippets": snippets, "all_types": all_types},
    )


# --- confirmation, calendar file -------------------------------------------------------------


def _booking_by_public_id(public_id) -> Booking:
    return get_object_or_404(
        Booking.objects.select_related(
            "type", "staff__user", "contact", "organisation", "unit", "location"
        ),
        public_id=public_id,
    )


def _booking_facts(booking, *, with_address: bool = True) -> dict:
    organisation = booking.organisation
    return {
        "start": local(booking.start, organisation),
        "end": local(booking.end, organisation),
        "staff_first_name": booking.staff.user.first_name,
        "place": place_text(booking, with_address=with_address),
        "price": price_text(booking.type.price, booking.type.currency),
        "zone": organisation.time_zone,
    }


@require_GET
def confirmation(request, public_id):
    """What was booked. The links to reschedule or cancel, and the customer's address, are shown
    for an hour after booking (the visitor who just booked) or to the customer themselves; later
    the signed link in the e-mail/SMS is the way in."""
    booking = _booking_by_public_id(public_id)
    _language(request, booking.organisation)
    access = _confirmation_access(request, booking)
    links = None
    if booking.is_active and access and booking.end > timezone.now():
        links = {
            "reschedule": signing.manage_path(booking, "reschedule"),
            "cancel": signing.manage_path(booking, "cancel"),
            "manage": signing.manage_path(booking, "manage"),
        }
    from slotwise.payments.booking import payment_state

    return _respond(
        request,
        "bookings/confirmation.html",
        {
            "organisation": booking.organisation,
            "booking": booking,
            "facts": _booking_facts(booking, with_address=access),
            "payment": payment_state(booking),
            "links": links,
            "ics_url": reverse("bookings:calendar", args=[booking.public_id]),
            "book_again_url": _with_keep(
                reverse("book:type", args=[booking.organisation.slug, booking.type.slug]),
                request,
            ),
        },
    )


def _confirmation_access(request, booking) -> bool:
    fresh = booking.created_at >= timezone.now() - datetime.timedelta(
        minutes=CONFIRMATION_LINKS_MINUTES
    )
    own = request.user.is_authenticated and booking.contact.user_id == request.user.pk
    return fresh or own


# --- paying for a booking (S0.7, S0.8) --------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def booking_pay(request, public_id):
    """Pay what is due for a booking: the prepayment of a hold (after the details step, or from
    the link the booker sent) or an unpaid no-show fee. The customer chooses how to pay, then goes
    to the shared pay page, which returns to the confirmation once paid. Addressed by the
    booking's unguessable id; the POST is protected like the booking form (`embed_csrf`)."""
    booking = _booking_by_public_id(public_id)
    guarded = embed_csrf(lambda req, **kw: _booking_pay(req, booking))
    return guarded(request, _type_id_for_csrf=booking.type_id)


def _booking_pay(request, booking):
    from slotwise.payments.booking import amount_due, booking_checkout
    from slotwise.payments.checkout import ProviderChoiceForm

    organisation = booking.organisation
    _language(request, organisation, default=booking.contact.language)
    confirmation_url = reverse("bookings:confirmation", args=[booking.public_id])
    due = amount_due(booking)
    if due is None:
        return redirect(_with_keep(confirmation_url, request))
    form = ProviderChoiceForm(
        request.POST if request.method == "POST" else None,
        organisation=organisation,
        currency=due.amount.currency,
    )
    problem = ""
    if request.method == "POST" and form.is_valid():
        try:
            payment = booking_checkout(
                booking=booking,
                provider=form.cleaned_data["provider"],
                payer_phone=form.cleaned_data.get("phone", ""),
                return_url=request.build_absolute_uri(confirmation_url),
                actor=request.user if request.user.is_authenticated else None,
            )
        except ValidationError as exc:
            for field, messages in _error_dict(exc).items():
                for message in messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            return redirect("payments:pay", public_id=payment.public_id)
    if not form.fields["provider"].choices:
        problem = _("Online payment is not available at the moment. Please contact us.")
    return _respond(
        request,
        "bookings/pay.html",
        {
            "organisation": organisation,
            "booking": booking,
            "facts": _booking_facts(booking, with_address=_confirmation_access(request, booking)),
            "due": due,
            "is_fee": due.purpose == "no_show_fee",
            "form": form,
            "form_token": form_token(booking.type_id),
            "problem": problem,
        },
        status=400 if form.errors else 200,
    )


def _ics_response(booking, *, with_address: bool) -> HttpResponse:
    """The appointment as an iCalendar (.ics) file for the customer's own calendar."""
    import icalendar

    with translation.override(booking.contact.language or booking.organisation.default_language):
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//Slotwise//Bookings//EN")
        calendar.add("version", "2.0")
        calendar.add("method", "PUBLISH")
        event = icalendar.Event()
        event.add("uid", f"{booking.public_id}@slotwise")
        event.add("dtstamp", timezone.now())
        event.add("dtstart", booking.start)
        event.add("dtend", booking.end)
        event.add(
            "summary",
            _("%(type)s with %(organisation)s")
            % {"type": booking.type.name, "organisation": booking.organisation.name},
        )
        event.add("location", place_text(booking, with_address=with_address))
        event.add("description", _("With %(name)s") % {"name": booking.staff.user.first_name})
        cancelled = booking.status == BookingStatus.CANCELLED
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        calendar.add_component(event)
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="booking-{booking.public_id}.ics"'
    return response


@require_GET
def calendar_file(request, public_id):
    booking = _booking_by_public_id(public_id)
    return _ics_response(booking, with_address=_confirmation_access(request, booking))


@require_GET
def manage_calendar(request, token: str):
    claims, booking, problem = _claims_or_page(request, token, "view")
    if problem:
        return problem
    return _ics_response(booking, with_address=True)


# --- manage through a signed link ------------------------------------------------------------


def _claims_or_page(request, token: str, action: str):
    """(claims, booking, None) or (None, None, a friendly 404/410 response)."""
    try:
        claims = signing.read_token(token, action=action)
    except signing.ExpiredToken:
        return None, None, _link_problem(request, expired=True)
    except signing.InvalidToken:
        return None, None, _link_problem(request, expired=False)
    booking = (
        Booking.objects.select_related(
            "type", "staff__user", "contact", "organisation", "unit", "location"
        )
        .filter(public_id=claims.public_id)
        .first()
    )
    if booking is None:
        return None, None, _link_problem(request, expired=False)
    _language(request, booking.organisation, default=booking.contact.language)
    return claims, booking, None


def _link_problem(request, *, expired: bool) -> HttpResponse:
    response = render(
        request,
        "bookings/link_problem.html",
        {"expired": expired, "base_template": "base.html"},
        status=410 if expired else 404,
    )
    return response


def _cancel_money(booking, now) -> tuple[bool, str]:
    """(too late to cancel online, what happens to the prepayment when cancelling now)."""
    from slotwise.payments.booking import net_paid, paid_prepayments

    late = (
        booking.status == BookingStatus.CONFIRMED
        and booking.start - datetime.timedelta(hours=booking.type.cancel_window_hours) < now
    )
    paid = paid_prepayments(booking) if booking.status == BookingStatus.CONFIRMED else []
    if not paid:
        return late, ""
    amount = net_paid(paid)
    if late and booking.start <= now:
        return True, ""
    if late and booking.type.late_cancel_keeps_deposit:
        return False, _(
            "It is after the cancellation deadline: if you cancel now, your prepayment of "
            "%(amount)s is not refunded."
        ) % {"amount": amount}
    return False, _("If you cancel, your prepayment of %(amount)s is refunded.") % {
        "amount": amount
    }


def _manage_context(request, token, claims, booking) -> dict:
    from slotwise.payments.booking import payment_state

    now = timezone.now()
    active = booking.status in ACTIVE_STATUSES and booking.end > now
    cancel_too_late, cancel_money = _cancel_money(booking, now)
    return {
        "organisation": booking.organisation,
        "booking": booking,
        "facts": _booking_facts(booking),
        "token": token,
        "can_reschedule": active and claims.allows("reschedule"),
        "can_cancel": active and claims.allows("cancel"),
        "cancel_too_late": cancel_too_late,
        "cancel_money": cancel_money,
        "payment": payment_state(booking),
        "reschedule_too_late": booking.start
        - datetime.timedelta(hours=booking.type.reschedule_window_hours)
        < now,
        "done": request.GET.get("done", ""),
        "ics_url": reverse("bookings:manage_calendar", args=[token]),
        "book_again_url": reverse("book:type", args=[booking.organisation.slug, booking.type.slug]),
    }


@require_GET
def manage(request, token: str):
    claims, booking, problem = _claims_or_page(request, token, "view")
    if problem:
        return problem
    return _respond(
        request, "bookings/manage.html", _manage_context(request, token, claims, booking)
    )


@require_POST
def manage_cancel(request, token: str):
    claims, booking, problem = _claims_or_page(request, token, "cancel")
    if problem:
        return problem
    from .services import booking_cancel

    try:
        booking_cancel(booking=booking, reason=_("Cancelled by the customer"))
    except ValidationError as exc:
        context = _manage_context(request, token, claims, booking)
        context["problem"] = " ".join(m for ms in _error_dict(exc).values() for m in ms)
        return _respond(request, "bookings/manage.html", context, status=400)
    return redirect(reverse("bookings:manage", args=[token]) + "?done=cancelled")


@require_http_methods(["GET", "POST"])
def manage_reschedule(request, token: str):
    """Fresh options: the same staff member first, then others (the booking moves to them;
    `booking_reschedule` keeps the booking, its public id and its links)."""
    claims, booking, problem = _claims_or_page(request, token, "reschedule")
    if problem:
        return problem
    organisation, type_ = booking.organisation, booking.type
    context = _manage_context(request, token, claims, booking)
    if request.method == "POST":
        from .services import booking_reschedule

        try:
            choice = read_option_token(request.POST.get("o", ""), type_id=type_.pk)
            staff = get_object_or_404(Staff, pk=choice.staff_id, organisation=organisation)
            booking_reschedule(
                booking=booking,
                start=choice.start,
                staff=staff if staff.pk != booking.staff_id else None,
            )
        except Conflict as exc:
            context["problem"] = exc.message
        except ValidationError as exc:
            context["problem"] = " ".join(m for ms in _error_dict(exc).values() for m in ms)
        else:
            return redirect(reverse("bookings:manage", args=[token]) + "?done=rescheduled")
    status = 409 if context.get("problem") else 200
    today = _today(organisation)
    data = (
        request.GET
        if "start" in request.GET
        else {
            "start": today.isoformat(),
            "end": (today + datetime.timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        }
    )
    form = SearchForm(data, needs_travel=False, today=today)
    same, others = [], []
    if context["can_reschedule"] and not context["reschedule_too_late"] and form.is_valid():
        location = booking.location
        from slotwise.scheduling.selectors import find_options, visit_spec

        window_start, window_end = _window(
            organisation,
            type_,
            form.cleaned_data["start"],
            form.cleaned_data["end"],
            timezone.now(),
        )
        options, alternatives = [], []
        if window_end > window_start:
            query = {
                "organisation": organisation,
                "spec": visit_spec([type_, *booking.services.all()]),
                "location": location if type_.needs_travel else None,
                "window_start": window_start,
                "window_end": window_end,
                "limit": OPTIONS_LIMIT,
                "now": timezone.now() + datetime.timedelta(minutes=GRACE_MINUTES),
                "exclude_booking": booking,
            }
            try:
                # The same staff member first (continuity), then colleagues ranked on their own
                # merits (without continuity they would never outrank the usual staff member).
                options = find_options(
                    **query, contact=booking.contact, preferred_staff=booking.staff
                )
                alternatives = find_options(**query)
            except ValidationError as exc:
                for field, messages in _error_dict(exc).items():
                    target = SEARCH_FIELDS.get(field)
                    for message in messages:
                        form.add_error(target if target in form.fields else None, message)

        def token_for(option):
            return option_token(type_id=type_.pk, staff_id=option.staff_id, start=option.start)

        same = _group_by_day(
            [o for o in options if o.staff_id == booking.staff_id and o.start != booking.start],
            organisation,
            token_for=token_for,
        )
        others = _group_by_day(
            [o for o in alternatives if o.staff_id != booking.staff_id][:OTHER_STAFF_OPTIONS],
            organisation,
            token_for=token_for,
        )
    context.update({"form": form, "same_days": same, "other_days": others})
    return _respond(request, "bookings/reschedule.html", context, status=status)


# --- my bookings -----------------------------------------------------------------------------


@login_required
@require_GET
def mine(request):
    if not request.user.has_perm("bookings.view_own"):
        raise Http404
    from slotwise.payments.booking import payment_states

    from .selectors import bookings_of_contact

    contacts = list(Contact.objects.filter(user=request.user).select_related("organisation"))
    now = timezone.now()
    upcoming, past = [], []
    for contact in contacts:
        bookings = list(bookings_of_contact(contact))
        states = payment_states(bookings, now=now)
        for booking in bookings:
            row = {
                "booking": booking,
                "payment": states[booking.pk],
                "facts": _booking_facts(booking),
                "manage_url": signing.manage_path(booking)
                if booking.is_active and booking.end > now
                else "",
            }
            (upcoming if booking.end > now and booking.is_active else past).append(row)
    upcoming.sort(key=lambda r: r["booking"].start)
    return render(request, "bookings/mine.html", {"upcoming": upcoming, "past": past})


# --- the booking for staff ---------------------------------------------------------------------


def _staff_booking_or_404(request, public_id) -> Booking:
    """A booking the staff member may see (`selectors.bookings_for`); 404 for anything else."""
    from .selectors import booking_by_public_id

    if staff_of(request.user) is None:
        raise Http404
    booking = booking_by_public_id(request.user, public_id)
    if booking is None:
        raise Http404
    return booking


@login_required
@require_GET
def staff_detail(request, public_id):
    """One booking for staff: what, when, who, and the way to talk with the customer."""
    booking = _staff_booking_or_404(request, public_id)
    contact_url = ""
    if request.user.has_perm("customers.view_contact_card", booking.contact):
        contact_url = reverse("customers:contact", args=[booking.contact.public_id])
    with timezone.override(org_zone(booking.organisation)):
        return render(
            request,
            "bookings/staff_detail.html",
            {
                "booking": booking,
                "organisation": booking.organisation,
                "facts": _booking_facts(booking),
                "contact_url": contact_url,
            },
        )


@login_required
@require_POST
def message_customer(request, public_id):
    """ "Message the customer" (S0.5): open the conversation with the booking's customer (their
    preferred channel if the organisation has it, else the in-app chat), assigned to the
    booking's staff member, and go to it in the inbox."""
    from slotwise.messaging.chat import conversation_open_for_booking, inbox_url

    booking = _staff_booking_or_404(request, public_id)
    conversation = conversation_open_for_booking(booking=booking, actor=request.user)
    return redirect(inbox_url(conversation))
