"""The work-order services beyond the state machine: the visit as a booking (assign, reassign,
decline, cancel), version conflicts, extras totals, every field of the completion form, who holds
the money, earnings on confirmation, events with timeline entries, duplicates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from slotwise.bookings.models import Booking, BookingStatus
from slotwise.core.errors import Conflict, ValidationError
from slotwise.customers.models import TimelineEntry
from slotwise.messaging.models import Message
from slotwise.payments.models import Holder, Payment, ProviderConfig
from slotwise.scheduling.selectors import find_options, visit_spec
from slotwise.tests_factories import ContactFactory, make_unit
from slotwise.workorders import services
from slotwise.workorders.models import (
    Completion,
    Earning,
    ExtrasRequest,
    LineState,
    PayRule,
    Status,
    WorkOrder,
    WorkOrderEvent,
)
from slotwise.workorders.photos import photo_add

from .fixtures import World, local, make_location, make_org, make_staff, next_day, photo_upload

pytestmark = pytest.mark.django_db

ANSWERS = {"finished": "yes", "client_checked": "no", "rating": "4"}
MONEY_FIELDS = ("work_cost", "extras_cost", "travel_cost", "toll_miles", "tips")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def w():
    return World()


class Elsewhere:
    """Another organisation: a technician, a customer and an address of theirs."""

    def __init__(self):
        self.org = make_org()
        unit = make_unit(self.org, "Other Repairs")
        self.tech = make_staff(self.org, unit=unit, skills={"plumbing": 5})
        self.contact = ContactFactory(organisation=self.org, phone="+13105550177")
        self.location = make_location(self.org)


def _order(w, *, contact=None, location=None, labour="90.00", **kwargs) -> WorkOrder:
    return services.work_order_create(
        organisation=w.org,
        contact=contact or w.contact,
        source=kwargs.pop("source", "phone"),
        title=kwargs.pop("title", "Leaking sink"),
        type=w.type,
        location=location or w.location,
        lines=[services.LineInput(kind="labour", name="Labour", quantity="1", unit_price=labour)],
        actor=w.manager.user,
        **kwargs,
    )


def _started(w, start=None) -> WorkOrder:
    order = services.work_order_assign(
        order=_order(w),
        technician=w.tech,
        start=start or local(next_day(), 10),
        actor=w.manager.user,
    )
    return services.work_order_act(order=order, action="start", actor=w.tech.user)


def _offered(w, staff, start: dt.datetime) -> bool:
    """Does the option generator offer `staff` at `start` for the World's repair visit?"""
    options = find_options(
        organisation=w.org,
        spec=visit_spec([w.type]),
        location=w.location,
        window_start=start - dt.timedelta(hours=1),
        window_end=start + dt.timedelta(hours=2),
        limit=200,
    )
    return any(o.staff_id == staff.pk and o.start == start for o in options)


def _full(order: WorkOrder, **overrides) -> services.CompletionInput:
    values = {
        "work_cost": "90.00",
        "extras_cost": "0",
        "travel_cost": "0",
        "toll_miles": "0",
        "tips": "0",
        "payment_method": "cash",
        "payment_amount": str(order.total),
        "answers": dict(ANSWERS),
    }
    values.update(overrides)
    return services.CompletionInput(**values)


# -- the visit is a booking -----------------------------------------------------------------------


def test_assign_books_the_technician_and_the_time_is_no_longer_offered(w):
    start = local(next_day(), 10)
    assert _offered(w, w.tech, start)
    order = services.work_order_assign(
        order=_order(w), technician=w.tech, start=start, actor=w.manager.user
    )
    booking = Booking.objects.get(pk=order.booking_id)
    assert booking.staff_id == w.tech.pk and booking.start == start
    assert booking.status == BookingStatus.CONFIRMED and booking.contact_id == w.contact.pk
    assert order.scheduled_start == start and order.scheduled_end == booking.end
    assert order.unit_id == w.tech.unit_id
    assert not _offered(w, w.tech, start)
    assert _offered(w, w.tech2, start)  # the colleague is still free


def test_reassign_moves_the_booking(w):
    first, second = local(next_day(), 10), local(next_day(), 14)
    order = services.work_order_assign(
        order=_order(w), technician=w.tech, start=first, actor=w.manager.user
    )
    booking_id = order.booking_id
    order = services.work_order_act(order=order, action="accept", actor=w.tech.user)
    order = services.work_order_assign(
        order=order, technician=w.tech2, start=second, actor=w.manager.user
    )
    assert order.status == Status.ASSIGNED and order.accepted_at is None
    assert order.technician_id == w.tech2.pk and order.scheduled_start == second
    booking = Booking.objects.get(pk=order.booking_id)
    assert booking.pk == booking_id  # moved, not a second visit
    assert booking.staff_id == w.tech2.pk and booking.start == second
    assert Booking.objects.filter(status__in=["held", "confirmed"]).count() == 1
    assert _offered(w, w.tech, first)
    assert not _offered(w, w.tech2, second)
    event = WorkOrderEvent.objects.filter(order=order, kind="assigned").last()
    assert event.data["previous_technician"] == w.tech.pk


def test_assign_to_a_busy_time_is_refused_and_nothing_saved(w):
    start = local(next_day(), 10)
    services.work_order_assign(
        order=_order(w), technician=w.tech, start=start, actor=w.manager.user
    )
    other = _order(w, title="Another job")
    with pytest.raises((ValidationError, Conflict)):
        services.work_order_assign(order=other, technician=w.tech, start=start)
    other.refresh_from_db()
    assert other.status == Status.DRAFT and other.booking_id is None and other.version == 1


def test_assign_bad_input_field_errors(w):
    order = _order(w)
    with pytest.raises(ValidationError) as err:
        services.work_order_assign(order=order, technician=w.tech, start=dt.datetime(2030, 1, 1))
    assert "start" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.work_order_assign(order=order, technician=w.manager, start=local(next_day(), 10))
    assert "technician" in err.value.message_dict
    other_org = Elsewhere()
    with pytest.raises(ValidationError) as err:
        services.work_order_assign(
            order=order, technician=other_org.tech, start=local(next_day(), 10)
        )
    assert "technician" in err.value.message_dict
    assert WorkOrder.objects.get(pk=order.pk).status == Status.DRAFT
    assert not Booking.objects.filter(contact=w.contact).exists()


def test_decline_frees_the_slot_and_tells_the_managers(w):
    start = local(next_day(), 10)
    order = services.work_order_assign(
        order=_order(w), technician=w.tech, start=start, actor=w.manager.user
    )
    booking_id = order.booking_id
    with pytest.raises(ValidationError) as err:
        services.work_order_act(order=order, action="decline", actor=w.tech.user)
    assert "reason" in err.value.message_dict
    before = Message.objects.filter(to="manager@example.com").count()
    order = services.work_order_act(
        order=order, action="decline", reason="Van broke down", actor=w.tech.user
    )
    assert order.status == Status.DRAFT and order.technician_id is None
    assert order.booking_id is None and order.scheduled_start is None
    assert Booking.objects.get(pk=booking_id).status == BookingStatus.CANCELLED
    assert _offered(w, w.tech, start)
    mails = Message.objects.filter(to="manager@example.com", channel="email").order_by("pk")
    assert mails.count() == before + 1
    assert "Van broke down" in mails.last().body and f"#{order.number}" in mails.last().body


def test_cancel_frees_the_slot(w):
    start = local(next_day(), 10)
    order = services.work_order_assign(
        order=_order(w), technician=w.tech, start=start, actor=w.manager.user
    )
    with pytest.raises(ValidationError) as err:
        services.work_order_act(order=order, action="cancel", actor=w.manager.user)
    assert "reason" in err.value.message_dict
    order = services.work_order_act(
        order=order, action="cancel", reason="Fixed it himself", actor=w.manager.user
    )
    assert order.status == Status.CANCELLED
    assert Booking.objects.get(pk=order.booking_id).status == BookingStatus.CANCELLED
    assert _offered(w, w.tech, start)


def test_stale_version_is_a_conflict_and_the_server_wins(w):
    order = services.work_order_assign(
        order=_order(w), technician=w.tech, start=local(next_day(), 10), actor=w.manager.user
    )
    seen = order.version
    services.work_order_act(order=order, action="accept", actor=w.tech.user)
    with pytest.raises(Conflict) as err:
        services.work_order_act(
            order=order, action="start", expected_version=seen, actor=w.tech.user
        )
    assert err.value.detail == {"status": Status.ACCEPTED, "version": seen + 1}
    assert "Accepted" in err.value.message
    stored = WorkOrder.objects.get(pk=order.pk)
    assert stored.status == Status.ACCEPTED and stored.version == seen + 1
    client_at = local(next_day(), 9, 58)
    started = services.work_order_act(
        order=order,
        action="start",
        expected_version=seen + 1,
        client_at=client_at,
        actor=w.tech.user,
    )
    assert started.status == Status.IN_PROGRESS
    assert WorkOrderEvent.objects.get(order=order, kind="started").client_at == client_at


# -- extras ---------------------------------------------------------------------------------------


def test_extras_approved_add_exactly_their_total(w):
    order = _started(w)
    assert order.total == Decimal("90.00")
    order = services.extras_submit(
        order=order,
        lines=[
            services.LineInput(kind="goods", name="Valve", quantity="2", unit_price="12.50"),
            services.LineInput(
                kind="service", name="Descaling", quantity="1", unit_price="40", tax_rate="10"
            ),
        ],
        note="The valve was rusted",
        actor=w.tech.user,
    )
    request = ExtrasRequest.objects.get(order=order)
    assert request.previous_total == Decimal("90.00")
    assert request.proposed_total == Decimal("159.00")  # 90 + 25 + 40 + 4 tax
    assert order.total == Decimal("90.00") and order.proposed_total == Decimal("159.00")
    assert Message.objects.filter(to="manager@example.com", body__contains="159").exists()
    order = services.extras_decide(order=order, approve=True, actor=w.manager.user)
    assert order.total == order.proposed_total == Decimal("159.00")
    assert order.tax_total == Decimal("4.00") and order.net_total == Decimal("155.00")
    assert set(order.lines.values_list("state", flat=True)) == {LineState.AGREED}
    request.refresh_from_db()
    assert request.state == ExtrasRequest.State.APPROVED and request.decided_at is not None


def test_extras_rejected_change_nothing(w):
    order = _started(w)
    order = services.extras_submit(
        order=order,
        lines=[services.LineInput(kind="goods", name="Valve", quantity="1", unit_price="30")],
        actor=w.tech.user,
    )
    with pytest.raises(ValidationError) as err:
        services.extras_decide(order=order, approve=False, actor=w.manager.user)
    assert "note" in err.value.message_dict
    assert WorkOrder.objects.get(pk=order.pk).status == Status.NEEDS_CONFIRMATION
    order = services.extras_decide(
        order=order, approve=False, note="Use the old valve", actor=w.manager.user
    )
    assert order.status == Status.IN_PROGRESS
    assert order.total == order.proposed_total == Decimal("90.00")
    assert order.lines.get(name="Valve").state == LineState.REJECTED
    # a second request can be made after the first was decided
    order = services.extras_submit(
        order=order,
        lines=[services.LineInput(kind="goods", name="Seal", quantity="1", unit_price="5")],
        actor=w.tech.user,
    )
    assert order.proposed_total == Decimal("95.00")


def test_extras_bad_lines_are_field_errors_and_nothing_saved(w):
    order = _started(w)
    with pytest.raises(ValidationError) as err:
        services.extras_submit(
            order=order,
            lines=[
                services.LineInput(kind="goods", name="Valve", quantity="1", unit_price="5"),
                services.LineInput(kind="goods", name="", quantity="0", unit_price="-1"),
            ],
            actor=w.tech.user,
        )
    assert set(err.value.message_dict) == {
        "lines.1.name",
        "lines.1.quantity",
        "lines.1.unit_price",
    }
    with pytest.raises(ValidationError) as err:
        services.extras_submit(order=order, lines=[], actor=w.tech.user)
    assert "lines" in err.value.message_dict
    stored = WorkOrder.objects.get(pk=order.pk)
    assert stored.status == Status.IN_PROGRESS and stored.lines.count() == 1
    assert not ExtrasRequest.objects.exists()


def test_free_extras_are_agreed_at_once(w):
    order = _started(w)
    order = services.extras_submit(
        order=order,
        lines=[services.LineInput(kind="goods", name="Spare screws", quantity="4", unit_price="0")],
        actor=w.tech.user,
    )
    assert order.status == Status.IN_PROGRESS and order.total == Decimal("90.00")
    assert order.lines.get(name="Spare screws").state == LineState.AGREED
    assert not ExtrasRequest.objects.exists()


# -- completion -----------------------------------------------------------------------------------


def _assert_not_completed(order):
    stored = WorkOrder.objects.get(pk=order.pk)
    assert stored.status == Status.IN_PROGRESS and stored.completed_at is None
    assert not Completion.objects.filter(order=order).exists()
    assert not Payment.objects.filter(work_order=order).exists()


@pytest.mark.parametrize("name", MONEY_FIELDS)
def test_each_money_field_is_required_and_zero_is_an_answer(w, name):
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    for empty in ("", "   ", None):
        with pytest.raises(ValidationError) as err:
            services.work_order_complete(
                order=order, data=_full(order, **{name: empty}), actor=w.tech.user
            )
        assert list(err.value.message_dict) == [name]
        assert "enter 0" in err.value.message_dict[name][0]
    for bad in ("abc", "-1", "NaN", "1e12"):
        with pytest.raises(ValidationError) as err:
            services.work_order_complete(
                order=order, data=_full(order, **{name: bad}), actor=w.tech.user
            )
        assert list(err.value.message_dict) == [name]
    _assert_not_completed(order)
    order = services.work_order_complete(
        order=order, data=_full(order, **{name: "0"}), actor=w.tech.user
    )
    assert order.status == Status.COMPLETED
    assert getattr(order.completion, name) == 0


def test_every_missing_part_of_the_form_is_named(w):
    order = _started(w)
    with pytest.raises(ValidationError) as err:
        services.work_order_complete(
            order=order, data=services.CompletionInput(), actor=w.tech.user
        )
    assert set(err.value.message_dict) == {
        *MONEY_FIELDS,
        "payment_amount",
        "payment_method",
        "photos",
        "answers.finished",
        "answers.client_checked",
        "answers.rating",
    }
    _assert_not_completed(order)


def test_photo_method_and_answers_are_required(w):
    order = _started(w)
    with pytest.raises(ValidationError) as err:
        services.work_order_complete(order=order, data=_full(order), actor=w.tech.user)
    assert list(err.value.message_dict) == ["photos"]
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    for method in ("", "bitcoin"):
        with pytest.raises(ValidationError) as err:
            services.work_order_complete(
                order=order, data=_full(order, payment_method=method), actor=w.tech.user
            )
        assert list(err.value.message_dict) == ["payment_method"]
    with pytest.raises(ValidationError) as err:
        services.work_order_complete(
            order=order,
            data=_full(order, answers={"finished": "maybe", "rating": "9"}),
            actor=w.tech.user,
        )
    assert set(err.value.message_dict) == {
        "answers.finished",
        "answers.client_checked",
        "answers.rating",
    }
    with pytest.raises(ValidationError) as err:
        services.work_order_complete(
            order=order, data=_full(order, payment_amount="0", tips="0"), actor=w.tech.user
        )
    assert list(err.value.message_dict) == ["payment_amount"]
    _assert_not_completed(order)


def test_cash_is_held_by_the_technician(w):
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    order = services.work_order_complete(
        order=order, data=_full(order, tips="5.00"), actor=w.tech.user, received_by=w.tech
    )
    payment = Payment.objects.get(work_order=order)
    assert payment.holder == Holder.STAFF and payment.received_by_id == w.tech.pk
    assert payment.amount == Decimal("90.00") and payment.tip_amount == Decimal("5.00")
    assert payment.status == "paid" and payment.handed_over_at is None
    assert order.completion.payment_id == payment.pk
    assert Message.objects.filter(to="manager@example.com", body__contains="confirmation").exists()


def test_card_terminal_money_goes_to_the_company(w):
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    order = services.work_order_complete(
        order=order, data=_full(order, payment_method="card_terminal"), actor=w.tech.user
    )
    payment = Payment.objects.get(work_order=order)
    assert payment.holder == Holder.COMPANY and payment.method == "card_terminal"


def test_payment_link_creates_a_payment_for_the_order(w):
    ProviderConfig.objects.create(organisation=w.org, provider="test")
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    order = services.work_order_complete(
        order=order,
        data=_full(order, payment_method="link", tips="10", link_email_to="client@example.com"),
        actor=w.tech.user,
    )
    payment = Payment.objects.get(work_order=order)
    assert payment.amount == Decimal("100.00")  # the amount and the tip, paid online
    assert payment.status != "paid" and payment.next_action["kind"] == "choose"
    assert order.completion.payment_id == payment.pk
    assert Message.objects.filter(to="client@example.com", body__contains=str(payment.public_id))


def test_payment_link_without_an_online_provider_is_refused(w):
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    with pytest.raises(ValidationError) as err:
        services.work_order_complete(
            order=order, data=_full(order, payment_method="link"), actor=w.tech.user
        )
    assert list(err.value.message_dict) == ["payment_method"]
    assert "No online payment method" in err.value.message_dict["payment_method"][0]
    _assert_not_completed(order)


# -- confirmation and earnings -------------------------------------------------------------------


def test_confirm_computes_the_earning(w):
    PayRule.objects.create(
        organisation=w.org,
        technician=w.tech,
        labour_share_percent=Decimal("35"),
        fixed_per_job=Decimal("15"),
        mileage_rate=Decimal("0.655"),
    )
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    order = services.work_order_complete(
        order=order,
        data=_full(order, work_cost="90.00", toll_miles="12.5", tips="7.50"),
        actor=w.tech.user,
    )
    assert not Earning.objects.exists()  # only the manager's confirmation closes the order
    order = services.work_order_confirm(order=order, actor=w.manager.user)
    assert order.status == Status.CLOSED and order.closed_at is not None
    earning = Earning.objects.get(order=order)
    assert earning.technician_id == w.tech.pk and earning.currency == "USD"
    assert earning.labour == Decimal("31.50")  # 35 % of 90
    assert earning.fixed == Decimal("15.00")
    assert earning.mileage == Decimal("8.19")  # 12.5 × 0.655 = 8.1875
    assert earning.tips == Decimal("7.50")
    assert earning.total == Decimal("62.19")
    assert order.completion.confirmed_by_id == w.manager.user.pk
    assert Booking.objects.get(pk=order.booking_id).status == BookingStatus.DONE


def test_confirm_without_pay_rule_earns_the_tips(w):
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    order = services.work_order_complete(
        order=order, data=_full(order, tips="3"), actor=w.tech.user
    )
    order = services.work_order_confirm(order=order, actor=w.manager.user)
    earning = Earning.objects.get(order=order)
    assert (earning.labour, earning.fixed, earning.mileage) == (0, 0, 0)
    assert earning.total == earning.tips == Decimal("3.00")


def test_return_sends_the_order_back_with_a_comment(w):
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    order = services.work_order_complete(order=order, data=_full(order), actor=w.tech.user)
    with pytest.raises(ValidationError) as err:
        services.work_order_return(order=order, reason=" ", actor=w.manager.user)
    assert "reason" in err.value.message_dict
    order = services.work_order_return(
        order=order, reason="Photo of the meter, please", actor=w.manager.user
    )
    assert order.status == Status.PAUSED and order.completed_at is None
    assert order.comments.get().body == "Photo of the meter, please"
    # the technician completes again: the completion is replaced, not doubled, and the cash
    # recorded the first time is not recorded a second time
    first_payment = order.completion.payment
    order = services.work_order_act(order=order, action="resume", actor=w.tech.user)
    order = services.work_order_complete(
        order=order, data=_full(order, answers={**ANSWERS, "rating": "5"}), actor=w.tech.user
    )
    assert Completion.objects.filter(order=order).count() == 1
    assert order.completion.payment_id == first_payment.pk
    assert order.completion.answers["rating"]["answer"] == 5
    assert Payment.objects.filter(work_order=order).count() == 1


def test_link_errors_name_the_completion_fields(w):
    ProviderConfig.objects.create(organisation=w.org, provider="test")
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    with pytest.raises(ValidationError) as err:
        services.work_order_complete(
            order=order,
            data=_full(order, payment_method="link", link_email_to="not an address"),
            actor=w.tech.user,
        )
    assert list(err.value.message_dict) == ["link_email_to"]
    _assert_not_completed(order)


# -- audit --------------------------------------------------------------------------------------


def test_every_status_change_has_an_event_and_a_timeline_entry(w):
    order = _order(w)
    order = services.work_order_assign(
        order=order, technician=w.tech, start=local(next_day(), 10), actor=w.manager.user
    )
    order = services.work_order_act(order=order, action="accept", actor=w.tech.user)
    order = services.work_order_act(order=order, action="start", actor=w.tech.user)
    order = services.work_order_act(order=order, action="pause", actor=w.tech.user)
    order = services.work_order_act(order=order, action="resume", actor=w.tech.user)
    order = services.extras_submit(
        order=order,
        lines=[services.LineInput(kind="goods", name="Valve", quantity="1", unit_price="9")],
        actor=w.tech.user,
    )
    order = services.extras_decide(order=order, approve=True, actor=w.manager.user)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    order = services.work_order_complete(order=order, data=_full(order), actor=w.tech.user)
    order = services.work_order_return(order=order, reason="Missing photo", actor=w.manager.user)
    order = services.work_order_act(order=order, action="resume", actor=w.tech.user)
    order = services.work_order_complete(order=order, data=_full(order), actor=w.tech.user)
    order = services.work_order_confirm(order=order, actor=w.manager.user)

    moves = list(
        WorkOrderEvent.objects.filter(order=order)
        .exclude(kind="created")
        .values_list("kind", "from_status", "to_status")
    )
    changes = [(k, f, t) for k, f, t in moves if f != t]
    assert changes == [
        ("assigned", "draft", "assigned"),
        ("accepted", "assigned", "accepted"),
        ("started", "accepted", "in_progress"),
        ("paused", "in_progress", "paused"),
        ("resumed", "paused", "in_progress"),
        ("extras_submitted", "in_progress", "needs_confirmation"),
        ("extras_approved", "needs_confirmation", "in_progress"),
        ("completed", "in_progress", "completed"),
        ("returned", "completed", "paused"),
        ("resumed", "paused", "in_progress"),
        ("completed", "in_progress", "completed"),
        ("confirmed", "completed", "closed"),
    ]
    timeline = list(
        TimelineEntry.objects.filter(
            contact=w.contact, data__work_order=str(order.public_id)
        ).values_list("kind", flat=True)
    )
    for kind, *_ in changes:
        assert timeline.count(f"workorder.{kind}") == [c[0] for c in changes].count(kind), kind
    assert "workorder.created" in timeline
    assert order.started_at is not None and order.accepted_at is not None


def test_comments_notify_the_other_side(w):
    order = _started(w)
    with pytest.raises(ValidationError) as err:
        services.comment_add(order=order, author=w.tech.user, side="technician", body="  ")
    assert "body" in err.value.message_dict
    services.comment_add(
        order=order, author=w.tech.user, side="technician", body="Gate code please"
    )
    assert Message.objects.filter(to="manager@example.com", body__contains="Gate code").exists()
    with pytest.raises(ValidationError) as err:
        services.comment_add(order=order, author=w.tech.user, side="boss", body="x")
    assert "side" in err.value.message_dict


# -- intake -------------------------------------------------------------------------------------


def test_duplicates_are_flagged_not_refused(w):
    first = _order(w)
    assert first.duplicate_of is None
    same_customer = _order(w, title="Sink still leaking", source="email")
    assert same_customer.duplicate_of_id == first.pk
    neighbour = ContactFactory(organisation=w.org, phone="+13105550199")
    same_address = _order(
        w,
        contact=neighbour,
        location=make_location(w.org, address="200 n spring st"),
        title="Leak",
    )
    assert same_address.duplicate_of_id == first.pk
    elsewhere = ContactFactory(organisation=w.org, phone="+13105550142")
    fresh = _order(
        w, contact=elsewhere, location=make_location(w.org, address="1 Main St"), title="Door"
    )
    assert fresh.duplicate_of is None


def test_closed_or_other_organisations_orders_are_not_duplicates(w):
    first = _order(w)
    services.work_order_act(order=first, action="cancel", reason="Wrong", actor=w.manager.user)
    again = _order(w, title="Try again")
    assert again.duplicate_of is None
    other = Elsewhere()
    theirs = services.work_order_create(
        organisation=other.org,
        contact=other.contact,
        source="phone",
        title="Leak",
        location=other.location,
    )
    assert theirs.duplicate_of is None


def test_source_ref_makes_intake_idempotent(w):
    first = _order(w, source="email", source_ref="msg-1")
    again = _order(w, source="email", source_ref="msg-1")
    assert again.pk == first.pk and WorkOrder.objects.count() == 1


def test_create_bad_input_field_errors_and_nothing_saved(w):
    other = Elsewhere()
    with pytest.raises(ValidationError) as err:
        services.work_order_create(
            organisation=w.org,
            contact=other.contact,
            source="fax",
            title=" ",
            location=other.location,
        )
    assert set(err.value.message_dict) == {"contact", "source", "title", "location"}
    with pytest.raises(ValidationError) as err:
        services.work_order_create(
            organisation=w.org,
            contact=w.contact,
            source="phone",
            title="Leak",
            lines=[services.LineInput(kind="labour", name="L", quantity="x", unit_price="1")],
        )
    assert list(err.value.message_dict) == ["lines.0.quantity"]
    assert not WorkOrder.objects.filter(organisation=w.org).exists()


def test_the_organisations_own_questions_replace_the_defaults(w):
    from slotwise.workorders.models import Question

    asked = Question.objects.create(organisation=w.org, text="Old part left with the client?")
    note = Question.objects.create(
        organisation=w.org, text="Anything to note?", kind="text", required=False
    )
    Question.objects.create(organisation=w.org, text="Retired question", active=False)
    order = _started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    with pytest.raises(ValidationError) as err:
        services.work_order_complete(order=order, data=_full(order), actor=w.tech.user)
    assert list(err.value.message_dict) == [f"answers.q{asked.pk}"]
    order = services.work_order_complete(
        order=order, data=_full(order, answers={f"q{asked.pk}": "no"}), actor=w.tech.user
    )
    assert order.completion.answers == {
        f"q{asked.pk}": {"question": "Old part left with the client?", "answer": "no"}
    }
    assert f"q{note.pk}" not in order.completion.answers
