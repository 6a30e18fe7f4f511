"""Staff pages: the booker's screen (S4.1), the manager's day view, working hours (S2.4), and the
settings of appointment types and the scheduling policy. Thin: forms parse, services write,
selectors read; every view checks access on the object it touches (404 outside the user's scope).
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from slotwise.core.errors import Conflict
from slotwise.customers.selectors import contacts_for
from slotwise.org.models import Staff
from slotwise.org.selectors import staff_of, units_for

from . import services
from .dayview import day_context
from .forms import (
    AppointmentTypeForm,
    BookerSearchForm,
    BookForm,
    ExceptionForm,
    SchedulingPolicyForm,
    TimeOffForm,
    WeekHoursForm,
    add_service_errors,
)
from .models import AppointmentType, AvailabilityException, SchedulingPolicy, TimeOff

DEFAULT_WINDOW_DAYS = 14
# The booker sees alternatives: at most this many options per staff member and day.
OPTIONS_PER_STAFF_DAY = 2
OPTIONS_LIMIT = 10
# Errors of find_options / visit_spec / resolve_location → the booker form's fields.
SEARCH_ALIASES = {
    "window_start": "date_from",
    "window_end": "date_to",
    "types": "type",
    "start": "date_from",
}


def _staff_or_403(request, permission: str) -> Staff:
    if not request.user.has_perm(permission):
        raise PermissionDenied
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _fragment(request, fragment: str, context: dict, status: int = 200):
    """An htmx swap gets the fragment; a plain form post (no JavaScript) gets a whole page."""
    if _is_htmx(request):
        return render(request, fragment, context, status=status)
    return render(request, "scheduling/page.html", {**context, "fragment": fragment}, status=status)


def _tz(organisation) -> ZoneInfo:
    return ZoneInfo(organisation.time_zone)


# --- booker (S4.1) ------------------------------------------------------------------------------


def _window(organisation, date_from, date_to, now):
    """Local dates → an aware UTC window; from now when the first day is today."""
    tz = _tz(organisation)
    today = now.astimezone(tz).date()
    date_from = date_from or today
    date_to = date_to or date_from + datetime.timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    start = datetime.datetime.combine(date_from, datetime.time(), tzinfo=tz)
    if date_from == today:
        start = now
    end = datetime.datetime.combine(
        date_to + datetime.timedelta(days=1), datetime.time(), tzinfo=tz
    )
    return start, end


def _search(*, organisation, user, data: dict, now=None):
    """Run the option search for the booker. Returns (spec, location, contact, options);
    raises ValidationError with the booker form's field names."""
    from .selectors import find_options, resolve_location, visit_spec

    # Whole minutes, rounded up: an option never starts before the moment it is shown.
    now = now or timezone.now()
    if now.second or now.microsecond:
        now = now.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    types = [data["type"], *data.get("extras", [])]
    contact = data.get("contact_obj")
    try:
        spec = visit_spec(types)
        location = None
        if spec.needs_travel:
            if data.get("postcode") or data.get("address"):
                location = resolve_location(
                    organisation=organisation,
                    postcode=data.get("postcode", ""),
                    address=data.get("address", ""),
                )
            elif contact is not None and contact.location_id:
                location = contact.location
            else:
                raise ValidationError({"postcode": _("Enter the customer's postcode.")})
        window_start, window_end = _window(
            organisation, data.get("date_from"), data.get("date_to"), now
        )
        options = find_options(
            organisation=organisation,
            spec=spec,
            location=location,
            window_start=window_start,
            window_end=window_end,
            contact=contact,
            limit=OPTIONS_LIMIT,
            now=now,
            spread=OPTIONS_PER_STAFF_DAY,
        )
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise ValidationError(
                {SEARCH_ALIASES.get(k, k): v for k, v in exc.error_dict.items()}
            ) from exc
        raise
    return spec, location, contact, options


def _contact_by_public_id(user, public_id):
    if not public_id:
        return None
    return contacts_for(user).filter(public_id=public_id).select_related("location").first()


def _booker_context(request, staff, **extra) -> dict:
    return {"organisation": staff.organisation, "tz": staff.organisation.time_zone, **extra}


@login_required
@require_http_methods(["GET", "POST"])
def booker(request):
    """The booker's screen: search (POST "find") swaps in the ranked options."""
    staff = _staff_or_403(request, "scheduling.use_booker")
    organisation = staff.organisation
    form = BookerSearchForm(request.POST or None, organisation=organisation)
    if request.method == "GET":
        today = timezone.now().astimezone(_tz(organisation)).date()
        form.initial = {
            "date_from": today,
            "date_to": today + datetime.timedelta(days=DEFAULT_WINDOW_DAYS - 1),
        }
    context = _booker_context(request, staff, form=form, searched=False)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["contact_obj"] = _contact_by_public_id(request.user, data.get("contact"))
        context["contact"] = data["contact_obj"]
        try:
            _spec, _location, _contact, options = _search(
                organisation=organisation, user=request.user, data=data
            )
        except ValidationError as exc:
            add_service_errors(form, exc, SEARCH_ALIASES)
        else:
            context.update(searched=True, options=options, search=_search_state(form))
    elif request.method == "POST":
        context["contact"] = _contact_by_public_id(request.user, form.data.get("contact"))
    template = "scheduling/_booker.html" if _is_htmx(request) else "scheduling/booker.html"
    return render(request, template, context)


def _search_state(form) -> dict:
    """What an option carries forward to the confirm and book steps."""
    d = form.cleaned_data
    return {
        "type": d["type"].pk,
        "extras": ",".join(str(t.pk) for t in d.get("extras") or []),
        "postcode": d.get("postcode", ""),
        "address": d.get("address", ""),
        "date_from": d["date_from"].isoformat() if d.get("date_from") else "",
        "date_to": d["date_to"].isoformat() if d.get("date_to") else "",
        "contact": str(d["contact"]) if d.get("contact") else "",
    }


@login_required
@require_http_methods(["GET"])
def booker_contacts(request):
    """htmx: the user's visible contacts matching a name or phone (at most 10)."""
    _staff_or_403(request, "scheduling.use_booker")
    q = (request.GET.get("q") or "").strip()
    results = []
    if len(q) >= 2:
        cond = Q()
        for word in q.split():
            cond &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
        digits = "".join(ch for ch in q if ch.isdigit())
        if len(digits) >= 3:
            cond |= Q(phone__contains=digits.lstrip("0") or digits)
        results = list(contacts_for(request.user).filter(cond).order_by("last_name")[:10])
    return render(
        request,
        "scheduling/_contact_results.html",
        {"results": results, "q": q, "field": request.GET.get("field", "contact")},
    )


def _book_context(request, staff, form, *, contact=None, **extra) -> dict:
    organisation = staff.organisation
    d = form.cleaned_data if form.is_bound and hasattr(form, "cleaned_data") else {}
    type_ = AppointmentType.objects.filter(organisation=organisation, pk=d.get("type")).first()
    extras = list(
        AppointmentType.objects.filter(organisation=organisation, pk__in=form.extra_ids())
        if d
        else []
    )
    member = (
        Staff.objects.select_related("user")
        .filter(organisation=organisation, pk=d.get("staff"))
        .first()
    )
    from slotwise.payments.booking import type_payment_due

    return _booker_context(
        request,
        staff,
        book_form=form,
        type=type_,
        extras=extras,
        member=member,
        start=d.get("start"),
        contact=contact,
        prepayment=type_payment_due(type_, extras) if type_ else None,
        pay_choice=form.data.get("payment", "") if form.is_bound else "",
        **extra,
    )


# How the customer pays a prepaid type booked on the phone: a link by SMS or e-mail (the time is
# held meanwhile), or no prepayment at all (the booker waives it: booked confirmed).
PAY_CHOICES = ("link_sms", "link_email", "waive")


def _resolve_book(request, staff, form):
    """The objects behind a BookForm, each checked against the user's organisation."""
    organisation = staff.organisation
    d = form.cleaned_data
    type_ = get_object_or_404(AppointmentType, organisation=organisation, pk=d["type"], active=True)
    extras = list(
        AppointmentType.objects.filter(
            organisation=organisation, pk__in=form.extra_ids(), active=True
        )
    )
    member = get_object_or_404(Staff, organisation=organisation, pk=d["staff"])
    contact = _contact_by_public_id(request.user, d.get("contact"))
    if d.get("contact") and contact is None:
        raise Http404
    return type_, extras, member, contact


@login_required
@require_POST
def booker_confirm(request):
    """htmx: the confirm panel for one option (customer + "Book")."""
    staff = _staff_or_403(request, "scheduling.use_booker")
    form = BookForm(request.POST)
    if not form.is_valid():
        raise Http404
    _type, _extras, _member, contact = _resolve_book(request, staff, form)
    context = _book_context(request, staff, form, contact=contact)
    return _fragment(request, "scheduling/_booker_confirm.html", context)


@login_required
@require_POST
def booker_book(request):
    """Book the option; on a lost race show the message and fresh options."""
    staff = _staff_or_403(request, "scheduling.use_booker")
    organisation = staff.organisation
    form = BookForm(request.POST)
    if not form.is_valid():
        raise Http404
    type_, extras, member, contact = _resolve_book(request, staff, form)
    d = form.cleaned_data
    from django.db import transaction

    from slotwise.payments.booking import (
        payment_link_send,
        prepayment_hold_minutes,
        type_payment_due,
    )

    from .selectors import resolve_location

    pay_choice = request.POST.get("payment", "")
    prepaid = type_payment_due(type_, extras) is not None
    if prepaid and pay_choice not in PAY_CHOICES:
        form.add_error(None, _("Choose how the customer pays."))
        context = _book_context(request, staff, form, contact=contact)
        return _fragment(request, "scheduling/_booker_confirm.html", context)
    try:
        hold_minutes = None
        if prepaid and pay_choice != "waive":
            hold_minutes = prepayment_hold_minutes(type_, extras)
        location = None
        if type_.needs_travel:
            if d.get("postcode") or d.get("address"):
                location = resolve_location(
                    organisation=organisation, postcode=d["postcode"], address=d["address"]
                )
            elif contact is not None and contact.location_id:
                location = contact.location
        with transaction.atomic():
            booking = services.booker_book(
                organisation=organisation,
                type=type_,
                services=extras,
                staff=member,
                start=d["start"],
                actor=request.user,
                contact=contact,
                new_contact={
                    "first_name": d.get("first_name", ""),
                    "last_name": d.get("last_name", ""),
                    "phone": d.get("phone", ""),
                },
                location=location,
                hold_minutes=hold_minutes,
            )
            link_sent = ""
            if hold_minutes is not None:
                link_sent = payment_link_send(
                    booking=booking, channel=pay_choice.removeprefix("link_"), actor=request.user
                )
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and "start" in exc.error_dict:
            # The time stopped being bookable meanwhile (too soon now, hours changed…).
            return _fresh_options(request, staff, form, contact, " ".join(exc.messages))
        add_service_errors(form, exc, {"contact": "first_name"})
        context = _book_context(request, staff, form, contact=contact)
        return _fragment(request, "scheduling/_booker_confirm.html", context)
    except Conflict as exc:
        return _fresh_options(request, staff, form, contact, str(exc.message))
    booking.refresh_from_db()
    day = booking.start.astimezone(_tz(organisation)).date()
    day_url = None
    if (
        request.user.has_perm("scheduling.view_day")
        and units_for(request.user).filter(pk=booking.unit_id).exists()
    ):
        day_url = f"{reverse('scheduling:day_view')}?date={day.isoformat()}&unit={booking.unit_id}"
    context = _booker_context(request, staff, booking=booking, day_url=day_url, link_sent=link_sent)
    if link_sent:
        from slotwise.payments.booking import booking_payment_due, pay_url

        context.update(pay_url=pay_url(booking), due=booking_payment_due(booking))
    return _fragment(request, "scheduling/_booker_done.html", context)


def _fresh_options(request, staff, form, contact, message):
    organisation = staff.organisation
    d = form.cleaned_data
    search = BookerSearchForm(
        {
            "type": d["type"],
            "extras": form.extra_ids(),
            "postcode": d.get("postcode", ""),
            "address": d.get("address", ""),
            "contact": d.get("contact") or "",
            "date_from": d.get("date_from") or "",
            "date_to": d.get("date_to") or "",
        },
        organisation=organisation,
    )
    context = _booker_context(request, staff, conflict=message, options=[], searched=True)
    if search.is_valid():
        data = dict(search.cleaned_data)
        data["contact_obj"] = contact
        try:
            _s, _l, _c, options = _search(organisation=organisation, user=request.user, data=data)
        except ValidationError:
            options = []
        context.update(options=options, search=_search_state(search))
    # htmx swaps only 2xx answers: the lost race is a normal answer with a message here (the
    # API answers 409).
    return _fragment(request, "scheduling/_booker_results.html", context)


# --- day view (S0.9) ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def day_view(request):
    staff = _staff_or_403(request, "scheduling.view_day")
    from .selectors import agenda_gaps

    units = list(units_for(request.user).filter(organisation=staff.organisation))
    unit_id = request.GET.get("unit")
    if unit_id:
        try:
            unit = next(u for u in units if u.pk == int(unit_id))
        except (StopIteration, ValueError):
            raise Http404 from None
    else:
        unit = next((u for u in units if u.pk == staff.unit_id), units[0] if units else None)
        if unit is None:
            raise Http404
    tz = _tz(staff.organisation)
    try:
        day = datetime.date.fromisoformat(request.GET.get("date") or "")
    except ValueError:
        day = timezone.now().astimezone(tz).date()
    context = day_context(organisation=staff.organisation, unit=unit, day=day, gaps=agenda_gaps)
    context.update(units=units, unit=unit, day=day, organisation=staff.organisation)
    context["prev_day"] = day - datetime.timedelta(days=1)
    context["next_day"] = day + datetime.timedelta(days=1)
    context["may_edit_hours"] = request.user.has_perm("scheduling.edit_staff_hours", unit)
    return render(request, "scheduling/day_view.html", context)


# --- working hours (S2.4) -----------------------------------------------------------------------


def _editable_staff(request, staff_id: int | None) -> Staff:
    me = staff_of(request.user)
    if me is None:
        raise PermissionDenied
    if staff_id is None or staff_id == me.pk:
        if not request.user.has_perm("scheduling.edit_own_hours"):
            raise PermissionDenied
        return me
    member = (
        Staff.objects.select_related("user", "unit", "organisation")
        .filter(pk=staff_id, organisation=me.organisation_id)
        .first()
    )
    if member is None or not request.user.has_perm("scheduling.edit_staff_hours", member):
        raise Http404
    return member


def _hours_url(member: Staff, me: Staff) -> str:
    if member.pk == me.pk:
        return reverse("scheduling:my_hours")
    return reverse("scheduling:staff_hours", args=[member.pk])


@login_required
@require_http_methods(["GET", "POST"])
def hours(request, staff_id: int | None = None):
    member = _editable_staff(request, staff_id)
    me = staff_of(request.user)
    tz = _tz(member.organisation)
    action = request.POST.get("action") if request.method == "POST" else None
    current = list(member.working_hours.all())
    week_form = WeekHoursForm(
        request.POST if action == "week" else None, initial_hours=current, prefix="week"
    )
    exc_form = ExceptionForm(request.POST if action == "exception" else None)
    off_form = TimeOffForm(request.POST if action == "time_off" else None)
    saved = None
    if action == "week" and week_form.is_valid():
        try:
            services.working_hours_set(
                staff=member,
                weekday_ranges=week_form.cleaned_data["weekday_ranges"],
                actor=request.user,
            )
        except ValidationError as exc:
            add_service_errors(week_form, exc)
        else:
            saved = _("Working hours saved.")
    elif action == "exception" and exc_form.is_valid():
        try:
            services.availability_exception_add(
                staff=member, actor=request.user, **exc_form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(exc_form, exc)
        else:
            saved = _("Date added.")
    elif action == "time_off" and off_form.is_valid():
        start, end = off_form.local_range()
        try:
            services.time_off_add(
                staff=member,
                start=start,
                end=end,
                reason=off_form.cleaned_data.get("reason", ""),
                actor=request.user,
            )
        except ValidationError as exc:
            add_service_errors(off_form, exc, {"start": "start_date", "end": "end_date"})
        else:
            saved = _("Time off added.")
    elif action not in (None, "week", "exception", "time_off"):
        raise Http404
    if saved:
        messages.success(request, saved)
        return redirect(_hours_url(member, me))
    today = timezone.now().astimezone(tz).date()
    exceptions = AvailabilityException.objects.filter(staff=member, date__gte=today)
    now = timezone.now()
    time_off = TimeOff.objects.filter(staff=member, end__gt=now)
    status = 200 if request.method == "GET" else 400
    return render(
        request,
        "scheduling/hours.html",
        {
            "member": member,
            "own": member.pk == me.pk,
            "week_form": week_form,
            "exc_form": exc_form,
            "off_form": off_form,
            "exceptions": exceptions,
            "time_off": time_off,
            "tz": member.organisation.time_zone,
            "base_url": _hours_url(member, me),
        },
        status=status,
    )


@login_required
@require_POST
def exception_delete(request, staff_id: int, pk: int):
    member = _editable_staff(request, staff_id)
    exc = get_object_or_404(AvailabilityException, staff=member, pk=pk)
    services.availability_exception_delete(exception=exc, actor=request.user)
    messages.success(request, _("Date removed."))
    return redirect(_hours_url(member, staff_of(request.user)))


@login_required
@require_POST
def time_off_delete(request, staff_id: int, pk: int):
    member = _editable_staff(request, staff_id)
    off = get_object_or_404(TimeOff, staff=member, pk=pk)
    services.time_off_delete(time_off=off, actor=request.user)
    messages.success(request, _("Time off removed."))
    return redirect(_hours_url(member, staff_of(request.user)))


# --- settings: appointment types and the policy -------------------------------------------------


@login_required
@require_http_methods(["GET"])
def types_list(request):
    staff = _staff_or_403(request, "scheduling.manage_types")
    types = (
        AppointmentType.objects.filter(organisation=staff.organisation)
        .prefetch_related("skill_requirements__skill")
        .order_by("-active", "name")
    )
    return render(
        request, "scheduling/types.html", {"types": types, "organisation": staff.organisation}
    )


@login_required
@require_http_methods(["GET", "POST"])
def type_edit(request, pk: int | None = None):
    staff = _staff_or_403(request, "scheduling.manage_types")
    organisation = staff.organisation
    instance = None
    if pk is not None:
        instance = get_object_or_404(AppointmentType, organisation=organisation, pk=pk)
        if not request.user.has_perm("scheduling.manage_types", instance):
            raise Http404
    form = AppointmentTypeForm(request.POST or None, instance=instance, organisation=organisation)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.appointment_type_save(
                organisation=organisation,
                instance=instance,
                actor=request.user,
                **form.service_kwargs(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc, {"skills": None})
        else:
            messages.success(
                request, _("Appointment type “%(name)s” saved.") % {"name": saved.name}
            )
            return redirect("scheduling:types")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "scheduling/type_form.html",
        {"form": form, "instance": instance, "organisation": organisation},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def policy(request):
    staff = _staff_or_403(request, "scheduling.manage_types")
    organisation = staff.organisation
    instance = SchedulingPolicy.objects.filter(
        organisation=organisation
    ).first() or SchedulingPolicy(organisation=organisation)
    form = SchedulingPolicyForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        try:
            services.scheduling_policy_save(
                organisation=organisation, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Scheduling policy saved."))
            return redirect("scheduling:policy")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "scheduling/policy.html",
        {"form": form, "organisation": organisation},
        status=status,
    )
