"""The technician's app (S2.4–S2.8, S2.15): Today, Tomorrow and the Month as lists and a
calendar, the order card with its actions (accept, decline, get started, pause, resume), the
comment thread, extras for the manager's approval, photos, the completion form and the profile.

Phone-first server-rendered pages. Thin: the services in `services.py` / `photos.py` decide and
write, `selectors.py` reads; every order is looked up through `selectors.order_for` and the
`workorders.work_on_order` permission, so another technician's order is a 404.

The action forms carry `data-offline="action"`, `data-order` and `data-version`: the offline
script (`_offline.html`, `offline.js`) queues them when the phone has no network.
"""

from __future__ import annotations

import calendar
import datetime
from decimal import Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slotwise.core.errors import Conflict, ValidationError
from slotwise.org.selectors import staff_of

from . import photos as photo_services
from . import selectors, services, transitions
from .models import (
    ON_SITE_STATUSES,
    CatalogueItem,
    ExtrasRequest,
    LineKind,
    LineState,
    Status,
    WorkOrder,
    WorkOrderComment,
)
from .questionnaire import questions_for

#: the empty rows of the extras form (JavaScript adds more; without it, two at a time)
EXTRA_ROWS = 2
#: the most rows the extras form takes in one submission
MAX_EXTRA_ROWS = 30
#: the statuses a technician reads as "done" in the lists (S2.5)
DONE_STATUSES = (Status.COMPLETED, Status.CLOSED)
#: the technician's own actions handled by `act` (extras and completion have their own forms)
CARD_ACTIONS = ("accept", "decline", "start", "pause", "resume")
#: the statuses' labels (lazy: translated when shown)
STATUS_LABELS = dict(Status.choices)


# -- access -------------------------------------------------------------------------------------


def _technician(request):
    """The staff member using the technician app, or 403."""
    if not request.user.has_perm("workorders.use_tech_app"):
        raise PermissionDenied
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


def _order(request, public_id) -> WorkOrder:
    """The order if it is assigned to the user; 404 for anything else (no existence leak)."""
    order = selectors.order_for(request.user, public_id)
    if order is None or not request.user.has_perm("workorders.work_on_order", order):
        raise Http404
    return order


def _tz(organisation) -> ZoneInfo:
    return ZoneInfo(organisation.time_zone)


def _safe_url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


# -- lists: today, tomorrow, month (S2.5) --------------------------------------------------------


def _local_midnight(day: datetime.date, tz: ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


#: "/work/tech/o/<uuid>/" with a placeholder: the lists build each row's link without a reverse()
_CARD_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _card_url_pattern() -> str:
    return reverse("workorders:tech_order", args=[_CARD_PLACEHOLDER])


def _row(order: WorkOrder, tz: ZoneInfo, card_pattern: str | None = None) -> dict:
    """One row of a list, with its texts made here: a day of 30 orders renders in a few ms."""
    location = order.location
    area = ""
    if location is not None:
        area = location.city or location.postcode
    start = order.scheduled_start.astimezone(tz) if order.scheduled_start else None
    end = order.scheduled_end.astimezone(tz) if order.scheduled_end else None
    when = "—"
    if start is not None:
        when = f"{start:%H:%M}–{end:%H:%M}" if end is not None else f"{start:%H:%M}"
    return {
        "order": order,
        "id": str(order.public_id),
        "url": (card_pattern or _card_url_pattern()).replace(
            _CARD_PLACEHOLDER, str(order.public_id)
        ),
        "number": order.number,
        "title": order.title,
        "price": f"{order.total} {order.currency}",
        "status": order.status,
        "status_label": STATUS_LABELS.get(order.status, order.status),
        "start": start,
        "end": end,
        "when": when,
        "area": area,
        "done": order.status in DONE_STATUSES,
        "status_class": order.status.replace("_", "-"),
    }


def _rows(orders, tz: ZoneInfo) -> list[dict]:
    pattern = _card_url_pattern()
    labels = {value: str(label) for value, label in Status.choices}
    rows = [_row(order, tz, pattern) for order in orders]
    for r in rows:
        r["status_label"] = labels.get(r["status"], r["status"])
    return rows


def _day_rows(staff, day: datetime.date, tz: ZoneInfo) -> list[dict]:
    start = _local_midnight(day, tz)
    end = _local_midnight(day + datetime.timedelta(days=1), tz)
    return _rows(selectors.technician_orders(staff, start=start, end=end), tz)


def _day_page(request, *, offset: int, tab: str, title: str):
    staff = _technician(request)
    tz = _tz(staff.organisation)
    day = timezone.now().astimezone(tz).date() + datetime.timedelta(days=offset)
    rows = _day_rows(staff, day, tz)
    return render(
        request,
        "workorders/tech/day.html",
        {
            "tab": tab,
            "heading": title,
            "day": day,
            "rows": rows,
            "total": sum((r["order"].total for r in rows), Decimal("0")),
            "currency": staff.organisation.currency,
            "tz_name": staff.organisation.time_zone,
        },
    )


@login_required
@require_GET
def today(request):
    return _day_page(request, offset=0, tab="today", title=_("Today"))


@login_required
@require_GET
def tomorrow(request):
    return _day_page(request, offset=1, tab="tomorrow", title=_("Tomorrow"))


def _parse_month(raw: str, fallback: datetime.date) -> datetime.date:
    try:
        year, month = (int(x) for x in (raw or "").split("-"))
        if not 1900 <= year <= 2200:
            raise ValueError(year)
        return datetime.date(year, month, 1)
    except (ValueError, TypeError):
        return fallback.replace(day=1)


def _parse_day(raw: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@login_required
@require_GET
def month(request):
    """The month as a calendar (orders per day; a day opens its list) and as a list."""
    staff = _technician(request)
    tz = _tz(staff.organisation)
    today_ = timezone.now().astimezone(tz).date()
    first = _parse_month(request.GET.get("month", ""), today_)
    last_day = calendar.monthrange(first.year, first.month)[1]
    after = first + datetime.timedelta(days=last_day)
    orders = selectors.technician_orders(
        staff, start=_local_midnight(first, tz), end=_local_midnight(after, tz)
    )
    by_day: dict[datetime.date, list[dict]] = {}
    for row in _rows(orders, tz):
        by_day.setdefault(row["start"].date(), []).append(row)
    picked = _parse_day(request.GET.get("day", ""))
    if picked is not None and not (first <= picked < after):
        picked = None
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        weeks.append(
            [
                {
                    "date": d,
                    "in_month": d.month == first.month,
                    "count": len(by_day.get(d, [])) if d.month == first.month else 0,
                    "today": d == today_,
                    "picked": d == picked,
                }
                for d in week
            ]
        )
    days = [
        {"date": d, "rows": rows}
        for d, rows in sorted(by_day.items())
        if picked is None or d == picked
    ]
    prev_month = (first - datetime.timedelta(days=1)).replace(day=1)
    return render(
        request,
        "workorders/tech/month.html",
        {
            "tab": "month",
            "first": first,
            "month_param": first.strftime("%Y-%m"),
            "prev_month": prev_month.strftime("%Y-%m"),
            "next_month": after.strftime("%Y-%m"),
            "weeks": weeks,
            "weekdays": [
                datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in range(7)
            ],  # a Monday and the days after, for the grid's header
            "days": days,
            "picked": picked,
            "count": sum(len(rows) for rows in by_day.values()),
            "tz_name": staff.organisation.time_zone,
        },
    )


# -- the order card (S2.6) -----------------------------------------------------------------------


def _map_url(order: WorkOrder) -> str | None:
    location = order.location
    if location is None:
        return None
    if location.lat is not None and location.lng is not None:
        return f"https://maps.google.com/?q={location.lat},{location.lng}"
    text = ", ".join(x for x in (location.address, location.postcode, location.city) if x)
    return f"https://maps.google.com/?q={quote(text)}" if text else None


def _catalogue(order: WorkOrder) -> list[CatalogueItem]:
    return list(
        CatalogueItem.objects.filter(organisation_id=order.organisation_id, active=True).order_by(
            "kind", "name"
        )
    )


def _empty_rows(n: int = EXTRA_ROWS) -> list[dict]:
    return [{"item": "", "name": "", "kind": "service", "quantity": "1", "unit_price": ""}] * n


def _card_context(request, order: WorkOrder, **extra) -> dict:
    card = selectors.order_card(order)
    tz = _tz(card.organisation)
    lines = list(card.lines.all())
    agreed = [x for x in lines if x.state == LineState.AGREED]
    pending = [x for x in lines if x.state == LineState.PENDING]
    requests = list(card.extras_requests.all())
    pending_request = next((r for r in requests if r.state == ExtrasRequest.State.PENDING), None)
    last_decided = next((r for r in requests if r.state != ExtrasRequest.State.PENDING), None)
    actions = [
        t
        for t in transitions.allowed_actions(card.status, transitions.TECHNICIAN)
        if t.action in CARD_ACTIONS
    ]
    can_complete = any(
        t.action == "complete"
        for t in transitions.allowed_actions(card.status, transitions.TECHNICIAN)
    )
    on_site = card.status in (Status.IN_PROGRESS, Status.PAUSED)
    context = {
        "order": card,
        "row": _row(card, tz),
        "tz_name": card.organisation.time_zone,
        "map_url": _map_url(card),
        "agreed_lines": agreed,
        "pending_lines": pending,
        "pending_request": pending_request,
        "last_decided": last_decided,
        "comments": list(card.comments.all()),
        "photos": list(card.photos.all()),
        "actions": [
            {"action": t.action, "label": t.label, "needs_reason": t.action == "decline"}
            for t in actions
        ],
        "can_complete": can_complete,
        "can_add_extras": on_site,
        "can_add_photos": card.status in ON_SITE_STATUSES,
        "can_delete_photos": card.status in ON_SITE_STATUSES,
        "catalogue": _catalogue(card) if on_site else [],
        "extra_rows": _empty_rows(),
        "extras_errors": {},
        "line_kinds": [
            (LineKind.SERVICE, LineKind.SERVICE.label),
            (LineKind.GOODS, LineKind.GOODS.label),
        ],
        "act_errors": [],
        "comment_errors": [],
        "photo_errors": [],
        "events": list(card.events.all()),
    }
    context.update(extra)
    return context


def _card(request, order: WorkOrder, status: int = 200, **extra):
    return render(
        request, "workorders/tech/order.html", _card_context(request, order, **extra), status=status
    )


def _messages_of(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [m for msgs in exc.message_dict.values() for m in msgs]
    return list(exc.messages)


@login_required
@require_GET
def order_card(request, public_id):
    _technician(request)
    order = _order(request, public_id)
    return _card(request, order)


def _version(raw) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


DONE_MESSAGES = {
    "accept": gettext_lazy("You accepted the order."),
    "decline": gettext_lazy("You declined the order: the office has been told."),
    "start": gettext_lazy("Work started."),
    "pause": gettext_lazy("Work paused."),
    "resume": gettext_lazy("Work resumed."),
}


@login_required
@require_POST
def act(request, public_id):
    """Accept, decline (with a reason), get started, pause or resume. The version the page showed
    travels along: if the office changed the order meanwhile, the server's state stands and the
    technician is told (409)."""
    _technician(request)
    order = _order(request, public_id)
    action = request.POST.get("action", "")
    if action not in CARD_ACTIONS:
        return _card(request, order, status=400, act_errors=[_("Unknown action.")])
    try:
        services.work_order_act(
            order=order,
            action=action,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            expected_version=_version(request.POST.get("version")),
        )
    except Conflict as exc:
        return _card(request, order, status=409, act_errors=[exc.message], act_conflict=True)
    except ValidationError as exc:
        return _card(
            request,
            order,
            status=400,
            act_errors=_messages_of(exc),
            decline_open=action == "decline",
        )
    messages.success(request, str(DONE_MESSAGES[action]))
    if action == "decline":
        return redirect("workorders:tech_today")
    return redirect("workorders:tech_order", public_id=order.public_id)


@login_required
@require_POST
def comment(request, public_id):
    _technician(request)
    order = _order(request, public_id)
    body = request.POST.get("body", "")
    try:
        services.comment_add(
            order=order, author=request.user, side=WorkOrderComment.Side.TECHNICIAN, body=body
        )
    except ValidationError as exc:
        return _card(
            request, order, status=400, comment_errors=_messages_of(exc), comment_body=body
        )
    messages.success(request, _("Comment sent to the office."))
    return redirect(f"{reverse('workorders:tech_order', args=[order.public_id])}#comments")


# -- extras (S2.7) -------------------------------------------------------------------------------


def _extras_rows(post) -> list[dict]:
    """The submitted rows (item, name, kind, quantity, unit price), as typed."""
    items = post.getlist("item")[:MAX_EXTRA_ROWS]
    names = post.getlist("name")
    kinds = post.getlist("kind")
    quantities = post.getlist("quantity")
    prices = post.getlist("unit_price")

    def at(values, i, default=""):
        return values[i].strip() if i < len(values) and values[i] is not None else default

    return [
        {
            "item": at(items, i),
            "name": at(names, i),
            "kind": at(kinds, i, "service"),
            "quantity": at(quantities, i),
            "unit_price": at(prices, i),
        }
        for i in range(len(items))
    ]


@login_required
@require_POST
def extras(request, public_id):
    """Services and goods added on site; a changed total waits for the manager's approval."""
    _technician(request)
    order = _order(request, public_id)
    rows = _extras_rows(request.POST)
    catalogue = {str(i.pk): i for i in _catalogue(order)}
    errors: dict[str, list[str]] = {}
    lines: list[services.LineInput] = []
    row_of_line: list[int] = []
    for index, row in enumerate(rows):
        if not (row["item"] or row["name"]):
            if row["unit_price"]:
                errors.setdefault(f"{index}.name", []).append(
                    _("Choose an item of the catalogue or enter a name.")
                )
            continue
        item = None
        if row["item"]:
            item = catalogue.get(row["item"])
            if item is None:
                errors.setdefault(f"{index}.item", []).append(
                    _("Choose an item of the organisation's catalogue.")
                )
                continue
        kind = item.kind if item is not None else row["kind"]
        if kind not in (LineKind.SERVICE, LineKind.GOODS):
            kind = LineKind.SERVICE
        price = row["unit_price"] or (str(item.unit_price) if item is not None else "")
        lines.append(
            services.LineInput(
                kind=kind,
                name=row["name"] or (item.name if item is not None else ""),
                quantity=row["quantity"] or "",
                unit_price=price,
                tax_rate=item.tax_rate if item is not None else Decimal("0"),
                item=item,
            )
        )
        row_of_line.append(index)
    note = request.POST.get("note", "")
    form_errors: list[str] = []
    if not errors:
        try:
            services.extras_submit(
                order=order,
                lines=lines,
                note=note,
                actor=request.user,
                expected_version=_version(request.POST.get("version")),
            )
        except Conflict as exc:
            form_errors.append(exc.message)
        except ValidationError as exc:
            for key, msgs in exc.message_dict.items():
                parts = key.split(".")
                if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit():
                    row = row_of_line[int(parts[1])]
                    errors.setdefault(f"{row}.{parts[2]}", []).extend(msgs)
                else:
                    form_errors.extend(msgs)
        else:
            order.refresh_from_db()
            if order.status == Status.NEEDS_CONFIRMATION:
                messages.success(
                    request, _("Sent to the office: the new total waits for a manager's approval.")
                )
            else:
                messages.success(request, _("Added to the order."))
            return redirect(f"{reverse('workorders:tech_order', args=[order.public_id])}#extras")
    for i, row in enumerate(rows):
        row["errors"] = [m for key, msgs in errors.items() if key.startswith(f"{i}.") for m in msgs]
    shown = rows or _empty_rows()
    return _card(
        request,
        order,
        status=400,
        extra_rows=shown,
        extras_form_errors=form_errors,
        extras_note=note,
        extras_open=True,
    )


# -- photos (S2.8) -------------------------------------------------------------------------------


def _add_photos(order: WorkOrder, files, actor) -> tuple[int, list[str]]:
    added, problems = 0, []
    for upload in files:
        try:
            photo_services.photo_add(order=order, upload=upload, actor=actor)
        except ValidationError as exc:
            problems.extend(_messages_of(exc))
        else:
            added += 1
    return added, problems


@login_required
@require_POST
def photos(request, public_id):
    _technician(request)
    order = _order(request, public_id)
    files = request.FILES.getlist("photos")
    if not files:
        return _card(request, order, status=400, photo_errors=[_("Choose a photo to upload.")])
    added, problems = _add_photos(order, files, request.user)
    if problems:
        return _card(request, order, status=400, photo_errors=problems, photos_added=added)
    messages.success(request, _("Photos added: %(count)s.") % {"count": added})
    return redirect(f"{reverse('workorders:tech_order', args=[order.public_id])}#photos")


@login_required
@require_POST
def photo_remove(request, public_id, photo_id):
    _technician(request)
    order = _order(request, public_id)
    photo = order.photos.filter(public_id=photo_id).select_related("order").first()
    if photo is None:
        raise Http404
    try:
        photo_services.photo_delete(photo=photo)
    except ValidationError as exc:
        return _card(request, order, status=400, photo_errors=_messages_of(exc))
    messages.success(request, _("Photo removed."))
    return redirect(f"{reverse('workorders:tech_order', args=[order.public_id])}#photos")


# -- completion (S2.8) ---------------------------------------------------------------------------

COMPLETION_FIELDS = ("work_cost", "extras_cost", "travel_cost", "toll_miles", "tips")


def _plain(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def _completion_initial(order: WorkOrder) -> dict:
    totals = services.order_totals(order)
    return {
        "work_cost": _plain(totals.labour.amount),
        "extras_cost": _plain(totals.extras.amount),
        "travel_cost": _plain(totals.travel.amount) if totals.travel.amount else "",
        "toll_miles": "",
        "tips": "",
        "payment_method": "",
        "payment_amount": _plain(order.total),
        "link_sms_to": order.contact.phone,
        "link_email_to": order.contact.email,
    }


def _completion_page(request, order: WorkOrder, values: dict, errors: dict, status: int = 200):
    card = selectors.order_card(order)
    answers = values.get("answers", {})
    questions = [
        {
            "key": q.key,
            "text": q.text,
            "kind": q.kind,
            "required": q.required,
            "value": answers.get(q.key, ""),
            "errors": errors.get(f"answers.{q.key}", []),
        }
        for q in questions_for(card.organisation)
    ]
    field_errors = {k: v for k, v in errors.items() if "." not in k}
    known = {*COMPLETION_FIELDS, "payment_method", "payment_amount", "photos", "link_sms_to"}
    known |= {"link_email_to", "status"}
    other = [m for k, msgs in errors.items() if "." not in k and k not in known for m in msgs]
    methods = [
        {"value": value, "label": label, "staff": value in ("cash", "check")}
        for value, label in services.completion_methods()
    ]
    return render(
        request,
        "workorders/tech/complete.html",
        {
            "order": card,
            "values": values,
            "errors": field_errors,
            "other_errors": other,
            "questions": questions,
            "methods": methods,
            "photos": list(card.photos.all()),
            "can_complete": card.status in (Status.IN_PROGRESS, Status.PAUSED),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def complete(request, public_id):
    """The completion form: every field required (zero is an answer, empty is not), at least one
    photo (uploaded here too), the questionnaire and the payment, recorded with the technician as
    the one who received cash or a check. Then the order waits for the manager."""
    staff = _technician(request)
    order = _order(request, public_id)
    if request.method == "GET":
        return _completion_page(request, order, _completion_initial(order), {})
    post = request.POST
    values = {name: post.get(name, "") for name in COMPLETION_FIELDS}
    values.update(
        payment_method=post.get("payment_method", ""),
        payment_amount=post.get("payment_amount", ""),
        link_sms_to=post.get("link_sms_to", "").strip(),
        link_email_to=post.get("link_email_to", "").strip(),
        answers={q.key: post.get(f"answer_{q.key}", "") for q in questions_for(order.organisation)},
    )
    errors: dict[str, list[str]] = {}
    files = request.FILES.getlist("photos")
    if files:
        added, problems = _add_photos(order, files, request.user)
        if problems:
            errors["photos"] = problems
    if not errors:
        data = services.CompletionInput(
            work_cost=values["work_cost"],
            extras_cost=values["extras_cost"],
            travel_cost=values["travel_cost"],
            toll_miles=values["toll_miles"],
            tips=values["tips"],
            payment_method=values["payment_method"],
            payment_amount=values["payment_amount"],
            answers=values["answers"],
            link_sms_to=values["link_sms_to"] if values["payment_method"] == "link" else "",
            link_email_to=values["link_email_to"] if values["payment_method"] == "link" else "",
        )
        try:
            services.work_order_complete(
                order=order,
                data=data,
                actor=request.user,
                received_by=staff,
                expected_version=_version(post.get("version")),
            )
        except Conflict as exc:
            errors["status"] = [exc.message]
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                errors.update(exc.message_dict)
            else:
                errors["status"] = list(exc.messages)
        else:
            messages.success(
                request, _("Order completed: it now waits for the manager's confirmation.")
            )
            return redirect("workorders:tech_order", public_id=order.public_id)
    order.refresh_from_db()
    return _completion_page(request, order, values, errors, status=400)


# -- profile (S2.4) ------------------------------------------------------------------------------


@login_required
@require_GET
def profile(request):
    staff = _technician(request)
    user = request.user
    return render(
        request,
        "workorders/tech/profile.html",
        {
            "staff": staff,
            "profile_user": user,
            "hours_url": _safe_url("scheduling:my_hours"),
            "chat_url": _safe_url("chat:office"),
            "email_url": _safe_url("account_email"),
            "password_url": _safe_url("account_change_password"),
            "tz_name": staff.organisation.time_zone,
        },
    )
