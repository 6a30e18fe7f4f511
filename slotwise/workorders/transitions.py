"""The work order's state machine as data: which action moves which status where, who may do it,
and the message a refused move gets. Services call `check(order, action)` under the row lock;
the pages and the API show only the actions `allowed_actions` lists, but every refusal is
enforced here, so a stale page or a queued offline change gets the same clear message.

Pure Python (no database), unit-tested over the whole table in `tests/test_transitions.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from slotwise.core.errors import ValidationError

from .models import Status

S = Status
MANAGER = "manager"
TECHNICIAN = "technician"


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str | None  # None: decided by the service (resume_status)
    by: str  # MANAGER or TECHNICIAN
    label: object  # lazy translated button label


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition(
            "assign", frozenset({S.DRAFT, S.ASSIGNED, S.ACCEPTED}), S.ASSIGNED, MANAGER, _("Assign")
        ),
        Transition("accept", frozenset({S.ASSIGNED}), S.ACCEPTED, TECHNICIAN, _("Accept")),
        Transition(
            "decline", frozenset({S.ASSIGNED, S.ACCEPTED}), S.DRAFT, TECHNICIAN, _("Decline")
        ),
        Transition(
            "start",
            frozenset({S.ASSIGNED, S.ACCEPTED}),
            S.IN_PROGRESS,
            TECHNICIAN,
            _("Get started"),
        ),
        Transition("pause", frozenset({S.IN_PROGRESS}), S.PAUSED, TECHNICIAN, _("Pause")),
        Transition("resume", frozenset({S.PAUSED}), S.IN_PROGRESS, TECHNICIAN, _("Resume")),
        Transition(
            "submit_extras",
            frozenset({S.IN_PROGRESS, S.PAUSED}),
            S.NEEDS_CONFIRMATION,
            TECHNICIAN,
            _("Submit for approval"),
        ),
        Transition(
            "approve_extras", frozenset({S.NEEDS_CONFIRMATION}), None, MANAGER, _("Approve")
        ),
        Transition("reject_extras", frozenset({S.NEEDS_CONFIRMATION}), None, MANAGER, _("Reject")),
        Transition(
            "complete", frozenset({S.IN_PROGRESS, S.PAUSED}), S.COMPLETED, TECHNICIAN, _("Complete")
        ),
        Transition("return", frozenset({S.COMPLETED}), S.PAUSED, MANAGER, _("Send back")),
        Transition("confirm", frozenset({S.COMPLETED}), S.CLOSED, MANAGER, _("Confirm and close")),
        Transition(
            "cancel",
            frozenset({S.DRAFT, S.ASSIGNED, S.ACCEPTED}),
            S.CANCELLED,
            MANAGER,
            _("Cancel the order"),
        ),
    )
}

#: the clearest reason for a refused move, by (action, current status); falls back to `_refusal`
REASONS = {
    ("complete", S.DRAFT): _("Start the work before completing it."),
    ("complete", S.ASSIGNED): _("Start the work before completing it."),
    ("complete", S.ACCEPTED): _("Start the work before completing it."),
    ("complete", S.NEEDS_CONFIRMATION): _(
        "The new total is waiting for a manager's approval: complete the order once it is decided."
    ),
    ("complete", S.COMPLETED): _("The order is already completed and waits for the manager."),
    ("confirm", S.IN_PROGRESS): _("The technician has not completed the order yet."),
    ("confirm", S.PAUSED): _("The technician has not completed the order yet."),
    ("confirm", S.ASSIGNED): _("The technician has not completed the order yet."),
    ("confirm", S.ACCEPTED): _("The technician has not completed the order yet."),
    ("confirm", S.DRAFT): _("The technician has not completed the order yet."),
    ("confirm", S.NEEDS_CONFIRMATION): _("Decide on the extras first."),
    ("start", S.DRAFT): _("The order has no technician yet."),
    ("accept", S.DRAFT): _("The order has no technician yet."),
    ("pause", S.ASSIGNED): _("Only work in progress can be paused."),
    ("pause", S.ACCEPTED): _("Only work in progress can be paused."),
    ("pause", S.PAUSED): _("The work is already paused."),
    ("resume", S.IN_PROGRESS): _("The work is already in progress."),
    ("submit_extras", S.ASSIGNED): _("Extras are added on site: start the work first."),
    ("submit_extras", S.ACCEPTED): _("Extras are added on site: start the work first."),
    ("submit_extras", S.NEEDS_CONFIRMATION): _(
        "A change of the total is already waiting for approval."
    ),
    ("decline", S.IN_PROGRESS): _("The work has started: pause it and call the office instead."),
    ("decline", S.PAUSED): _("The work has started: pause it and call the office instead."),
    ("cancel", S.IN_PROGRESS): _("The work has started: it can no longer be cancelled."),
    ("cancel", S.PAUSED): _("The work has started: it can no longer be cancelled."),
    ("assign", S.IN_PROGRESS): _("The work has started: it can no longer be reassigned."),
    ("assign", S.PAUSED): _("The work has started: it can no longer be reassigned."),
}


def _refusal(action: str, status: str):
    if status == S.CLOSED:
        return _("The order is closed.")
    if status == S.CANCELLED:
        return _("The order is cancelled.")
    return REASONS.get(
        (action, status),
        _("This can't be done while the order is “%(status)s”.") % {"status": S(status).label},
    )


def check(status: str, action: str) -> Transition:
    """The transition for `action` from `status`, or ValidationError({"status": reason})."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise ValidationError({"action": _("Unknown action.")})
    if status not in transition.sources:
        raise ValidationError({"status": str(_refusal(action, status))})
    return transition


def allowed_actions(status: str, side: str) -> list[Transition]:
    """The actions `side` (MANAGER or TECHNICIAN) can take from `status`, in table order."""
    return [t for t in TRANSITIONS.values() if t.by == side and status in t.sources]
