"""The office pages (S2.2 preparation, S2.7 approvals, S2.9 confirmation, comments): the orders
list with its filters, the order page and each of its forms (good input, bad input with field
errors and nothing saved, refused moves with the state machine's message), the access-checked
photo files, and who may reach what."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from slotwise.org.roles import Role
from slotwise.tests_factories import ContactFactory, UserFactory, make_unit
from slotwise.workorders import services
from slotwise.workorders.models import (
    CatalogueItem,
    ExtrasRequest,
    LineState,
    Source,
    Status,
    WorkOrder,
    WorkOrderComment,
    WorkOrderEvent,
)
from slotwise.workorders.office_views import durations
from slotwise.workorders.photos import photo_add

from .fixtures import (
    LA,
    World,
    local,
    make_location,
    make_org,
    make_staff,
    make_type,
    next_day,
    photo_upload,
)

pytestmark = pytest.mark.django_db

ANSWERS = {"finished": "yes", "client_checked": "yes", "rating": "5"}


@pytest.fixture
def w():
    return World()


def order_url(order, name="order"):
    return reverse(f"workorders:{name}", kwargs={"public_id": order.public_id})


def make_order(w, *, unit=None, title="Leaking sink", contact=None, **kwargs):
    return services.work_order_create(
        organisation=w.org,
        contact=contact or w.contact,
        source=kwargs.pop("source", Source.PHONE),
        title=title,
        type=w.type,
        location=kwargs.pop("location", w.location),
        unit=unit or w.team,
        lines=[
            services.LineInput(kind="labour", name="Labour", quantity="1.5", unit_price="80.00")
        ],
        actor=w.manager.user,
        **kwargs,
    )


_slots = itertools.count()


def next_slot() -> dt.datetime:
    """A free hour of the technician's agenda (each test order gets its own)."""
    n = next(_slots)
    return local(next_day(3 + n // 10), 8 + n % 10)


def started(w, *, now=None, **kwargs):
    order = make_order(w, **kwargs)
    order = services.work_order_assign(
        order=order, technician=w.tech, start=next_slot(), actor=w.manager.user
    )
    return services.work_order_act(order=order, action="start", actor=w.tech.user, now=now)


def with_extras(w):
    return services.extras_submit(
        order=started(w),
        lines=[services.LineInput(kind="goods", name="Valve", quantity="2", unit_price="12.50")],
        note="The old valve is broken",
        actor=w.tech.user,
    )


def completed(w, **kwargs):
    order = started(w, **kwargs)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    return services.work_order_complete(
        order=order,
        data=services.CompletionInput(
            work_cost="120.00",
            extras_cost="0",
            travel_cost="0",
            toll_miles="12.0",
            tips="10",
            payment_method="cash",
            payment_amount="120.00",
            answers=ANSWERS,
        ),
        actor=w.tech.user,
    )


def other_organisation():
    """A second organisation with its own manager, work and customer."""
    org = make_org()
    unit = make_unit(org, "Elsewhere")
    manager = make_staff(org, unit=unit, roles=(Role.MANAGER,), hours=())
    return org, manager, make_type(org)


def login(client, staff):
    client.force_login(staff.user)
    return client


def fresh(order) -> WorkOrder:
    return WorkOrder.objects.get(pk=order.pk)


# --- orders list ------------------------------------------------------------------------------


def test_list_shows_the_orders_of_the_managers_units_only(client, w):
    mine = make_order(w, title="Kitchen tap")
    theirs = make_order(w, unit=w.other_team, title="Valley roof")
    page = login(client, w.manager).get(reverse("workorders:list"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Kitchen tap" in body and order_url(mine) in body
    assert "Valley roof" not in body and str(theirs.public_id) not in body


def test_list_filters_and_search(client, w):
    draft = make_order(w, title="Kitchen tap")
    running = started(w, title="Broken heater")
    other = ContactFactory(organisation=w.org, first_name="Zelda", last_name="Quist")
    elsewhere = make_location(w.org, address="7 Other Rd", postcode="90210")
    web = make_order(w, title="Fence", contact=other, source=Source.WEB_FORM, location=elsewhere)
    waiting = with_extras(w)
    login(client, w.manager)

    def numbers(**params):
        page = client.get(reverse("workorders:list"), params)
        assert page.status_code == 200
        return {row.number for row in page.context["page"]}

    assert numbers(status="draft") == {draft.number, web.number}
    assert numbers(status="in_progress") == {running.number}
    assert numbers(source="web_form") == {web.number}
    assert numbers(q="Zelda") == {web.number}
    assert numbers(q="zelda quist") == {web.number}
    assert numbers(q=f"#{running.number}") == {running.number}
    assert numbers(technician=w.tech.pk) == {running.number, waiting.number}
    assert numbers(waiting="on") == {waiting.number}
    # The same customer's requests within two weeks are flagged as possible duplicates.
    assert numbers(duplicates="on") == {running.number, waiting.number}
    assert numbers(unit=w.team.pk) == {draft.number, running.number, web.number, waiting.number}


def test_list_filter_refuses_another_units_technician(client, w):
    valley = make_staff(w.org, unit=w.other_team)
    page = login(client, w.manager).get(reverse("workorders:list"), {"technician": valley.pk})
    assert page.status_code == 200
    assert "technician" in page.context["form"].errors


def test_list_paginates_in_a_constant_number_of_queries(client, w, django_assert_max_num_queries):
    login(client, w.manager)
    for i in range(3):
        make_order(w, title=f"Order {i}")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("workorders:list")).status_code == 200
    started(w, title="Running")
    for i in range(54):
        make_order(w, title=f"More {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("workorders:list"))
    assert len(page.context["page"].object_list) == 50
    second = client.get(reverse("workorders:list"), {"page": 2})
    assert len(second.context["page"].object_list) == 8


def test_list_refused_to_technicians_and_customers(client, w):
    assert login(client, w.tech).get(reverse("workorders:list")).status_code == 403
    customer = ContactFactory(organisation=w.org, user=UserFactory())
    client.force_login(customer.user)
    assert client.get(reverse("workorders:list")).status_code == 403
    client.logout()
    assert client.get(reverse("workorders:list")).status_code == 302


# --- the order page: access -------------------------------------------------------------------


def test_order_page_for_the_manager(client, w):
    order = make_order(w)
    page = login(client, w.manager).get(order_url(order))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Leaking sink" in body and 'data-status="draft"' in body
    assert set(page.context["actions"]) == {"assign", "cancel"}
    assert "/work/dispatch/" in page.context["dispatch_url"]
    assert 'data-testid="prepare-form"' in body and 'data-testid="lines-form"' in body
    assert "120.00 USD" in body


def test_order_page_is_404_outside_the_users_scope(client, w):
    order = started(w)
    valley_manager = make_staff(w.org, unit=w.other_team, roles=(Role.MANAGER,), hours=())
    assert login(client, valley_manager).get(order_url(order)).status_code == 404
    assert client.post(order_url(order, "order_cancel"), {"cancel-reason": "x"}).status_code == 404
    assert client.post(order_url(order, "order_comment"), {"comment-body": "x"}).status_code == 404
    # Another technician: no office page, no card.
    assert login(client, w.tech2).get(order_url(order)).status_code == 404
    # The assigned technician is sent to their card in the app.
    page = login(client, w.tech).get(order_url(order))
    assert page.status_code == 302 and page.url == order_url(order, "tech_order")
    assert client.post(order_url(order, "order_confirm")).status_code == 404
    # Another organisation's manager.
    _org, stranger, _type = other_organisation()
    assert login(client, stranger).get(order_url(order)).status_code == 404
    # The org admin sees every unit.
    admin = make_staff(w.org, unit=w.root, roles=(Role.ORG_ADMIN,), hours=())
    assert login(client, admin).get(order_url(order)).status_code == 200


def test_call_centre_sees_but_does_not_manage(client, w):
    order = make_order(w)
    operator = make_staff(w.org, unit=w.team, roles=(Role.CALL_CENTRE,), hours=())
    login(client, operator)
    page = client.get(order_url(order))
    assert page.status_code == 200 and page.context["actions"] == {}
    assert not page.context["editable"]
    response = client.post(order_url(order, "order_prepare"), {"prep-title": "Changed"})
    assert response.status_code == 403
    assert fresh(order).title == "Leaking sink"
    # …but may leave a note in the thread.
    response = client.post(order_url(order, "order_comment"), {"comment-body": "Client called"})
    assert response.status_code == 302


# --- preparation ------------------------------------------------------------------------------


def prepare_data(order, **overrides):
    data = {
        "prep-title": order.title,
        "prep-description": "",
        "prep-type": order.type_id or "",
        "prep-address": order.location.address if order.location else "",
        "prep-postcode": order.location.postcode if order.location else "",
        "prep-city": order.location.city if order.location else "",
        "prep-window_start": "",
        "prep-window_end": "",
        "prep-manager_comment": "",
    }
    data.update({f"prep-{k}": v for k, v in overrides.items()})
    return data


def test_prepare_saves_the_order(client, w):
    order = make_order(w)
    day = next_day(3)
    response = login(client, w.manager).post(
        order_url(order, "order_prepare"),
        prepare_data(
            order,
            title="Leaking kitchen sink",
            description="Under the sink",
            address="1 Main St",
            postcode="90210",
            city="Beverly Hills",
            window_start=f"{day:%Y-%m-%d}T08:00",
            window_end=f"{day:%Y-%m-%d}T12:30",
            manager_comment="Bring a ladder",
        ),
    )
    assert response.status_code == 302
    order = fresh(order)
    assert order.title == "Leaking kitchen sink" and order.description == "Under the sink"
    assert order.manager_comment == "Bring a ladder"
    # Wall-clock time in the organisation's zone (Los Angeles), stored in UTC.
    assert order.window_start == local(day, 8) and order.window_end == local(day, 12, 30)
    # A new, geocoded address; the customer's own location is not changed in place.
    assert order.location_id != w.location.pk
    assert order.location.address == "1 Main St" and order.location.city == "Beverly Hills"
    assert order.location.lat and order.location.postcode == "90210"
    w.location.refresh_from_db()
    assert w.location.address == "200 N Spring St"
    assert WorkOrderEvent.objects.filter(order=order, kind="updated").exists()
    page = client.get(order_url(order))
    assert "Bring a ladder" in page.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "  "}, "title"),
        ({"window_start": "2030-01-02T10:00", "window_end": "2030-01-02T09:00"}, "window_end"),
        ({"window_start": "2030-01-02T10:00"}, "window_end"),
        ({"window_start": "tomorrow-ish"}, "window_start"),
        ({"postcode": "00000", "address": "Nowhere 1"}, "postcode"),
        ({"postcode": "", "address": "5 Elm St"}, "postcode"),
        ({"type": "999999"}, "type"),
    ],
)
def test_prepare_bad_input_shows_field_errors_and_saves_nothing(client, w, overrides, field):
    order = make_order(w)
    before = (order.version, order.title, order.location_id, order.window_start)
    response = login(client, w.manager).post(
        order_url(order, "order_prepare"), prepare_data(order, **overrides)
    )
    assert response.status_code == 400
    form = response.context["prepare_form"]
    assert field in form.errors, form.errors
    assert f'data-field="{field}"' in response.content.decode()
    order = fresh(order)
    assert (order.version, order.title, order.location_id, order.window_start) == before


def test_prepare_refused_once_the_work_started(client, w):
    order = started(w)
    response = login(client, w.manager).post(
        order_url(order, "order_prepare"), prepare_data(order, title="Changed")
    )
    # The page no longer offers the form; a stale one gets the service's message.
    assert response.status_code == 400
    assert response.context["refusal"] == [
        "The work has started: the order can no longer be changed."
    ]
    assert "prepare_form" not in response.context
    assert fresh(order).title == "Leaking sink"


def test_prepare_another_units_type_refused(client, w):
    _org, _manager, foreign_type = other_organisation()
    order = make_order(w)
    response = login(client, w.manager).post(
        order_url(order, "order_prepare"), prepare_data(order, type=foreign_type.pk)
    )
    assert response.status_code == 400
    assert "type" in response.context["prepare_form"].errors
    assert fresh(order).type_id == w.type.pk


# --- lines ------------------------------------------------------------------------------------


def lines_data(rows, *, prefix="lines"):
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        base = {"kind": "service", "item": "", "name": "", "quantity": "1", "unit_price": ""}
        base["tax_rate"] = ""
        base.update(row)
        for key, value in base.items():
            data[f"{prefix}-{i}-{key}"] = value
    return data


def test_lines_from_the_catalogue_and_free_text(client, w):
    valve = CatalogueItem.objects.create(
        organisation=w.org,
        kind="goods",
        name="Valve",
        unit_price=Decimal("12.50"),
        tax_rate=Decimal("10"),
    )
    order = make_order(w)
    response = login(client, w.manager).post(
        order_url(order, "order_lines"),
        lines_data(
            [
                {"kind": "labour", "name": "Labour", "quantity": "2", "unit_price": "80"},
                # From the catalogue: name, price and tax come from the item when left empty.
                {"kind": "goods", "item": str(valve.pk), "quantity": "3"},
                {"kind": "travel", "name": "Travel", "quantity": "1", "unit_price": "25,00"},
                {"name": "", "unit_price": ""},  # an empty row is left out
            ]
        ),
    )
    assert response.status_code == 302, response.context and response.context["refusal"]
    order = fresh(order)
    lines = list(order.lines.order_by("position"))
    assert [(x.kind, x.name, x.item_id) for x in lines] == [
        ("labour", "Labour", None),
        ("goods", "Valve", valve.pk),
        ("travel", "Travel", None),
    ]
    # 160 + 37.50 (+3.75 tax) + 25 = 222.50 net, 226.25 total
    assert order.net_total == Decimal("222.50") and order.tax_total == Decimal("3.75")
    assert order.total == Decimal("226.25") and order.proposed_total == Decimal("226.25")
    page = client.get(order_url(order))
    assert page.context["totals"].labour.amount == Decimal("160.00")
    assert page.context["totals"].travel.amount == Decimal("25.00")
    assert "226.25 USD" in page.content.decode()


def test_lines_keep_an_archived_item_already_on_the_order(client, w):
    item = CatalogueItem.objects.create(
        organisation=w.org, name="Old part", unit_price=Decimal("5"), kind="goods"
    )
    order = make_order(w)
    services.work_order_set_lines(
        order=order,
        lines=[
            services.LineInput(kind="goods", name="Old part", quantity=1, unit_price=5, item=item)
        ],
    )
    item.active = False
    item.save()
    page = login(client, w.manager).get(order_url(order))
    assert page.status_code == 200
    formset = page.context["lines_formset"]
    assert formset.forms[0].initial["item"] == item.pk
    response = client.post(
        order_url(order, "order_lines"),
        lines_data([{"kind": "goods", "item": str(item.pk), "quantity": "2", "unit_price": "5"}]),
    )
    assert response.status_code == 302
    assert fresh(order).total == Decimal("10.00")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"name": "Labour", "quantity": "0", "unit_price": "80"}, "quantity"),
        ({"name": "Labour", "quantity": "abc", "unit_price": "80"}, "quantity"),
        ({"name": "Labour", "quantity": "1", "unit_price": "-1"}, "unit_price"),
        ({"name": "Labour", "quantity": "1", "unit_price": "1", "tax_rate": "101"}, "tax_rate"),
        ({"name": "", "quantity": "1", "unit_price": "10"}, "name"),
        ({"name": "X", "kind": "bogus", "unit_price": "10"}, "kind"),
    ],
)
def test_lines_bad_input_shows_the_rows_error_and_changes_nothing(client, w, row, field):
    order = make_order(w)
    response = login(client, w.manager).post(
        order_url(order, "order_lines"),
        lines_data([{"kind": "labour", "name": "Ok", "unit_price": "10"}, row]),
    )
    assert response.status_code == 400
    formset = response.context["lines_formset"]
    assert field in formset.forms[1].errors, formset.errors
    order = fresh(order)
    assert order.total == Decimal("120.00")
    assert list(order.lines.values_list("name", flat=True)) == ["Labour"]


def test_lines_refused_once_the_work_started(client, w):
    order = started(w)
    page = login(client, w.manager).get(order_url(order))
    assert "lines_formset" not in page.context
    response = client.post(
        order_url(order, "order_lines"),
        lines_data([{"kind": "labour", "name": "Labour", "unit_price": "500"}]),
    )
    assert response.status_code == 400
    assert "extras now need the manager&#x27;s approval" in response.content.decode()
    assert fresh(order).total == Decimal("120.00")


# --- extras approval (S2.7) -------------------------------------------------------------------


def test_extras_approve_through_the_page(client, w):
    order = with_extras(w)
    page = login(client, w.manager).get(order_url(order))
    body = page.content.decode()
    assert page.context["pending"] is not None
    assert "120.00 USD" in body and "145.00 USD" in body and "Valve" in body
    assert "The old valve is broken" in body
    assert ">Approve<" in body
    response = client.post(order_url(order, "order_extras"), {"extras-decision": "approve"})
    assert response.status_code == 302
    order = fresh(order)
    assert order.status == Status.IN_PROGRESS and order.total == Decimal("145.00")
    assert ExtrasRequest.objects.get(order=order).state == ExtrasRequest.State.APPROVED


def test_extras_reject_needs_a_reason(client, w):
    order = with_extras(w)
    login(client, w.manager)
    response = client.post(
        order_url(order, "order_extras"), {"extras-decision": "reject", "extras-note": " "}
    )
    assert response.status_code == 400
    assert "note" in response.context["extras_form"].errors
    assert fresh(order).status == Status.NEEDS_CONFIRMATION
    response = client.post(
        order_url(order, "order_extras"),
        {"extras-decision": "reject", "extras-note": "Too expensive"},
    )
    assert response.status_code == 302
    order = fresh(order)
    assert order.status == Status.IN_PROGRESS and order.total == Decimal("120.00")
    assert order.lines.filter(state=LineState.REJECTED).count() == 1
    page = client.get(order_url(order))
    assert "Too expensive" in page.content.decode()


def test_extras_decision_without_a_request_shows_the_state_machines_message(client, w):
    order = started(w)
    response = login(client, w.manager).post(
        order_url(order, "order_extras"), {"extras-decision": "approve"}
    )
    assert response.status_code == 400
    assert response.context["refusal"] == ["This can't be done while the order is “In progress”."]
    assert 'data-testid="refusal"' in response.content.decode()
    assert fresh(order).version == order.version


def test_extras_decision_refuses_bad_decision(client, w):
    order = with_extras(w)
    response = login(client, w.manager).post(
        order_url(order, "order_extras"), {"extras-decision": "maybe"}
    )
    assert response.status_code == 400
    assert fresh(order).status == Status.NEEDS_CONFIRMATION


# --- completion review, confirm, send back (S2.9) ---------------------------------------------


def test_completion_review_and_confirm(client, w):
    order = completed(w)
    page = login(client, w.manager).get(order_url(order))
    assert page.status_code == 200
    body = page.content.decode()
    assert set(page.context["actions"]) == {"return", "confirm"}
    assert "12.0" in body and "10.00 USD" in body and "Cash" in body
    assert "How satisfied was the client" in body
    # The figures match the agreed order except the extras' price list (none agreed): no flags.
    assert page.context["completion_checks"] == []
    photo = order.photos.get()
    assert reverse("workorders:photo_thumb", kwargs={"photo_id": photo.public_id}) in body
    response = client.post(order_url(order, "order_confirm"))
    assert response.status_code == 302
    order = fresh(order)
    assert order.status == Status.CLOSED and order.closed_at is not None
    assert order.completion.confirmed_by_id == w.manager.user_id
    page = client.get(order_url(order))
    assert page.context["actions"] == {}


def test_completion_review_flags_figures_that_differ(client, w):
    order = started(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    services.work_order_complete(
        order=order,
        data=services.CompletionInput(
            work_cost="100.00",
            extras_cost="0",
            travel_cost="0",
            toll_miles="0",
            tips="0",
            payment_method="zelle",
            payment_amount="100.00",
            answers=ANSWERS,
        ),
        actor=w.tech.user,
    )
    page = login(client, w.manager).get(order_url(order))
    assert page.context["completion_checks"] == [
        "The work cost (100.00 USD) differs from the agreed labour (120.00 USD).",
        "The amount paid (100.00 USD) differs from the agreed total (120.00 USD).",
    ]
    assert 'data-testid="completion-checks"' in page.content.decode()


def test_confirm_before_completion_shows_the_state_machines_message(client, w):
    order = started(w)
    response = login(client, w.manager).post(order_url(order, "order_confirm"))
    assert response.status_code == 400
    assert "The technician has not completed the order yet." in response.content.decode()
    assert fresh(order).status == Status.IN_PROGRESS


def test_send_back_needs_a_reason_and_reopens_the_work(client, w):
    order = completed(w)
    login(client, w.manager)
    response = client.post(order_url(order, "order_return"), {"ret-reason": ""})
    assert response.status_code == 400
    assert "reason" in response.context["return_form"].errors
    assert fresh(order).status == Status.COMPLETED
    response = client.post(order_url(order, "order_return"), {"ret-reason": "Photo is blurry"})
    assert response.status_code == 302
    order = fresh(order)
    assert order.status == Status.PAUSED
    comment = WorkOrderComment.objects.get(order=order)
    assert comment.body == "Photo is blurry" and comment.side == "manager"
    # Sending back again is refused with the table's message.
    response = client.post(order_url(order, "order_return"), {"ret-reason": "Again"})
    assert response.status_code == 400
    assert "“Paused”" in response.content.decode()


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_with_a_reason(client, w):
    order = services.work_order_assign(
        order=make_order(w), technician=w.tech, start=next_slot(), actor=w.manager.user
    )
    login(client, w.manager)
    response = client.post(order_url(order, "order_cancel"), {"cancel-reason": ""})
    assert response.status_code == 400
    assert "reason" in response.context["cancel_form"].errors
    assert fresh(order).status == Status.ASSIGNED
    response = client.post(order_url(order, "order_cancel"), {"cancel-reason": "Client cancelled"})
    assert response.status_code == 302
    order = fresh(order)
    assert order.status == Status.CANCELLED
    order.booking.refresh_from_db()
    assert order.booking.status == "cancelled"


def test_cancel_after_start_shows_the_state_machines_message(client, w):
    order = started(w)
    response = login(client, w.manager).post(
        order_url(order, "order_cancel"), {"cancel-reason": "Changed mind"}
    )
    assert response.status_code == 400
    assert response.context["refusal"] == ["The work has started: it can no longer be cancelled."]
    assert fresh(order).status == Status.IN_PROGRESS


# --- comments ---------------------------------------------------------------------------------


def test_comment_thread(client, w):
    order = started(w)
    services.comment_add(order=order, author=w.tech.user, side="technician", body="On my way")
    login(client, w.manager)
    response = client.post(order_url(order, "order_comment"), {"comment-body": "   "})
    assert response.status_code == 400
    assert "body" in response.context["comment_form"].errors
    assert WorkOrderComment.objects.filter(order=order).count() == 1
    response = client.post(order_url(order, "order_comment"), {"comment-body": "Thanks!"})
    assert response.status_code == 302
    comment = WorkOrderComment.objects.filter(order=order).latest("pk")
    assert comment.side == "manager" and comment.author_id == w.manager.user_id
    page = client.get(order_url(order))
    body = page.content.decode()
    assert body.index("On my way") < body.index("Thanks!")


# --- duplicates -------------------------------------------------------------------------------


def test_duplicate_warning_links_to_the_first_order(client, w):
    first = make_order(w, title="Leak")
    second = make_order(w, title="Leak again", source=Source.EMAIL)
    assert second.duplicate_of_id == first.pk
    page = login(client, w.manager).get(order_url(second))
    body = page.content.decode()
    assert 'data-testid="duplicate-warning"' in body
    assert order_url(first) in body


# --- events and durations ---------------------------------------------------------------------


def test_events_and_actual_durations(client, w):
    t0 = timezone.now() - dt.timedelta(hours=3)
    order = started(w, now=t0)
    services.work_order_act(
        order=order, action="pause", actor=w.tech.user, now=t0 + dt.timedelta(minutes=30)
    )
    services.work_order_act(
        order=order, action="resume", actor=w.tech.user, now=t0 + dt.timedelta(minutes=45)
    )
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    services.work_order_complete(
        order=order,
        data=services.CompletionInput(
            work_cost="120",
            extras_cost="0",
            travel_cost="0",
            toll_miles="0",
            tips="0",
            payment_method="cash",
            payment_amount="120",
            answers=ANSWERS,
        ),
        actor=w.tech.user,
        now=t0 + dt.timedelta(minutes=90),
    )
    page = login(client, w.manager).get(order_url(order))
    d = page.context["durations"]
    assert d["started"] == t0 and d["completed"] == t0 + dt.timedelta(minutes=90)
    assert d["working"] == "1 h 15 min" and d["paused"] == "15 min"
    assert d["on_site"] == "1 h 30 min"
    kinds = [e.kind for e in page.context["events"]]
    timed = [k for k in kinds if k in ("started", "paused", "resumed", "completed")]
    assert timed == ["started", "paused", "resumed", "completed"]
    assert {"created", "assigned"} <= set(kinds)
    body = page.content.decode()
    assert 'data-kind="paused"' in body and "1 h 15 min" in body


def test_durations_count_until_now_while_on_site():
    class E:
        def __init__(self, kind, to_status, at, client_at=None):
            self.kind, self.to_status, self.at, self.client_at = kind, to_status, at, client_at

    t0 = dt.datetime(2030, 3, 10, 9, 0, tzinfo=LA)
    events = [
        E("assigned", "assigned", t0 - dt.timedelta(days=1)),
        # an offline start synced later: the phone's time counts
        E("started", "in_progress", t0 + dt.timedelta(minutes=20), client_at=t0),
        E("paused", "paused", t0 + dt.timedelta(minutes=40)),
    ]
    d = durations(events, status="paused", now=t0 + dt.timedelta(minutes=70))
    assert d["started"] == t0
    assert d["working"] == "40 min" and d["paused"] == "30 min" and d["on_site"] == "1 h 10 min"
    assert durations(events[:1], status="assigned", now=t0)["working"] == ""


# --- photos -----------------------------------------------------------------------------------


def test_photo_files_for_whoever_sees_the_order(client, w):
    order = started(w)
    photo = photo_add(order=order, upload=photo_upload(exif_gps=True), actor=w.tech.user)
    urls = [
        reverse("workorders:photo", kwargs={"photo_id": photo.public_id}),
        reverse("workorders:photo_thumb", kwargs={"photo_id": photo.public_id}),
    ]
    for staff in (w.manager, w.tech):
        login(client, staff)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200
            assert response["Content-Type"] == "image/jpeg"
            assert response["X-Content-Type-Options"] == "nosniff"
            assert "private" in response["Cache-Control"]
            assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    valley_manager = make_staff(w.org, unit=w.other_team, roles=(Role.MANAGER,), hours=())
    for staff in (w.tech2, valley_manager, other_organisation()[1]):
        login(client, staff)
        for url in urls:
            assert client.get(url).status_code == 404
    client.logout()
    assert client.get(urls[0]).status_code == 302
    login(client, w.manager)
    missing = reverse(
        "workorders:photo", kwargs={"photo_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert client.get(missing).status_code == 404


def test_photo_thumbnail_is_small(client, w):
    from PIL import Image

    order = started(w)
    photo = photo_add(order=order, upload=photo_upload(size=(1200, 900)), actor=w.tech.user)
    login(client, w.manager)
    response = client.get(reverse("workorders:photo_thumb", kwargs={"photo_id": photo.public_id}))
    import io

    image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert max(image.size) <= 320


def test_order_page_location_other_than_customer(client, w):
    """An order without an address: the page says so and the preparation form adds one."""
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.MANUAL,
        title="Quote",
        unit=w.team,
    )
    login(client, w.manager)
    page = client.get(order_url(order))
    assert page.status_code == 200 and "Not set" in page.content.decode()
    response = client.post(
        order_url(order, "order_prepare"),
        prepare_data(order, address="9 Oak Ave", postcode="90012", city="Los Angeles"),
    )
    assert response.status_code == 302
    assert fresh(order).location.address == "9 Oak Ave"
    # Clearing the address removes it from the order.
    response = client.post(
        order_url(order, "order_prepare"), prepare_data(order, address="", postcode="", city="")
    )
    assert response.status_code == 302
    assert fresh(order).location is None


def test_order_page_in_a_constant_number_of_queries(client, w, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    order = completed(w)
    login(client, w.manager)
    client.get(order_url(order))  # warm-up (caches of the first request)
    with CaptureQueriesContext(connection) as few:
        assert client.get(order_url(order)).status_code == 200
    for i in range(6):
        services.comment_add(order=order, author=w.tech.user, side="technician", body=f"c{i}")
        photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(order_url(order))
    assert len(page.context["comments"]) == 6 and len(page.context["photos"]) == 7
    assert len(few.captured_queries) <= 30
