"""The dispatch pages (S2.3): the board of one unit and day, the technicians who fit one order,
and assigning it with one click. Thin: `dispatch.py` reads, `services.work_order_assign` writes.

Access: managers (`workorders.dispatch`) of the unit shown (the unit and the units below theirs,
404 otherwise); an order they may not manage (`workorders.manage_order`) is a 404; a technician
outside their units is a 404 too.
"""

from __future__ import annotations

import datetime
import uuid
from html import escape
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from django.views.decorators.http import require_GET, require_POST

from slotwise.core.errors import Conflict, ValidationError
from slotwise.org.models import Staff
from slotwise.org.roles import Role
from slotwise.org.selectors import staff_for, staff_of, units_for
from slotwise.scheduling.availability import gc_paused

from . import dispatch, selectors, services
from .models import WorkOrder

ASSIGNABLE = dispatch.ASSIGNABLE


def _url_or_empty(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def _manager(request) -> Staff:
    if not request.user.has_perm("workorders.dispatch"):
        raise PermissionDenied
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def _day(value: str, tz: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value or "")
    except ValueError:
        return timezone.now().astimezone(ZoneInfo(tz)).date()


@login_required
@require_GET
def board(request):
    staff = _manager(request)
    if request.GET.get("order"):  # /work/dispatch/?order=<uuid>: that order's candidates
        try:
            public_id = uuid.UUID(request.GET["order"])
        except ValueError:
            raise Http404 from None
        return redirect("workorders:dispatch_order", public_id=public_id)
    organisation = staff.organisation
    units = list(units_for(request.user).filter(organisation=organisation).order_by("path"))
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
    day = _day(request.GET.get("day", ""), organisation.time_zone)
    texts = {
        "free": escape(pgettext("agenda gap", "Free")),
        "reassign": escape(_("Reassign")),
        "nothing": escape(_("Nothing planned.")),
    }
    with gc_paused():  # thousands of small objects, freed by reference counting
        data = dispatch.dispatch_board(organisation=organisation, unit=unit, day=day)
        rows = mark_safe("".join(_row_html(row, texts) for row in data.rows))  # noqa: S308
    return render(
        request,
        "workorders/dispatch/board.html",
        {
            "board": data,
            "rows": rows,
            "units": units,
            "unit": unit,
            "day": day,
            "prev_day": day - datetime.timedelta(days=1),
            "next_day": day + datetime.timedelta(days=1),
            "today": timezone.now().astimezone(ZoneInfo(organisation.time_zone)).date(),
            "organisation": organisation,
            "list_url": _url_or_empty("workorders:list"),
        },
    )


# The technicians' rows are rendered here rather than in the template: a board holds hundreds of
# orders and gaps, and the template engine's per-variable cost made it the page's slowest part
# (bench dispatch_board: 100 technicians, 600 orders). Every value is escaped.


def _row_html(row, texts: dict) -> str:
    """One technician: name, unit, number of orders, the time axis and the list."""
    count = ngettext("%(count)s order", "%(count)s orders", row.orders) % {"count": row.orders}
    return (
        f'<section class="board-row" data-testid="board-row" data-staff="{row.staff.pk}">'
        f"<h2>{escape(row.staff.name)} <small>{escape(row.staff.unit_name)} · {escape(count)}"
        f'</small></h2><div class="lane" aria-hidden="true">{_lane_html(row)}</div>'
        f'<ul class="board-list">{_list_html(row, texts)}</ul></section>'
    )


def _lane_html(row) -> str:
    """The row's time axis: orders (status colour) and free time, placed in percent."""
    parts = []
    for i in row.items:
        if i.kind == "order":
            o = i.order
            parts.append(
                f'<a class="st st-{o.status}" href="{o.url}" '
                f'style="left:{i.left}%;width:{i.width}%" '
                f'title="{i.label} #{o.number} {escape(o.title)}">{i.label}</a>'
            )
        else:
            parts.append(
                f'<span class="gap" style="left:{i.left}%;width:{i.width}%" '
                f'title="{i.label}"></span>'
            )
    return mark_safe("".join(parts))  # noqa: S308 - built from escaped values above


def _list_html(row, texts: dict) -> str:
    """The row's orders and free time as a list with times (what a phone shows)."""
    parts = []
    for i in row.items:
        if i.kind == "order":
            o = i.order
            place = f" · {escape(o.place)}" if o.place else ""
            reassign = (
                f' <a href="{o.candidates_url}" hx-get="{o.candidates_url}" '
                f'hx-target="#dispatch-panel" hx-swap="innerHTML show:top">'
                f"{texts['reassign']}</a>"
                if o.status in ("assigned", "accepted")
                else ""
            )
            parts.append(
                f'<li class="st st-{o.status}" data-testid="board-order" '
                f'data-order="{o.public_id}"><span class="t">{i.label}</span><span>'
                f'<a href="{o.url}">#{o.number} {escape(o.title)}</a> · {escape(o.customer)}'
                f'{place} <span class="tag">{escape(o.status_label)}</span>{reassign}</span></li>'
            )
        else:
            parts.append(
                f'<li class="gap" data-testid="board-gap"><span class="t">{i.label}</span>'
                f'<span class="muted">{texts["free"]}</span></li>'
            )
    if not parts:
        parts.append(f'<li class="muted">{texts["nothing"]}</li>')
    return mark_safe("".join(parts))  # noqa: S308 - built from escaped values above


def _order(request, public_id) -> WorkOrder:
    order = selectors.order_for(request.user, public_id)
    if order is None or not request.user.has_perm("workorders.manage_order", order):
        raise Http404
    return order


def _scope(staff: Staff):
    """The unit whose technicians a manager may dispatch (None: the whole organisation)."""
    return None if staff.has_role(Role.ORG_ADMIN) else staff.unit


def _candidates_response(request, staff, order, *, status=200, **extra):
    result = dispatch.order_candidates(order=order, unit=_scope(staff))
    tz = order.organisation.time_zone
    day = (order.scheduled_start or result.window_start or timezone.now()).astimezone(ZoneInfo(tz))
    context = {
        "c": result,
        "order": order,
        "tz": tz,
        "board_url": f"{reverse('workorders:dispatch')}?day={day.date().isoformat()}"
        f"&unit={order.unit_id}",
        "order_url": reverse("workorders:order", args=[order.public_id]),
        "statuses_assignable": order.status in ASSIGNABLE,
        **extra,
    }
    template = (
        "workorders/dispatch/_candidates.html"
        if _is_htmx(request)
        else "workorders/dispatch/candidates.html"
    )
    return render(request, template, context, status=status)


@login_required
@require_GET
def order_candidates(request, public_id):
    staff = _manager(request)
    order = _order(request, public_id)
    return _candidates_response(request, staff, order)


def _parse_start(raw: str, tz: str) -> datetime.datetime:
    try:
        value = datetime.datetime.fromisoformat((raw or "").strip())
    except ValueError:
        raise ValidationError({"start": _("Enter a valid date and time.")}) from None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value


@login_required
@require_POST
def assign(request, public_id):
    """Assign or reassign the order to a technician at a start (one click on a candidate).

    A lost race (the time was taken, or the order changed since the page was shown) answers 409
    with fresh candidates; bad input 400 with the message; never a 500."""
    staff = _manager(request)
    order = _order(request, public_id)
    try:
        technician_id = int(request.POST.get("staff", ""))
    except ValueError:
        raise Http404 from None
    technician = (
        staff_for(request.user).filter(pk=technician_id, organisation=staff.organisation_id).first()
    )
    if technician is None:
        raise Http404
    version = request.POST.get("version", "")
    if version.isdigit() and int(version) != order.version:
        message = _("The order was changed in the meantime: it now reads “%(status)s”.") % {
            "status": order.get_status_display()
        }
        return _candidates_response(request, staff, order, status=409, conflict=message)
    try:
        start = _parse_start(request.POST.get("start", ""), order.organisation.time_zone)
        order = services.work_order_assign(
            order=order, technician=technician, start=start, actor=request.user
        )
    except Conflict as exc:
        order.refresh_from_db()
        return _candidates_response(request, staff, order, status=409, conflict=str(exc.message))
    except ValidationError as exc:
        order.refresh_from_db()
        taken = any(
            getattr(e, "code", None) == "taken"
            for e in getattr(exc, "error_dict", {}).get("start", [])
        )
        return _candidates_response(
            request,
            staff,
            order,
            status=409 if taken else 400,
            **({"conflict": " ".join(exc.messages)} if taken else {"errors": exc.messages}),
        )
    order = selectors.order_for(request.user, order.public_id) or order
    local = order.scheduled_start.astimezone(ZoneInfo(order.organisation.time_zone))
    done = _("#%(number)s assigned to %(name)s on %(day)s at %(time)s.") % {
        "number": order.number,
        "name": dispatch.candidate_name(technician),
        "day": local.date().isoformat(),
        "time": f"{local.hour:02d}:{local.minute:02d}",
    }
    if _is_htmx(request):
        response = _candidates_response(request, staff, order, assigned=done)
        response["HX-Trigger"] = "workorder-assigned"
        return response
    messages.success(request, done)
    return redirect("workorders:dispatch_order", public_id=order.public_id)
