"""The office's pages for work orders (S2.2 preparation, S2.7 approvals, S2.9 confirmation, the
comment thread): the orders list, the order page with its forms, the access-checked photo files
and the catalogue.

Thin: forms parse, the services in `services` / `catalogue` write (and refuse with field-level,
translated errors shown next to the fields; a refused move shows the state machine's message),
`selectors` read, `rules` guard every object — an order outside the user's units, or a photo of
one, is a 404; seeing an order without managing it (call centre) makes its forms a 403.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from slotwise.core.errors import Conflict, ValidationError
from slotwise.org.selectors import staff_of
from slotwise.scheduling.selectors import resolve_location

from . import catalogue as catalogue_services
from . import money, selectors, services, transitions
from .forms import (
    CatalogueItemForm,
    CommentForm,
    ExtrasDecisionForm,
    LineFormSet,
    OrderFilterForm,
    PrepareForm,
    ReasonForm,
    add_errors,
    filled_rows,
)
from .models import (
    ON_SITE_STATUSES,
    CatalogueItem,
    Event,
    ExtrasRequest,
    LineState,
    Status,
    WorkOrder,
    WorkOrderComment,
    WorkOrderPhoto,
)

PAGE_SIZE = 50
WAITING_STATUSES = (Status.NEEDS_CONFIRMATION, Status.COMPLETED)
#: form prefixes on the order page (several forms, one page)
PREFIXES = {
    "prepare": "prep",
    "lines": "lines",
    "extras": "extras",
    "confirm": "confirm",
    "return": "ret",
    "cancel": "cancel",
    "comment": "comment",
}


def _plain(value: Decimal) -> str:
    """A decimal as typed: 1.500 → "1.5", 100.00 → "100" (never "1E+2")."""
    return format(value.normalize(), "f")


def _office(request):
    staff = staff_of(request.user)
    if staff is None or not request.user.has_perm("workorders.view_orders"):
        raise PermissionDenied
    return staff


def _order(request, public_id, *, manage: bool = False) -> WorkOrder:
    """The order if the user may see it on the office pages (404 otherwise); with `manage`, a
    user who sees it without managing it gets 403."""
    user = request.user
    order = selectors.order_for(user, public_id)
    if (
        order is None
        or not user.has_perm("workorders.view_orders")
        or not user.has_perm("workorders.view_order", order)
    ):
        raise Http404
    if manage and not user.has_perm("workorders.manage_order", order):
        raise PermissionDenied
    return order


def _dispatch_url(order: WorkOrder) -> str:
    try:
        return reverse("workorders:dispatch_order", kwargs={"public_id": order.public_id})
    except NoReverseMatch:
        return f"/work/dispatch/?order={order.public_id}"


def _order_url(order: WorkOrder, anchor: str = "") -> str:
    url = reverse("workorders:order", kwargs={"public_id": order.public_id})
    return f"{url}#{anchor}" if anchor else url


# --- orders list ------------------------------------------------------------------------------


def _search(qs, term: str):
    term = term.strip()
    if not term:
        return qs
    q = (
        Q(title__icontains=term)
        | Q(contact__first_name__icontains=term)
        | Q(contact__last_name__icontains=term)
        | Q(contact__email__icontains=term)
        | Q(contact__phone__icontains=term)
        | Q(location__address__icontains=term)
        | Q(location__postcode__icontains=term)
    )
    number = term.lstrip("#")
    if number.isdigit() and len(number) < 10:
        q |= Q(number=int(number))
    parts = term.split()
    if len(parts) == 2:
        q |= Q(contact__first_name__icontains=parts[0], contact__last_name__icontains=parts[1])
    return qs.filter(q)


@login_required
@require_http_methods(["GET"])
def orders_list(request):
    """The orders the user may see, filtered, searched and paginated (a constant number of
    queries: the list's relations come in the page's one query)."""
    _office(request)
    form = OrderFilterForm(request.GET or None, user=request.user)
    qs = selectors.orders_for(request.user)
    if form.is_valid():
        f = form.cleaned_data
        if f["status"]:
            qs = qs.filter(status=f["status"])
        if f["unit"]:
            qs = qs.filter(unit__path__startswith=f["unit"].path)
        if f["technician"]:
            qs = qs.filter(technician=f["technician"])
        if f["source"]:
            qs = qs.filter(source=f["source"])
        if f["duplicates"]:
            qs = qs.filter(duplicate_of__isnull=False)
        if f["waiting"]:
            qs = qs.filter(status__in=WAITING_STATUSES)
        qs = _search(qs, f["q"] or "")
    page = Paginator(qs.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    waiting = selectors.orders_for(request.user).filter(status__in=WAITING_STATUSES).count()
    new_url = None
    if request.user.has_perm("workorders.create_order"):
        try:
            new_url = reverse("workorders:new")
        except NoReverseMatch:
            new_url = None
    return render(
        request,
        "workorders/office/list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "waiting": waiting,
            "new_url": new_url,
        },
    )


# --- the order page ---------------------------------------------------------------------------


def format_duration(delta: datetime.timedelta | None) -> str:
    if delta is None:
        return ""
    minutes = max(int(delta.total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(hours)s h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)s min") % {"minutes": minutes}


def durations(events, *, status: str, now: datetime.datetime) -> dict:
    """Actual times of the visit from the order's events (S2.12): when the work started and was
    completed, and how long it was in progress, paused and waiting for an approval. Each stretch
    between two events is counted under the status the first one moved to; the phone's time of
    an offline change (`client_at`) is used when known."""
    spent: dict[str, datetime.timedelta] = defaultdict(datetime.timedelta)
    started = completed = None
    items = list(events)
    for i, event in enumerate(items):
        at = event.client_at or event.at
        if event.kind == Event.STARTED and started is None:
            started = at
        if event.kind == Event.COMPLETED:
            completed = at
        if event.kind == Event.RETURNED:
            completed = None
        if i + 1 < len(items):
            nxt = items[i + 1]
            until = nxt.client_at or nxt.at
        elif status in ON_SITE_STATUSES:
            until = now
        else:
            continue
        if until > at:
            spent[event.to_status] += until - at
    working = spent[Status.IN_PROGRESS]
    paused = spent[Status.PAUSED]
    waiting = spent[Status.NEEDS_CONFIRMATION]
    return {
        "started": started,
        "completed": completed,
        "working": format_duration(working) if started else "",
        "paused": format_duration(paused) if started else "",
        "waiting": format_duration(waiting) if waiting else "",
        "on_site": format_duration(working + paused + waiting) if started else "",
    }


def _line_rows(lines, currency: str) -> list:
    for line in lines:
        value = money.LineValue(line.quantity, line.unit_price, line.tax_rate, line.kind)
        line.net = money.line_net(value, currency).amount
        line.tax = money.line_tax(value, currency).amount
        line.quantity_text = _plain(line.quantity)
        line.tax_rate_text = _plain(line.tax_rate)
    return lines


def _totals(lines, currency: str) -> money.Totals:
    return money.totals(
        [money.LineValue(x.quantity, x.unit_price, x.tax_rate, x.kind) for x in lines], currency
    )


def _items(order: WorkOrder, lines=()):
    """The catalogue a manager picks from: the active items, and any item already on a line."""
    used = [line.item_id for line in lines if line.item_id]
    return CatalogueItem.objects.filter(organisation_id=order.organisation_id).filter(
        Q(active=True) | Q(pk__in=used)
    )


def _lines_initial(lines) -> list[dict]:
    return [
        {
            "kind": line.kind,
            "item": line.item_id,
            "name": line.name,
            "quantity": _plain(line.quantity),
            "unit_price": line.unit_price,
            "tax_rate": _plain(line.tax_rate),
        }
        for line in lines
    ]


def _catalogue_json(items) -> dict:
    return {
        str(item.pk): {
            "kind": item.kind,
            "name": item.name,
            "unit_price": str(item.unit_price),
            "tax_rate": _plain(item.tax_rate),
        }
        for item in items
    }


def completion_checks(order: WorkOrder, completion, totals: money.Totals) -> list[str]:
    """What the manager should look at before confirming (S2.9): the technician's figures that
    differ from the agreed order."""
    if completion is None:
        return []
    currency = order.currency
    checks = []
    for value, agreed, text in (
        (
            completion.work_cost,
            totals.labour.amount,
            _(
                "The work cost (%(given)s %(currency)s) differs from the agreed labour "
                "(%(agreed)s %(currency)s)."
            ),
        ),
        (
            completion.extras_cost,
            totals.extras.amount,
            _(
                "The extras (%(given)s %(currency)s) differ from the agreed services and goods "
                "(%(agreed)s %(currency)s)."
            ),
        ),
        (
            completion.payment_amount,
            order.total,
            _(
                "The amount paid (%(given)s %(currency)s) differs from the agreed total "
                "(%(agreed)s %(currency)s)."
            ),
        ),
    ):
        if value != agreed:
            checks.append(text % {"given": value, "agreed": agreed, "currency": currency})
    return checks


def _context(request, order: WorkOrder, bound: dict | None = None) -> dict:
    """Everything the order page shows, in a constant number of queries; `bound` holds the
    submitted form (with its errors) that replaces the fresh one of the same name."""
    bound = bound or {}
    user = request.user
    order = selectors.order_card(order)
    zone = ZoneInfo(order.organisation.time_zone)
    can_manage = user.has_perm("workorders.manage_order", order)
    actions = (
        {t.action: t for t in transitions.allowed_actions(order.status, transitions.MANAGER)}
        if can_manage
        else {}
    )
    editable = can_manage and order.status in services.EDITABLE_STATUSES
    lines = _line_rows(list(order.lines.all()), order.currency)
    agreed = [x for x in lines if x.state == LineState.AGREED]
    requests = list(order.extras_requests.all())
    pending = next((r for r in requests if r.state == ExtrasRequest.State.PENDING), None)
    pending_lines = [x for x in lines if pending is not None and x.request_id == pending.pk]
    decided = [r for r in requests if r.state != ExtrasRequest.State.PENDING]
    try:
        completion = order.completion
    except WorkOrder.completion.RelatedObjectDoesNotExist:
        completion = None
    payment = None
    if completion is not None and completion.payment_id:
        from slotwise.payments.models import Payment

        payment = Payment.objects.select_related("received_by__user").get(pk=completion.payment_id)
    events = list(order.events.all())
    duplicate = order.duplicate_of
    duplicate_visible = duplicate is not None and (
        selectors.orders_for(user).filter(pk=duplicate.pk).exists()
    )
    items = list(_items(order, lines)) if editable else []
    totals = _totals(agreed, order.currency)
    context = {
        "order": order,
        "zone": zone,
        "can_manage": can_manage,
        "actions": actions,
        "editable": editable,
        "lines": lines,
        "agreed_lines": agreed,
        "rejected_lines": [x for x in lines if x.state == LineState.REJECTED],
        "totals": totals,
        "completion_checks": completion_checks(order, completion, totals),
        "pending": pending,
        "pending_lines": pending_lines,
        "pending_totals": _totals(pending_lines, order.currency) if pending else None,
        "decided_requests": decided,
        "completion": completion,
        "payment": payment,
        "payment_methods": dict(services.completion_methods()),
        "answers": list((completion.answers or {}).values()) if completion else [],
        "photos": list(order.photos.all()),
        "comments": list(order.comments.all()),
        "events": events,
        "durations": durations(events, status=order.status, now=timezone.now()),
        "duplicate_visible": duplicate_visible,
        "dispatch_url": _dispatch_url(order),
        "contact_url": (
            reverse("customers:contact", kwargs={"public_id": order.contact.public_id})
            if user.has_perm("customers.view_contact_card", order.contact)
            else None
        ),
        "catalogue": _catalogue_json(items),
        "prefixes": PREFIXES,
    }
    if editable:
        context["prepare_form"] = bound.get("prepare") or PrepareForm(
            organisation=order.organisation,
            initial=PrepareForm.initial_for(order),
            prefix=PREFIXES["prepare"],
        )
        context["lines_formset"] = bound.get("lines") or LineFormSet(
            initial=_lines_initial(agreed), prefix=PREFIXES["lines"], items=items
        )
    context["extras_form"] = bound.get("extras") or ExtrasDecisionForm(prefix=PREFIXES["extras"])
    context["confirm_form"] = bound.get("confirm") or forms.Form(prefix=PREFIXES["confirm"])
    context["return_form"] = bound.get("return") or ReasonForm(prefix=PREFIXES["return"])
    context["cancel_form"] = bound.get("cancel") or ReasonForm(prefix=PREFIXES["cancel"])
    context["comment_form"] = bound.get("comment") or CommentForm(prefix=PREFIXES["comment"])
    # A refused change: the service's message (the state machine's words) on top of the page.
    refusal = []
    for form in bound.values():
        errors = form.non_form_errors() if hasattr(form, "non_form_errors") else None
        refusal.extend(errors if errors is not None else form.non_field_errors())
    context["refusal"] = refusal
    return context


def _page(request, order: WorkOrder, *, bound: dict | None = None, status: int = 200):
    return render(
        request, "workorders/office/order.html", _context(request, order, bound), status=status
    )


@login_required
@require_http_methods(["GET"])
def order_page(request, public_id):
    user = request.user
    if not user.has_perm("workorders.view_orders"):
        # A technician's own order opens as their card in the app; anything else doesn't exist.
        order = selectors.order_for(user, public_id)
        if order is not None and user.has_perm("workorders.work_on_order", order):
            return redirect("workorders:tech_order", public_id=order.public_id)
        raise Http404
    return _page(request, _order(request, public_id))


def _refused(request, order, name: str, form, exc, *, aliases=None, rows=None):
    """Show the page again with the service's errors on the submitted form (400; 409 when the
    order changed meanwhile)."""
    if isinstance(exc, Conflict):
        form.add_error(None, exc.message)
        status = 409
    else:
        add_errors(form, exc, aliases=aliases, rows=rows)
        status = 400
    return _page(request, order, bound={name: form}, status=status)


@login_required
@require_POST
def order_prepare(request, public_id):
    """Title, description, work, address (geocoded from the postcode), visit window and the
    comment for the technician → `services.work_order_update`."""
    order = _order(request, public_id, manage=True)
    form = PrepareForm(request.POST, organisation=order.organisation, prefix=PREFIXES["prepare"])
    if not form.is_valid():
        return _page(request, order, bound={"prepare": form}, status=400)
    f = form.cleaned_data
    fields = {
        "title": f["title"],
        "description": f["description"],
        "type": f["type"],
        "window_start": f["window_start"],
        "window_end": f["window_end"],
        "manager_comment": f["manager_comment"],
    }
    aliases = {"location": "postcode", "window": "window_end"}
    try:
        location = _location(order, f)
        if location is not False:
            fields["location"] = location
        services.work_order_update(order=order, actor=request.user, **fields)
    except (ValidationError, Conflict) as exc:
        return _refused(request, order, "prepare", form, exc, aliases=aliases)
    messages.success(request, _("The order is saved."))
    return redirect(_order_url(order))


def _location(order: WorkOrder, data: dict):
    """The order's address as typed: False when unchanged, None when cleared, else a new
    (unsaved, geocoded) Location — a location shared with the customer's record is never
    changed in place."""
    address = (data["address"] or "").strip()
    postcode = (data["postcode"] or "").strip()
    city = (data["city"] or "").strip()
    current = order.location
    if current is not None and (address, postcode, city) == (
        current.address,
        current.postcode,
        current.city,
    ):
        return False
    if not (address or postcode or city):
        return None if current is not None else False
    if not postcode:
        raise ValidationError({"postcode": _("Enter the postcode of the address.")})
    location = resolve_location(
        organisation=order.organisation,
        postcode=postcode,
        address=address,
        country=current.country if current is not None else "",
    )
    location.city = city
    return location


@login_required
@require_POST
def order_lines(request, public_id):
    """Labour, services and goods (from the catalogue or free text), travel charge: the agreed
    lines and with them the total → `services.work_order_set_lines`."""
    order = _order(request, public_id, manage=True)
    items = list(_items(order, order.lines.all()))
    formset = LineFormSet(request.POST, prefix=PREFIXES["lines"], items=items)
    if not formset.is_valid():
        return _page(request, order, bound={"lines": formset}, status=400)
    rows = filled_rows(formset)
    lines = []
    for row in rows:
        c = row.cleaned_data
        item = c.get("item")
        price = (c.get("unit_price") or "").strip()
        tax = (c.get("tax_rate") or "").strip()
        lines.append(
            services.LineInput(
                kind=c["kind"],
                name=(c.get("name") or "").strip(),
                quantity=(c.get("quantity") or "").strip(),
                unit_price=price or (item.unit_price if item is not None else ""),
                tax_rate=tax or (item.tax_rate if item is not None else "0"),
                item=item,
            )
        )
    try:
        services.work_order_set_lines(order=order, lines=lines, actor=request.user)
    except ValidationError as exc:
        # Errors of a line next to its fields; the rest (the order's state) above the table.
        holder = forms.Form(data={})
        holder.is_valid()
        add_errors(holder, exc, rows=rows)
        formset.non_form_errors().extend(holder.non_field_errors())
        return _page(request, order, bound={"lines": formset}, status=400)
    messages.success(request, _("The lines and the total are saved."))
    return redirect(_order_url(order, "lines"))


@login_required
@require_POST
def order_extras(request, public_id):
    """Approve or reject (with a reason) the new total the technician submitted (S2.7)."""
    order = _order(request, public_id, manage=True)
    form = ExtrasDecisionForm(request.POST, prefix=PREFIXES["extras"])
    if not form.is_valid():
        return _page(request, order, bound={"extras": form}, status=400)
    approve = form.cleaned_data["decision"] == "approve"
    try:
        services.extras_decide(
            order=order, approve=approve, note=form.cleaned_data["note"], actor=request.user
        )
    except (ValidationError, Conflict) as exc:
        return _refused(request, order, "extras", form, exc)
    messages.success(
        request,
        _("The new total is approved.") if approve else _("The new total is rejected."),
    )
    return redirect(_order_url(order))


@login_required
@require_POST
def order_confirm(request, public_id):
    """The manager confirms the completion (S2.9): the order closes."""
    order = _order(request, public_id, manage=True)
    form = forms.Form(request.POST, prefix=PREFIXES["confirm"])
    try:
        services.work_order_confirm(order=order, actor=request.user)
    except (ValidationError, Conflict) as exc:
        form.is_valid()
        return _refused(request, order, "confirm", form, exc)
    messages.success(request, _("The order is confirmed and closed."))
    return redirect(_order_url(order))


@login_required
@require_POST
def order_return(request, public_id):
    """Send the completion back to the technician with what to fix."""
    order = _order(request, public_id, manage=True)
    form = ReasonForm(request.POST, prefix=PREFIXES["return"])
    if not form.is_valid():
        return _page(request, order, bound={"return": form}, status=400)
    try:
        services.work_order_return(
            order=order, reason=form.cleaned_data["reason"], actor=request.user
        )
    except (ValidationError, Conflict) as exc:
        return _refused(request, order, "return", form, exc)
    messages.success(request, _("The order is sent back to the technician."))
    return redirect(_order_url(order))


@login_required
@require_POST
def order_cancel(request, public_id):
    order = _order(request, public_id, manage=True)
    form = ReasonForm(request.POST, prefix=PREFIXES["cancel"])
    if not form.is_valid():
        return _page(request, order, bound={"cancel": form}, status=400)
    try:
        services.work_order_act(
            order=order, action="cancel", reason=form.cleaned_data["reason"], actor=request.user
        )
    except (ValidationError, Conflict) as exc:
        return _refused(request, order, "cancel", form, exc)
    messages.success(request, _("The order is cancelled."))
    return redirect(_order_url(order))


@login_required
@require_POST
def order_comment(request, public_id):
    """A comment in the manager–technician thread (the technician is notified)."""
    order = _order(request, public_id)
    form = CommentForm(request.POST, prefix=PREFIXES["comment"])
    if not form.is_valid():
        return _page(request, order, bound={"comment": form}, status=400)
    try:
        services.comment_add(
            order=order,
            author=request.user,
            side=WorkOrderComment.Side.MANAGER,
            body=form.cleaned_data["body"],
        )
    except ValidationError as exc:
        return _refused(request, order, "comment", form, exc)
    messages.success(request, _("Comment added."))
    return redirect(_order_url(order, "comments"))


# --- photos -----------------------------------------------------------------------------------


def _serve_photo(request, photo_id, *, thumbnail: bool):
    photo = (
        WorkOrderPhoto.objects.select_related("order__unit", "order__organisation")
        .filter(public_id=photo_id)
        .first()
    )
    if photo is None or not request.user.has_perm("workorders.view_order", photo.order):
        raise Http404
    stored = photo.thumbnail if thumbnail else photo.image
    if not stored:
        raise Http404
    try:
        handle = stored.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(handle, content_type=photo.content_type or "image/jpeg")
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_http_methods(["GET", "HEAD"])
def photo(request, photo_id):
    """A photo of an order, for whoever may see the order (its office, its technician)."""
    return _serve_photo(request, photo_id, thumbnail=False)


@login_required
@require_http_methods(["GET", "HEAD"])
def photo_thumb(request, photo_id):
    return _serve_photo(request, photo_id, thumbnail=True)


# --- catalogue --------------------------------------------------------------------------------


def _catalogue_staff(request):
    staff = staff_of(request.user)
    if staff is None or not request.user.has_perm("workorders.manage_catalogue"):
        raise PermissionDenied
    return staff


def _catalogue_page(request, staff, form, status=200):
    items = CatalogueItem.objects.filter(organisation_id=staff.organisation_id)
    show_archived = request.GET.get("archived") == "1"
    return render(
        request,
        "workorders/office/catalogue.html",
        {
            "form": form,
            "items": items.filter(active=True),
            "archived": items.filter(active=False) if show_archived else None,
            "archived_count": items.filter(active=False).count(),
            "show_archived": show_archived,
            "currency": staff.organisation.currency,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def catalogue(request):
    """The organisation's services and goods: list and add."""
    staff = _catalogue_staff(request)
    if request.method == "GET":
        return _catalogue_page(request, staff, CatalogueItemForm())
    form = CatalogueItemForm(request.POST)
    if form.is_valid():
        try:
            item = catalogue_services.catalogue_item_save(
                organisation=staff.organisation, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("“%(name)s” is in the catalogue.") % {"name": item.name})
            return redirect("workorders:catalogue")
    return _catalogue_page(request, staff, form, status=400)


def _catalogue_item(staff, pk: int) -> CatalogueItem:
    return get_object_or_404(CatalogueItem, pk=pk, organisation_id=staff.organisation_id)


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_item(request, pk: int):
    staff = _catalogue_staff(request)
    item = _catalogue_item(staff, pk)
    status = 200
    if request.method == "POST":
        form = CatalogueItemForm(request.POST)
        if form.is_valid():
            try:
                catalogue_services.catalogue_item_save(
                    organisation=staff.organisation,
                    item=item,
                    actor=request.user,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("The item is saved."))
                return redirect("workorders:catalogue")
        status = 400
    else:
        form = CatalogueItemForm(initial=CatalogueItemForm.initial_for(item))
    return render(
        request,
        "workorders/office/catalogue_item.html",
        {"form": form, "item": item, "currency": staff.organisation.currency},
        status=status,
    )


@login_required
@require_POST
def catalogue_archive(request, pk: int):
    """Archive the item (or put an archived one back with `restore=1`)."""
    staff = _catalogue_staff(request)
    item = _catalogue_item(staff, pk)
    restore = request.POST.get("restore") == "1"
    try:
        catalogue_services.catalogue_item_archive(item=item, actor=request.user, restore=restore)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            (_("“%(name)s” is back in the catalogue.") if restore else _("“%(name)s” is archived."))
            % {"name": item.name},
        )
    return redirect("workorders:catalogue")
