"""The state machine over the whole table: for every status × every action of
`transitions.TRANSITIONS`, a real order is driven into the status through the services and the
action is tried through its service. Allowed moves land on the table's target; forbidden ones
raise ValidationError with a `status` message and change nothing (status, version, events)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import transaction

from slotwise.core.errors import ValidationError
from slotwise.workorders import services, transitions
from slotwise.workorders.models import Status, WorkOrder, WorkOrderEvent
from slotwise.workorders.photos import photo_add

from .fixtures import World, local, next_day, photo_upload

pytestmark = pytest.mark.django_db

ALL_STATUSES = list(Status.values)
ALL_ACTIONS = list(transitions.TRANSITIONS)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Driver:
    """Builds orders in a given status through the services, one free hour each."""

    def __init__(self, world: World):
        self.w = world
        self._hours = itertools.count()

    def slot(self) -> dt.datetime:
        n = next(self._hours)
        return local(next_day(7 + n // 8), 9 + n % 8)

    def completion(self, order: WorkOrder) -> services.CompletionInput:
        return services.CompletionInput(
            work_cost=str(order.total),
            extras_cost="0",
            travel_cost="0",
            toll_miles="0",
            tips="0",
            payment_method="cash",
            payment_amount=str(order.total),
            answers={"finished": "yes", "client_checked": "yes", "rating": "5"},
        )

    def order_in(self, status: str) -> WorkOrder:
        w = self.w
        order = services.work_order_create(
            organisation=w.org,
            contact=w.contact,
            source="phone",
            title="Leaking sink",
            type=w.type,
            location=w.location,
            lines=[services.LineInput(kind="labour", name="Labour", quantity="1", unit_price="90")],
            actor=w.manager.user,
        )
        if status == Status.DRAFT:
            return order
        if status == Status.CANCELLED:
            return services.work_order_act(
                order=order, action="cancel", reason="Customer called off", actor=w.manager.user
            )
        order = services.work_order_assign(
            order=order, technician=w.tech, start=self.slot(), actor=w.manager.user
        )
        if status == Status.ASSIGNED:
            return order
        order = services.work_order_act(order=order, action="accept", actor=w.tech.user)
        if status == Status.ACCEPTED:
            return order
        order = services.work_order_act(order=order, action="start", actor=w.tech.user)
        if status == Status.IN_PROGRESS:
            return order
        if status == Status.PAUSED:
            return services.work_order_act(order=order, action="pause", actor=w.tech.user)
        if status == Status.NEEDS_CONFIRMATION:
            return services.extras_submit(order=order, lines=[self.extra()], actor=w.tech.user)
        photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
        order = services.work_order_complete(
            order=order, data=self.completion(order), actor=w.tech.user
        )
        if status == Status.COMPLETED:
            return order
        assert status == Status.CLOSED
        return services.work_order_confirm(order=order, actor=w.manager.user)

    @staticmethod
    def extra() -> services.LineInput:
        return services.LineInput(kind="goods", name="Valve", quantity="2", unit_price="12.50")

    def act(self, order: WorkOrder, action: str) -> WorkOrder:
        """Try `action` on `order` through the service that does it."""
        w = self.w
        if action == "assign":
            return services.work_order_assign(
                order=order, technician=w.tech2, start=self.slot(), actor=w.manager.user
            )
        if action in services.SIMPLE_ACTIONS:
            actor = w.manager.user if action == "cancel" else w.tech.user
            return services.work_order_act(
                order=order, action=action, reason="Because", actor=actor
            )
        if action == "submit_extras":
            return services.extras_submit(order=order, lines=[self.extra()], actor=w.tech.user)
        if action in ("approve_extras", "reject_extras"):
            return services.extras_decide(
                order=order,
                approve=action == "approve_extras",
                note="Too expensive",
                actor=w.manager.user,
            )
        if action == "complete":
            if order.status in transitions.TRANSITIONS["complete"].sources:
                photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
            return services.work_order_complete(
                order=order, data=self.completion(order), actor=w.tech.user
            )
        if action == "return":
            return services.work_order_return(
                order=order, reason="The photo is blurred", actor=w.manager.user
            )
        if action == "confirm":
            return services.work_order_confirm(order=order, actor=w.manager.user)
        raise AssertionError(f"no service for {action}")


@pytest.fixture
def driver():
    return Driver(World())


def _state(order: WorkOrder) -> tuple:
    order = WorkOrder.objects.get(pk=order.pk)
    events = list(WorkOrderEvent.objects.filter(order=order).values_list("pk", flat=True))
    return order.status, order.version, events, order.technician_id, order.total


class _Rollback(Exception):
    pass


def _try(driver: Driver, order: WorkOrder, action: str) -> str | None:
    """Try `action` in a savepoint that is rolled back; None if it behaved, else what went wrong."""
    status = order.status
    transition = transitions.TRANSITIONS[action]
    before = _state(order)
    problem = None
    try:
        with transaction.atomic():
            if status in transition.sources:
                after = driver.act(WorkOrder.objects.get(pk=order.pk), action)
                stored = WorkOrder.objects.get(pk=order.pk)
                # approve/reject (target None): back to where the technician was
                expected = transition.target or Status.IN_PROGRESS
                if not (after.status == stored.status == expected):
                    problem = f"ended in {stored.status}, table says {expected}"
                elif stored.version != before[1] + 1:
                    problem = f"version {before[1]} → {stored.version}"
                elif not WorkOrderEvent.objects.filter(
                    order=order, from_status=status, to_status=expected, pk__gt=max(before[2])
                ).exists():
                    problem = "no event for the move"
            else:
                try:
                    driver.act(WorkOrder.objects.get(pk=order.pk), action)
                    problem = "allowed, the table forbids it"
                except ValidationError as err:
                    messages = err.message_dict
                    if list(messages) != ["status"]:
                        problem = f"errors {messages}"
                    elif messages["status"][0] != str(transitions._refusal(action, status)):
                        problem = f"message {messages['status']}"
                    elif _state(order) != before:
                        problem = "refused but changed the order"
            raise _Rollback
    except _Rollback:
        pass
    assert _state(order) == before  # the savepoint left the order as it was
    return problem


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_every_action_from_every_status(driver, status):
    """Allowed actions land on the table's target (one version, one event); forbidden ones are
    refused with the `status` message and change nothing."""
    order = driver.order_in(status)
    assert WorkOrder.objects.get(pk=order.pk).status == status
    problems = {
        action: driver_problem
        for action in ALL_ACTIONS
        if (driver_problem := _try(driver, order, action))
    }
    assert problems == {}


@pytest.mark.parametrize("approve", [True, False])
def test_extras_decided_while_paused_return_to_paused(driver, approve):
    w = driver.w
    order = driver.order_in(Status.PAUSED)
    order = services.extras_submit(order=order, lines=[driver.extra()], actor=w.tech.user)
    assert order.status == Status.NEEDS_CONFIRMATION and order.resume_status == Status.PAUSED
    order = services.extras_decide(
        order=order, approve=approve, note="ok" if approve else "No", actor=w.manager.user
    )
    assert WorkOrder.objects.get(pk=order.pk).status == Status.PAUSED


def _refused(driver, status: str, action: str) -> str:
    order = driver.order_in(status)
    with pytest.raises(ValidationError) as err:
        driver.act(order, action)
    return err.value.message_dict["status"][0]


def test_the_clearest_messages(driver):
    """Complete before start, confirm before complete, complete while extras wait …"""
    for status in (Status.DRAFT, Status.ASSIGNED, Status.ACCEPTED):
        assert _refused(driver, status, "complete") == "Start the work before completing it."
    for status in (Status.ASSIGNED, Status.IN_PROGRESS, Status.PAUSED):
        assert _refused(driver, status, "confirm") == (
            "The technician has not completed the order yet."
        )
    assert _refused(driver, Status.NEEDS_CONFIRMATION, "complete") == (
        "The new total is waiting for a manager's approval: complete the order once it is decided."
    )
    assert _refused(driver, Status.NEEDS_CONFIRMATION, "confirm") == "Decide on the extras first."
    assert _refused(driver, Status.CLOSED, "start") == "The order is closed."
    assert _refused(driver, Status.CANCELLED, "assign") == "The order is cancelled."
    assert _refused(driver, Status.COMPLETED, "accept") == (
        "This can't be done while the order is “Completed, awaiting confirmation”."
    )
    assert _refused(driver, Status.IN_PROGRESS, "cancel") == (
        "The work has started: it can no longer be cancelled."
    )


def test_unknown_action_is_a_field_error():
    with pytest.raises(ValidationError) as err:
        transitions.check(Status.DRAFT, "teleport")
    assert list(err.value.message_dict) == ["action"]


def test_allowed_actions_match_the_table():
    for status in ALL_STATUSES:
        listed = {
            t.action
            for side in (transitions.MANAGER, transitions.TECHNICIAN)
            for t in transitions.allowed_actions(status, side)
        }
        assert listed == {a for a, t in transitions.TRANSITIONS.items() if status in t.sources}
        for t in transitions.allowed_actions(status, transitions.TECHNICIAN):
            assert t.by == transitions.TECHNICIAN
    assert [t.action for t in transitions.allowed_actions(Status.CLOSED, "manager")] == []
    assert [t.action for t in transitions.allowed_actions(Status.CANCELLED, "technician")] == []
