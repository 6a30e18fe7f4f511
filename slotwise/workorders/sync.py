"""The technician app's offline queue on the server (S2.4): status changes made on a phone without
a connection are queued there (`static/workorders/offline.js`) and posted here as one JSON batch
when the phone is back online.

    POST /work/tech/sync/            (name "workorders:tech_sync"; session + CSRF like any form)
    {"changes": [{"id": "<client id>", "order": "<order uuid>", "action": "start",
                  "reason": "", "version": 3, "client_at": "2026-11-24T08:03:00Z"}, ...]}

    200 {"results": [{"id": …, "order": …, "action": …, "result": "applied" | "duplicate" |
                      "conflict" | "rejected" | "not_found",
                      "status": …, "status_label": …, "version": …, "message": …,
                      "errors": {field: [messages]}}, ...]}

Each change goes through `services.work_order_act` in the order sent, with the version the phone
saw (`expected_version`) and when the phone says it happened (`client_at`, kept on the event so
durations are right). One change failing (a Conflict, a refused transition) doesn't stop the
others. **The server wins**: a change made on a version the office has moved past is not
applied; the result carries the server's status and version and a translated message, and the
phone shows it.

Access: only the technician assigned to the order (`workorders.work_on_order`), checked per
change on the locked row (a decline earlier in the same batch takes the order away); an order
outside the user's scope answers "not_found", the same as one that doesn't exist.

Idempotency: every queued change has a client-generated id. The id of an applied change is
stored in its `WorkOrderEvent.data["sync_id"]`, written in the same transaction as the change,
under the order's row lock; a change whose id is already on one of the order's events is
answered "duplicate" (with the current state) and not applied again. Why the event and not a
cache with a TTL: it needs no migration, it is durable (a cache can be cleared or be per
process, and a phone can stay offline for days), and it commits or rolls back together with the
change itself, so a crash between "applied" and "remembered" can't happen. Changes that were not
applied leave nothing behind: sent again they are judged again, against the server's state.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from slotwise.core.errors import Conflict, ValidationError

from . import selectors, services, transitions
from .models import Status, WorkOrder, WorkOrderEvent

#: the most changes one request may carry (a phone's day offline is far fewer)
MAX_CHANGES = 200
#: the actions the technician app queues: the technician's simple actions of the state machine
SYNC_ACTIONS = tuple(
    action
    for action in services.SIMPLE_ACTIONS
    if transitions.TRANSITIONS[action].by == transitions.TECHNICIAN
)
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_REASON = 2000

APPLIED = "applied"
DUPLICATE = "duplicate"
CONFLICT = "conflict"
REJECTED = "rejected"
NOT_FOUND = "not_found"


class BadRequest(Exception):
    """The request as a whole can't be read (HTTP 400); the message is translated."""


@dataclass(frozen=True)
class Change:
    id: str
    order: str
    action: str
    reason: str = ""
    version: object = None
    client_at: object = None


def parse_changes(body: bytes) -> list[Change]:
    """The changes of a request body, or BadRequest with a clear message."""
    try:
        payload = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(_("The request is not valid JSON.")) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("changes"), list):
        raise BadRequest(_('Send an object with a list of changes: {"changes": [...]}.'))
    items = payload["changes"]
    if len(items) > MAX_CHANGES:
        raise BadRequest(_("Send at most %(count)s changes at a time.") % {"count": MAX_CHANGES})
    changes = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(_("Change %(index)s is not an object.") % {"index": index})
        client_id = item.get("id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise BadRequest(
                _("Change %(index)s needs an id (up to 64 letters, digits or dashes).")
                % {"index": index}
            )
        changes.append(
            Change(
                id=client_id,
                order=str(item.get("order") or ""),
                action=str(item.get("action") or ""),
                reason=item.get("reason") if isinstance(item.get("reason"), str) else "",
                version=item.get("version"),
                client_at=item.get("client_at"),
            )
        )
    return changes


def _clean(change: Change, now: datetime.datetime) -> tuple[int | None, datetime.datetime | None]:
    """The change's version and time, or ValidationError field by field."""
    errors: dict[str, str] = {}
    if change.action not in SYNC_ACTIONS:
        errors["action"] = _("Unknown action.")
    version = change.version
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        errors["version"] = _("The order's version must be a whole number.")
    client_at = None
    if change.client_at not in (None, ""):
        parsed = None
        if isinstance(change.client_at, str):
            try:
                parsed = parse_datetime(change.client_at)
            except ValueError:
                parsed = None
        if parsed is None or timezone.is_naive(parsed):
            errors["client_at"] = _("Enter a date and time with its time zone (ISO 8601).")
        else:
            # a phone whose clock runs ahead can't put a change in the future
            client_at = min(parsed, now)
    if len(change.reason) > MAX_REASON:
        errors["reason"] = _("Keep it under %(count)s characters.") % {"count": MAX_REASON}
    if errors:
        raise ValidationError(errors)
    return version, client_at


def _state(result: str, change: Change, order: WorkOrder | None, **extra) -> dict:
    out = {
        "id": change.id,
        "order": change.order,
        "action": change.action,
        "result": result,
        "status": None,
        "status_label": None,
        "version": None,
        "message": "",
        "errors": {},
    }
    if order is not None:
        out.update(
            status=order.status,
            status_label=str(order.get_status_display()),
            version=order.version,
        )
    out.update(extra)
    return out


def _message_dict(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {key: [str(m) for m in messages] for key, messages in exc.message_dict.items()}
    return {"__all__": [str(m) for m in exc.messages]}


def _lock_if_mine(user, order_pk: int) -> WorkOrder | None:
    order = (
        WorkOrder.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .filter(pk=order_pk)
        .first()
    )
    if order is None or not user.has_perm("workorders.work_on_order", order):
        return None
    return order


def apply_change(user, change: Change, *, now: datetime.datetime | None = None) -> dict:
    """Apply one queued change for `user`; the result as a JSON-ready dict (never raises for the
    change's own problems)."""
    now = now or timezone.now()
    try:
        public_id = uuid.UUID(change.order)
    except ValueError:
        return _state(NOT_FOUND, change, None, message=_("This order is not yours."))
    visible = selectors.order_for(user, public_id)
    if visible is None or not user.has_perm("workorders.work_on_order", visible):
        return _state(NOT_FOUND, change, None, message=_("This order is not yours."))
    try:
        version, client_at = _clean(change, now)
    except ValidationError as exc:
        errors = _message_dict(exc)
        return _state(
            REJECTED, change, visible, message=next(iter(errors.values()))[0], errors=errors
        )
    try:
        with transaction.atomic():
            order = _lock_if_mine(user, visible.pk)
            if order is None:
                return _state(NOT_FOUND, change, None, message=_("This order is not yours."))
            if WorkOrderEvent.objects.filter(order=order, data__sync_id=change.id).exists():
                return _state(DUPLICATE, change, order, message=_("Already sent."))
            order = services.work_order_act(
                order=order,
                action=change.action,
                actor=user,
                reason=change.reason,
                client_at=client_at,
                expected_version=version,
                now=now,
            )
            event = (
                WorkOrderEvent.objects.filter(
                    order=order, kind=services.SIMPLE_ACTIONS[change.action]
                )
                .order_by("-pk")
                .first()
            )
            event.data = {**event.data, "sync_id": change.id}
            event.save(update_fields=["data"])
    except Conflict:
        current = WorkOrder.objects.get(pk=visible.pk)
        target = transitions.TRANSITIONS[change.action].target
        if current.status == target and current.status != Status.DRAFT:
            # the change reached the server before (a request whose answer was lost)
            return _state(APPLIED, change, current, message=_("Already done."), already=True)
        return _state(
            CONFLICT,
            change,
            current,
            message=_("The office changed this order: it is now “%(status)s”.")
            % {"status": current.get_status_display()},
        )
    except ValidationError as exc:
        current = WorkOrder.objects.get(pk=visible.pk)
        errors = _message_dict(exc)
        return _state(
            REJECTED, change, current, message=next(iter(errors.values()))[0], errors=errors
        )
    return _state(APPLIED, change, order, message=_("Sent."))


def sync_changes(user, changes: list[Change]) -> list[dict]:
    """Apply the changes in the order given; one result each, in the same order."""
    return [apply_change(user, change) for change in changes]


@never_cache
@require_POST
def tech_sync(request):
    """The offline queue's endpoint (JSON in, JSON out)."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": _("Log in again to send your changes.")}, status=401)
    try:
        changes = parse_changes(request.body)
    except BadRequest as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"results": sync_changes(request.user, changes)})
