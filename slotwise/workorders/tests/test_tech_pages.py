"""The technician's app pages (S2.4–S2.8, S2.15): day lists, the month calendar, the order card and
its actions, extras, photos, comments, the completion form, the profile — and access."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from slotwise.customers.models import Contact
from slotwise.org.roles import Role
from slotwise.payments.models import Payment
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
    WorkOrderPhoto,
)
from slotwise.workorders.photos import photo_add

from .fixtures import LA, World, local, make_location, make_org, make_staff, photo_upload

pytestmark = pytest.mark.django_db

ANSWERS = {"answer_finished": "yes", "answer_client_checked": "yes", "answer_rating": "5"}


def today() -> dt.date:
    return timezone.now().astimezone(LA).date()


@pytest.fixture
def w():
    return World()


def new_order(w, title="Leaking sink", *, labour="80.00", **kwargs):
    return services.work_order_create(
        organisation=w.org,
        contact=kwargs.pop("contact", w.contact),
        source=Source.PHONE,
        title=title,
        type=w.type,
        location=kwargs.pop("location", w.location),
        lines=[services.LineInput(kind="labour", name="Labour", quantity="1", unit_price=labour)],
        actor=w.manager.user,
        **kwargs,
    )


def assigned(w, start, *, tech=None, title="Leaking sink", **kwargs):
    """An order assigned through the booking engine (a start in the past allowed for 'today')."""
    order = new_order(w, title, **kwargs)
    return services.work_order_assign(
        order=order,
        technician=tech or w.tech,
        start=start,
        actor=w.manager.user,
        enforce_availability=False,
        now=start - dt.timedelta(days=2),
    )


def on_site(w, start=None, **kwargs):
    order = assigned(w, start or local(today(), 9), **kwargs)
    return services.work_order_act(order=order, action="start", actor=w.tech.user)


def scheduled(w, start, *, tech=None, status=Status.ASSIGNED, title="Job"):
    """A quick order on a technician's day (no booking): enough for the lists."""
    order = new_order(w, title)
    WorkOrder.objects.filter(pk=order.pk).update(
        technician=tech or w.tech,
        scheduled_start=start,
        scheduled_end=start + dt.timedelta(hours=1),
        status=status,
    )
    return order


def other_organisation():
    from slotwise.tests_factories import make_unit

    org = make_org()
    return org, make_staff(org, unit=make_unit(org, "Elsewhere"))


def card_url(order):
    return reverse("workorders:tech_order", args=[order.public_id])


def act_url(order):
    return reverse("workorders:tech_act", args=[order.public_id])


# -- lists ----------------------------------------------------------------------------------------


def test_today_lists_the_technicians_orders_of_the_day_in_time_order(client, w):
    d = today()
    late = scheduled(w, local(d, 15), title="Fix the boiler", status=Status.IN_PROGRESS)
    early = scheduled(w, local(d, 8, 30), title="Replace a tap", status=Status.PAUSED)
    scheduled(w, local(d + dt.timedelta(days=1), 9), title="Tomorrow's job")
    scheduled(w, local(d, 11), tech=w.tech2, title="Ana's job")
    cancelled = scheduled(w, local(d, 12), title="Called off", status=Status.CANCELLED)
    client.force_login(w.tech.user)
    response = client.get(reverse("workorders:tech_today"))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r["order"].pk for r in rows] == [early.pk, late.pk]
    html = response.content.decode()
    assert "08:30" in html and "15:00" in html
    assert "Replace a tap" in html and "Fix the boiler" in html
    assert "80.00 USD" in html  # the price of each row
    assert "Paused" in html and "In progress" in html
    assert "Los Angeles" in html  # the customer's area
    assert "Tomorrow&#x27;s job" not in html and "Tomorrow's job" not in html
    assert "Ana's job" not in html and "Ana&#x27;s job" not in html
    assert str(cancelled.public_id) not in html
    assert card_url(early) in html


def test_today_counts_the_day_in_the_organisations_time_zone(client, w):
    d = today()
    # 23:30 in Los Angeles is the next day in UTC: still today's order
    order = scheduled(w, local(d, 23, 30), title="Late call")
    yesterday_late = scheduled(w, local(d - dt.timedelta(days=1), 23, 30), title="Yesterday")
    client.force_login(w.tech.user)
    rows = client.get(reverse("workorders:tech_today")).context["rows"]
    assert [r["order"].pk for r in rows] == [order.pk]
    assert yesterday_late.pk not in [r["order"].pk for r in rows]


def test_tomorrow_lists_tomorrows_orders(client, w):
    d = today() + dt.timedelta(days=1)
    order = scheduled(w, local(d, 10), title="Tomorrow's job", status=Status.ACCEPTED)
    scheduled(w, local(today(), 10), title="Today's job")
    client.force_login(w.tech.user)
    response = client.get(reverse("workorders:tech_tomorrow"))
    assert response.status_code == 200
    assert [r["order"].pk for r in response.context["rows"]] == [order.pk]
    assert "Accepted" in response.content.decode()


def test_today_shows_done_and_needs_confirmation(client, w):
    d = today()
    scheduled(w, local(d, 8), title="Closed one", status=Status.CLOSED)
    scheduled(w, local(d, 10), title="Extras wait", status=Status.NEEDS_CONFIRMATION)
    client.force_login(w.tech.user)
    html = client.get(reverse("workorders:tech_today")).content.decode()
    assert "Done" in html and "Needs confirmation" in html


def test_today_empty(client, w):
    client.force_login(w.tech.user)
    response = client.get(reverse("workorders:tech_today"))
    assert response.status_code == 200
    assert 'data-testid="no-orders"' in response.content.decode()


def test_today_in_a_constant_number_of_queries(client, w, django_assert_max_num_queries):
    d = today()
    client.force_login(w.tech.user)
    scheduled(w, local(d, 7))
    with django_assert_max_num_queries(10):
        response = client.get(reverse("workorders:tech_today"))
    assert len(response.context["rows"]) == 1
    for hour in range(8, 20):
        other = make_location(w.org, city=f"Town {hour}")
        contact = Contact.objects.create(organisation=w.org, first_name=f"C{hour}")
        order = new_order(w, f"Job {hour}", contact=contact, location=other)
        WorkOrder.objects.filter(pk=order.pk).update(
            technician=w.tech, scheduled_start=local(d, hour), status=Status.ASSIGNED
        )
    with django_assert_max_num_queries(10):
        response = client.get(reverse("workorders:tech_today"))
    assert len(response.context["rows"]) == 13
    assert "Town 19" in response.content.decode()


def test_month_calendar_counts_per_day_and_a_day_opens_its_list(client, w):
    first = today().replace(day=1)
    second = first + dt.timedelta(days=1)
    a = scheduled(w, local(first, 9), title="First A")
    b = scheduled(w, local(first, 13), title="First B")
    c = scheduled(w, local(second, 9), title="Second C")
    next_month = (first + dt.timedelta(days=40)).replace(day=1)
    scheduled(w, local(next_month, 9), title="Next month")
    client.force_login(w.tech.user)
    url = reverse("workorders:tech_month")
    response = client.get(url, {"month": first.strftime("%Y-%m")})
    assert response.status_code == 200
    cells = {c["date"]: c["count"] for week in response.context["weeks"] for c in week}
    assert cells[first] == 2 and cells[second] == 1
    assert sum(cells.values()) == 3
    listed = [r["order"].pk for d in response.context["days"] for r in d["rows"]]
    assert listed == [a.pk, b.pk, c.pk]
    html = response.content.decode()
    assert f'data-date="{first:%Y-%m-%d}" data-count="2"' in html
    # tap a day: only its list
    response = client.get(url, {"month": first.strftime("%Y-%m"), "day": second.isoformat()})
    listed = [r["order"].pk for d in response.context["days"] for r in d["rows"]]
    assert listed == [c.pk]
    # the next month
    response = client.get(url, {"month": next_month.strftime("%Y-%m")})
    assert response.context["count"] == 1
    assert "Next month" in response.content.decode()


def test_month_with_bad_parameters_shows_the_current_month(client, w):
    client.force_login(w.tech.user)
    response = client.get(reverse("workorders:tech_month"), {"month": "2026-13", "day": "x"})
    assert response.status_code == 200
    assert response.context["first"] == today().replace(day=1)
    assert response.context["picked"] is None
    for bad in ("0001-01", "9999-12", "-5-1", "2026"):
        response = client.get(reverse("workorders:tech_month"), {"month": bad})
        assert response.status_code == 200, bad
        assert response.context["first"] == today().replace(day=1)


def test_list_pages_need_a_technician(client, w):
    url = reverse("workorders:tech_today")
    assert client.get(url).status_code == 302  # to the login page
    customer = Contact.objects.create(organisation=w.org, first_name="Cust")
    from slotwise.tests_factories import UserFactory

    user = UserFactory()
    customer.user = user
    customer.save()
    client.force_login(user)
    for name in ("tech_today", "tech_tomorrow", "tech_month", "tech_profile"):
        assert client.get(reverse(f"workorders:{name}")).status_code == 403


# -- the order card ----------------------------------------------------------------------------------


def test_card_shows_address_contacts_description_lines_and_actions(client, w):
    order = assigned(w, local(today(), 10))
    services.work_order_act(order=order, action="accept", actor=w.tech.user)
    WorkOrder.objects.filter(pk=order.pk).update(
        description="Kitchen sink drips", manager_comment="Bring a 1/2 inch valve"
    )
    services.comment_add(order=order, author=w.manager.user, side="manager", body="Gate code 1234")
    client.force_login(w.tech.user)
    response = client.get(card_url(order))
    assert response.status_code == 200
    html = response.content.decode()
    assert "https://maps.google.com/?q=34.0537,-118.2428" in html
    assert 'href="tel:+13105550101"' in html and 'href="mailto:client@example.com"' in html
    assert "Kitchen sink drips" in html and "Bring a 1/2 inch valve" in html
    assert "Gate code 1234" in html
    assert "80.00 USD" in html
    order.refresh_from_db()
    # accepted: get started or decline, with the offline attributes H5's script relies on
    assert 'data-testid="act-start"' in html and 'data-testid="act-decline"' in html
    assert 'data-testid="act-accept"' not in html and 'data-testid="act-pause"' not in html
    assert (
        f'data-offline="action" data-order="{order.public_id}" data-version="{order.version}"'
        in html
    )
    assert 'name="reason"' in html
    assert 'data-testid="act-complete"' not in html


def test_card_actions_accept_start_pause_resume(client, w):
    order = assigned(w, local(today(), 10))
    client.force_login(w.tech.user)
    for action, status in (
        ("accept", Status.ACCEPTED),
        ("start", Status.IN_PROGRESS),
        ("pause", Status.PAUSED),
        ("resume", Status.IN_PROGRESS),
    ):
        order.refresh_from_db()
        response = client.post(act_url(order), {"action": action, "version": order.version})
        assert response.status_code == 302, response.content
        assert response["Location"] == card_url(order)
        order.refresh_from_db()
        assert order.status == status
    kinds = list(order.events.values_list("kind", flat=True))
    assert kinds[-4:] == ["accepted", "started", "paused", "resumed"]
    page = client.get(card_url(order)).content.decode()
    assert 'data-testid="act-pause"' in page and 'data-testid="act-complete"' in page


def test_forbidden_transition_shows_the_state_machines_message(client, w):
    order = assigned(w, local(today(), 10))
    client.force_login(w.tech.user)
    before = (order.status, order.version, order.events.count())
    response = client.post(act_url(order), {"action": "pause"})
    assert response.status_code == 400
    assert "Only work in progress can be paused." in response.content.decode()
    order.refresh_from_db()
    assert (order.status, order.version, order.events.count()) == before
    response = client.post(act_url(order), {"action": "confirm"})
    assert response.status_code == 400
    assert "Unknown action." in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED


def test_stale_version_is_a_conflict_and_the_server_wins(client, w):
    order = assigned(w, local(today(), 10))
    stale = order.version
    services.work_order_act(order=order, action="accept", actor=w.tech.user)
    client.force_login(w.tech.user)
    response = client.post(act_url(order), {"action": "start", "version": stale})
    assert response.status_code == 409
    html = response.content.decode()
    assert "The order was changed in the meantime" in html
    assert "Accepted" in html
    order.refresh_from_db()
    assert order.status == Status.ACCEPTED


def test_decline_needs_a_reason_then_frees_the_order(client, w):
    order = assigned(w, local(today(), 10))
    client.force_login(w.tech.user)
    response = client.post(act_url(order), {"action": "decline", "reason": "  "})
    assert response.status_code == 400
    assert "Say why." in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED and order.technician_id == w.tech.pk
    response = client.post(act_url(order), {"action": "decline", "reason": "Van broke down"})
    assert response.status_code == 302 and response["Location"] == reverse("workorders:tech_today")
    order.refresh_from_db()
    assert order.status == Status.DRAFT and order.technician_id is None
    # no longer theirs
    assert client.get(card_url(order)).status_code == 404


def test_comment_thread(client, w):
    order = assigned(w, local(today(), 10))
    client.force_login(w.tech.user)
    response = client.post(reverse("workorders:tech_comment", args=[order.public_id]), {"body": ""})
    assert response.status_code == 400
    assert "Write a comment." in response.content.decode()
    assert not WorkOrderComment.objects.filter(order=order).exists()
    response = client.post(
        reverse("workorders:tech_comment", args=[order.public_id]), {"body": "On my way"}
    )
    assert response.status_code == 302
    comment = WorkOrderComment.objects.get(order=order)
    assert comment.side == "technician" and comment.author == w.tech.user
    assert "On my way" in client.get(card_url(order)).content.decode()


# -- access -----------------------------------------------------------------------------------------


def test_another_technician_gets_404_everywhere(client, w):
    order = on_site(w)
    client.force_login(w.tech2.user)
    pid = order.public_id
    assert client.get(card_url(order)).status_code == 404
    assert client.post(act_url(order), {"action": "pause"}).status_code == 404
    for name in ("tech_comment", "tech_extras", "tech_photos", "tech_complete"):
        assert client.post(reverse(f"workorders:{name}", args=[pid])).status_code == 404, name
    assert client.get(reverse("workorders:tech_complete", args=[pid])).status_code == 404
    photo = photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    url = reverse("workorders:tech_photo_delete", args=[pid, photo.public_id])
    assert client.post(url).status_code == 404
    assert WorkOrderPhoto.objects.filter(pk=photo.pk).exists()
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS
    # and the other technician's list doesn't show it
    html = client.get(reverse("workorders:tech_today")).content.decode()
    assert str(pid) not in html


def test_managers_dont_work_on_orders_in_the_technician_app(client, w):
    order = assigned(w, local(today(), 10))
    other_unit_manager = make_staff(w.org, unit=w.other_team, roles=(Role.MANAGER,), hours=())
    for user in (w.manager.user, other_unit_manager.user):
        client.force_login(user)
        assert client.get(card_url(order)).status_code in (403, 404)
        assert client.post(act_url(order), {"action": "accept"}).status_code in (403, 404)
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED


def test_technician_of_another_organisation_gets_404(client, w):
    order = assigned(w, local(today(), 10))
    _, other_tech = other_organisation()
    client.force_login(other_tech.user)
    assert client.get(card_url(order)).status_code == 404
    assert client.post(act_url(order), {"action": "accept"}).status_code == 404


# -- extras ------------------------------------------------------------------------------------------


def test_extras_from_the_catalogue_and_free_text_wait_for_approval(client, w):
    order = on_site(w)
    valve = CatalogueItem.objects.create(
        organisation=w.org, kind="goods", name="Valve", unit_price=Decimal("12.50")
    )
    client.force_login(w.tech.user)
    page = client.get(card_url(order)).content.decode()
    assert "Valve" in page and 'data-testid="extras-form"' in page
    order.refresh_from_db()
    response = client.post(
        reverse("workorders:tech_extras", args=[order.public_id]),
        {
            "version": order.version,
            "item": [str(valve.pk), "", ""],
            "name": ["", "Extra hour", ""],
            "kind": ["service", "service", "service"],
            "quantity": ["2", "1", "1"],
            "unit_price": ["", "40", ""],  # the catalogue's price when left empty
            "note": "The valve was rusted",
        },
    )
    assert response.status_code == 302, response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.NEEDS_CONFIRMATION
    assert order.total == Decimal("80.00") and order.proposed_total == Decimal("145.00")
    pending = list(order.lines.filter(state=LineState.PENDING).order_by("position"))
    assert [(x.name, x.kind, x.quantity, x.unit_price, x.item_id) for x in pending] == [
        ("Valve", "goods", Decimal("2"), Decimal("12.50"), valve.pk),
        ("Extra hour", "service", Decimal("1"), Decimal("40"), None),
    ]
    request = ExtrasRequest.objects.get(order=order)
    assert request.note == "The valve was rusted"
    page = client.get(card_url(order)).content.decode()
    assert 'data-testid="waiting-approval"' in page and "145.00" in page
    assert 'data-testid="act-complete"' not in page
    # the manager approves: back to work with the new total
    services.extras_decide(order=order, approve=True, actor=w.manager.user)
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS and order.total == Decimal("145.00")
    page = client.get(card_url(order)).content.decode()
    assert "The manager approved the last extras." in page


def test_extras_bad_input_shows_field_errors_and_saves_nothing(client, w):
    order = on_site(w)
    client.force_login(w.tech.user)
    order.refresh_from_db()
    before = (order.status, order.version, order.lines.count())
    url = reverse("workorders:tech_extras", args=[order.public_id])
    response = client.post(
        url,
        {
            "version": order.version,
            "item": ["", ""],
            "name": ["Pipe", "Tape"],
            "kind": ["goods", "goods"],
            "quantity": ["0", "1"],
            "unit_price": ["5", "abc"],
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a quantity above zero." in html and "Enter a price of zero or more." in html
    assert 'value="Pipe"' in html and 'value="abc"' in html  # kept as typed
    order.refresh_from_db()
    assert (order.status, order.version, order.lines.count()) == before
    # nothing at all
    response = client.post(url, {"version": order.version, "item": [""], "name": [""]})
    assert response.status_code == 400
    assert "Add at least one service or good." in response.content.decode()
    # an item of another organisation
    other_org, _ = other_organisation()
    foreign = CatalogueItem.objects.create(
        organisation=other_org, name="Foreign", unit_price=Decimal("1")
    )
    response = client.post(
        url, {"item": [str(foreign.pk)], "name": [""], "quantity": ["1"], "unit_price": ["1"]}
    )
    assert response.status_code == 400
    assert "Choose an item of the organisation&#x27;s catalogue." in response.content.decode()
    order.refresh_from_db()
    assert order.lines.count() == before[2]


def test_extras_refused_before_the_work_starts(client, w):
    order = assigned(w, local(today(), 10))
    client.force_login(w.tech.user)
    response = client.post(
        reverse("workorders:tech_extras", args=[order.public_id]),
        {"item": [""], "name": ["Pipe"], "quantity": ["1"], "unit_price": ["5"]},
    )
    assert response.status_code == 400
    assert "Extras are added on site: start the work first." in response.content.decode()
    assert order.lines.count() == 1


# -- photos ------------------------------------------------------------------------------------------


def test_photos_upload_and_delete_on_site(client, w):
    order = on_site(w)
    client.force_login(w.tech.user)
    url = reverse("workorders:tech_photos", args=[order.public_id])
    response = client.post(url, {"photos": [photo_upload("a.png"), photo_upload("b.png")]})
    assert response.status_code == 302
    assert order.photos.count() == 2
    page = client.get(card_url(order)).content.decode()
    photo = order.photos.first()
    assert f"/work/photo/{photo.public_id}/thumb/" in page
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = SimpleUploadedFile("fake.jpg", b"not an image", content_type="image/jpeg")
    response = client.post(url, {"photos": [text]})
    assert response.status_code == 400
    assert "fake.jpg is not a photo" in response.content.decode()
    assert order.photos.count() == 2
    response = client.post(url, {})
    assert response.status_code == 400
    delete = reverse("workorders:tech_photo_delete", args=[order.public_id, photo.public_id])
    assert client.post(delete).status_code == 302
    assert order.photos.count() == 1


# -- completion --------------------------------------------------------------------------------------


def complete_data(**overrides):
    data = {
        "work_cost": "80.00",
        "extras_cost": "0",
        "travel_cost": "0",
        "toll_miles": "12.5",
        "tips": "5",
        "payment_method": "cash",
        "payment_amount": "80.00",
        **ANSWERS,
    }
    data.update(overrides)
    return data


def test_completion_form_is_prefilled(client, w):
    order = on_site(w)
    client.force_login(w.tech.user)
    response = client.get(reverse("workorders:tech_complete", args=[order.public_id]))
    assert response.status_code == 200
    values = response.context["values"]
    assert values["work_cost"] == "80.00" and values["extras_cost"] == "0.00"
    assert values["payment_amount"] == "80.00"
    assert values["tips"] == "" and values["toll_miles"] == ""
    html = response.content.decode()
    for method in ("cash", "check", "zelle", "card_terminal", "link"):
        assert f'value="{method}"' in html
    assert "Is the work finished?" in html


def test_completion_errors_per_field_and_nothing_saved(client, w):
    order = on_site(w)
    client.force_login(w.tech.user)
    url = reverse("workorders:tech_complete", args=[order.public_id])
    data = complete_data(tips="", toll_miles="", travel_cost="abc", payment_method="")
    data.pop("answer_rating")
    response = client.post(url, data)
    assert response.status_code == 400
    errors = response.context["errors"]
    assert set(errors) >= {"tips", "toll_miles", "travel_cost", "payment_method", "photos"}
    html = response.content.decode()
    assert "This is required: enter 0 if there is none." in html
    assert "Add at least one photo of the work." in html
    assert "Choose a rating from 1 to 5." in html or "Answer this question." in html
    assert 'value="80.00"' in html  # typed values kept
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS
    assert not Payment.objects.filter(work_order=order).exists()


def test_completion_zero_is_an_answer_and_cash_stays_with_the_technician(client, w):
    order = on_site(w)
    client.force_login(w.tech.user)
    url = reverse("workorders:tech_complete", args=[order.public_id])
    response = client.post(
        url, {**complete_data(tips="0", toll_miles="0"), "photos": photo_upload()}
    )
    assert response.status_code == 302, response.context and response.context.get("errors")
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    completion = order.completion
    assert completion.tips == Decimal("0") and completion.toll_miles == Decimal("0")
    assert completion.answers["rating"]["answer"] == 5
    payment = completion.payment
    assert payment.holder == "staff" and payment.received_by_id == w.tech.pk
    assert payment.amount == Decimal("80.00")
    page = client.get(card_url(order)).content.decode()
    assert 'data-testid="waiting-confirmation"' in page
    assert 'data-testid="act-complete"' not in page
    # the form again: refused with the state machine's message
    response = client.post(url, complete_data())
    assert response.status_code == 400
    assert "already completed" in response.content.decode()


def test_completion_by_card_terminal_goes_to_the_company(client, w):
    order = on_site(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    client.force_login(w.tech.user)
    url = reverse("workorders:tech_complete", args=[order.public_id])
    response = client.post(url, complete_data(payment_method="card_terminal"))
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.completion.payment.holder == "company"


def test_completion_before_start_is_refused_with_the_message(client, w):
    order = assigned(w, local(today(), 10))
    client.force_login(w.tech.user)
    url = reverse("workorders:tech_complete", args=[order.public_id])
    page = client.get(url).content.decode()
    assert "Start the work before completing it." in page
    response = client.post(url, complete_data())
    assert response.status_code == 400
    assert "Start the work before completing it." in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED


def test_completion_while_extras_wait_is_refused(client, w):
    order = on_site(w)
    services.extras_submit(
        order=order,
        lines=[services.LineInput(kind="goods", name="Valve", quantity="1", unit_price="10")],
        actor=w.tech.user,
    )
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    client.force_login(w.tech.user)
    response = client.post(
        reverse("workorders:tech_complete", args=[order.public_id]), complete_data()
    )
    assert response.status_code == 400
    assert "waiting for a manager" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.NEEDS_CONFIRMATION


def test_whole_day_through_the_pages(client, w):
    """Accept, start, pause, resume, extras (approved by the manager), photo, cash, complete; the
    events carry the timestamps analytics needs."""
    order = assigned(w, local(today(), 10))
    client.force_login(w.tech.user)
    for action in ("accept", "start", "pause", "resume"):
        order.refresh_from_db()
        assert (
            client.post(act_url(order), {"action": action, "version": order.version}).status_code
            == 302
        )
    order.refresh_from_db()
    client.post(
        reverse("workorders:tech_extras", args=[order.public_id]),
        {
            "item": [""],
            "name": ["Valve"],
            "kind": ["goods"],
            "quantity": ["1"],
            "unit_price": ["20"],
        },
    )
    services.extras_decide(order=order, approve=True, actor=w.manager.user)
    response = client.post(
        reverse("workorders:tech_complete", args=[order.public_id]),
        {**complete_data(extras_cost="20", payment_amount="100.00"), "photos": photo_upload()},
    )
    assert response.status_code == 302
    services.work_order_confirm(order=order, actor=w.manager.user)
    order.refresh_from_db()
    assert order.status == Status.CLOSED
    # status changes (a payment's own note on the order is an "updated" event)
    events = WorkOrderEvent.objects.filter(order=order).exclude(kind="updated").order_by("pk")
    kinds = list(events.values_list("kind", flat=True))
    assert kinds == [
        "created",
        "assigned",
        "accepted",
        "started",
        "paused",
        "resumed",
        "extras_submitted",
        "extras_approved",
        "completed",
        "confirmed",
    ]
    page = client.get(card_url(order)).content.decode()
    assert 'data-testid="order-closed"' in page


# -- profile -----------------------------------------------------------------------------------------


def test_profile_shows_personal_data_and_links(client, w):
    user = w.tech.user
    user.phone = "+13105550199"
    user.save()
    client.force_login(user)
    response = client.get(reverse("workorders:tech_profile"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "+13105550199" in html and user.get_full_name() in html
    assert reverse("scheduling:my_hours") in html
    assert reverse("chat:office") in html


def test_every_page_has_the_apps_tabs_with_the_current_one_marked(client, w):
    client.force_login(w.tech.user)
    for name, key in (
        ("tech_today", "today"),
        ("tech_tomorrow", "tomorrow"),
        ("tech_month", "month"),
        ("tech_profile", "profile"),
    ):
        html = client.get(reverse(f"workorders:{name}")).content.decode()
        assert f'data-testid="tab-{key}" aria-current="page"' in html, name
        assert html.count('aria-current="page"') == 1
        assert f'href="{reverse("workorders:tech_month")}"' in html
    # the offline queue's include is on every page of the app
    assert 'data-testid="offline-queue"' in html


def test_completion_with_a_payment_link(client, w):
    from slotwise.payments.models import ProviderConfig

    order = on_site(w)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    client.force_login(w.tech.user)
    url = reverse("workorders:tech_complete", args=[order.public_id])
    # no online payment method enabled: refused with a message, nothing recorded
    response = client.post(url, complete_data(payment_method="link", link_email_to=""))
    assert response.status_code == 400
    assert "No online payment method is enabled" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS
    assert not Payment.objects.filter(work_order=order).exists()
    ProviderConfig.objects.create(organisation=w.org, provider="test")
    # a bad e-mail address for the link: its own field's error
    response = client.post(
        url, complete_data(payment_method="link", link_email_to="not-an-address")
    )
    assert response.status_code == 400
    assert "link_email_to" in response.context["errors"]
    assert not Payment.objects.filter(work_order=order).exists()
    response = client.post(
        url, complete_data(payment_method="link", link_email_to="client@example.com")
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    payment = order.completion.payment
    assert payment.work_order_id == order.pk and payment.purpose == "on_site"
    assert payment.amount == Decimal("85.00")  # the amount and the tip, paid online


def test_the_technicians_home_page_leads_to_their_orders(client):
    w = World()
    client.force_login(w.tech.user)
    page = client.get("/")
    assert page.status_code == 200
    assert 'data-testid="home-tech-orders"' in page.content.decode()
    assert reverse("workorders:tech_today") in page.content.decode()
