"""Technicians' pay (S2.10): pay rules, earnings per order / week / month in the organisation's
time zone, payouts (exact, never twice), cash held, the pages and who may see them; and the
completion questionnaire's settings."""

from __future__ import annotations

import datetime as dt
import itertools
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from slotwise.core.errors import ValidationError
from slotwise.org.roles import Role
from slotwise.payments.models import Holder, Payment
from slotwise.tests_factories import UserFactory
from slotwise.workorders import earnings, services
from slotwise.workorders.models import Earning, Payout, PayRule, Question, Source, Status
from slotwise.workorders.photos import photo_add
from slotwise.workorders.questionnaire import questions_for

from .fixtures import LA, World, local, make_org, make_staff, next_day, photo_upload

pytestmark = pytest.mark.django_db

_slot = itertools.count()


@pytest.fixture
def w():
    return World()


def closed_order(
    w,
    tech,
    *,
    labour="100.00",
    miles="10.0",
    tips="5.00",
    method="cash",
    confirm_at: dt.datetime | None = None,
):
    """An order done by `tech` through the services, paid on site, confirmed by the manager."""
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.PHONE,
        title=f"Job {next(_slot)}",
        type=w.type,
        location=w.location,
        lines=[services.LineInput(kind="labour", name="Labour", quantity="1", unit_price=labour)],
        actor=w.manager.user,
    )
    i = next(_slot)
    start = local(next_day(7 + i // 10), 8 + i % 10)
    order = services.work_order_assign(
        order=order, technician=tech, start=start, actor=w.manager.user
    )
    order = services.work_order_act(order=order, action="start", actor=tech.user)
    photo_add(order=order, upload=photo_upload(), actor=tech.user)
    order = services.work_order_complete(
        order=order,
        data=services.CompletionInput(
            work_cost=labour,
            extras_cost="0",
            travel_cost="0",
            toll_miles=miles,
            tips=tips,
            payment_method=method,
            payment_amount=labour,
            answers={"finished": "yes", "client_checked": "yes", "rating": "4"},
        ),
        actor=tech.user,
    )
    return services.work_order_confirm(order=order, actor=w.manager.user, now=confirm_at)


def earning(w, tech, day: dt.date, total: str, *, tips="0.00") -> Earning:
    """An earning row on `day` (the order behind it made through the intake service)."""
    order = services.work_order_create(
        organisation=w.org, contact=w.contact, source=Source.MANUAL, title=f"Done {next(_slot)}"
    )
    return Earning.objects.create(
        organisation=w.org,
        order=order,
        technician=tech,
        earned_on=day,
        currency=w.org.currency,
        labour=Decimal(total) - Decimal(tips),
        fixed=Decimal("0"),
        mileage=Decimal("0"),
        tips=Decimal(tips),
        total=Decimal(total),
    )


def login(client, staff):
    client.force_login(staff.user)
    return client


# -- pay rules ----------------------------------------------------------------------------------


def test_pay_rule_save_creates_and_updates_and_confirm_uses_it(w):
    rule = earnings.pay_rule_save(
        technician=w.tech,
        labour_share_percent="40",
        fixed_per_job="15,50",
        mileage_rate="0.655",
        actor=w.manager.user,
    )
    assert (rule.labour_share_percent, rule.fixed_per_job, rule.mileage_rate) == (
        Decimal("40"),
        Decimal("15.50"),
        Decimal("0.655"),
    )
    assert rule.organisation_id == w.org.pk
    again = earnings.pay_rule_save(
        technician=w.tech, labour_share_percent="50", fixed_per_job="0", mileage_rate="0.5"
    )
    assert again.pk == rule.pk and PayRule.objects.count() == 1
    order = closed_order(w, w.tech, labour="123.45", miles="12.3", tips="7.00")
    e = Earning.objects.get(order=order)
    # 50 % of 123.45 = 61.725 → 61.72 (half-even); 12.3 mi × 0.5 = 6.15
    assert (e.labour, e.fixed, e.mileage, e.tips) == (
        Decimal("61.72"),
        Decimal("0.00"),
        Decimal("6.15"),
        Decimal("7.00"),
    )
    assert e.total == e.labour + e.fixed + e.mileage + e.tips == Decimal("74.87")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("labour_share_percent", "", "enter 0"),
        ("labour_share_percent", "100.01", "between 0 and 100"),
        ("labour_share_percent", "-1", "zero or more"),
        ("labour_share_percent", "abc", "Enter a number"),
        ("labour_share_percent", "NaN", "Enter a number"),
        ("labour_share_percent", "12.345", "at most 2 decimals"),
        ("fixed_per_job", None, "enter 0"),
        ("fixed_per_job", "1e12", "too large"),
        ("mileage_rate", "0.1234", "at most 3 decimals"),
        ("mileage_rate", "-0.5", "zero or more"),
    ],
)
def test_pay_rule_bad_input_is_a_field_error_and_saves_nothing(w, field, value, message):
    values = {"labour_share_percent": "40", "fixed_per_job": "10", "mileage_rate": "0.5"}
    values[field] = value
    with pytest.raises(ValidationError) as err:
        earnings.pay_rule_save(technician=w.tech, **values)
    assert list(err.value.message_dict) == [field]
    assert message.lower() in err.value.message_dict[field][0].lower()
    assert not PayRule.objects.exists()


def test_pay_rule_only_for_technicians(w):
    with pytest.raises(ValidationError) as err:
        earnings.pay_rule_save(
            technician=w.manager, labour_share_percent="1", fixed_per_job="0", mileage_rate="0"
        )
    assert "technician" in err.value.message_dict
    assert not PayRule.objects.exists()


# -- summary ------------------------------------------------------------------------------------


def test_summary_per_week_and_month_unpaid_and_paid(w):
    today = dt.date(2026, 3, 18)  # a Wednesday
    earning(w, w.tech, dt.date(2026, 3, 16), "10.10", tips="1.00")  # this week (Mon)
    earning(w, w.tech, dt.date(2026, 3, 18), "20.20")  # this week, today
    earning(w, w.tech, dt.date(2026, 3, 15), "30.30")  # Sunday: last week, this month
    old = earning(w, w.tech, dt.date(2026, 2, 28), "40.40")  # last month
    earning(w, w.tech2, dt.date(2026, 3, 17), "999.99")  # someone else
    earning(w, w.tech, dt.date(2026, 3, 19), "5.00")  # tomorrow: not in the periods yet
    Earning.objects.filter(pk=old.pk).update(
        payout=Payout.objects.create(
            organisation=w.org,
            technician=w.tech,
            amount=Decimal("40.40"),
            currency="USD",
            period_end=dt.date(2026, 2, 28),
            paid_at=timezone.now(),
        )
    )
    s = earnings.earnings_summary(w.tech, today=today)
    assert s.currency == "USD"
    assert [w_.start for w_ in s.weeks[:2]] == [dt.date(2026, 3, 16), dt.date(2026, 3, 9)]
    assert len(s.weeks) == earnings.WEEKS and len(s.months) == earnings.MONTHS
    assert (s.this_week.orders, s.this_week.total, s.this_week.tips) == (
        2,
        Decimal("30.30"),
        Decimal("1.00"),
    )
    assert s.weeks[1].total == Decimal("30.30")
    assert s.weeks[2].orders == 0
    assert s.weeks[3].start == dt.date(2026, 2, 23)  # 28 Feb is a Saturday
    assert s.weeks[3].total == Decimal("40.40") and s.weeks[3].unpaid == 0
    assert s.weeks[3].paid == Decimal("40.40")
    assert (s.this_month.start, s.this_month.end) == (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert (s.this_month.orders, s.this_month.total) == (3, Decimal("60.60"))
    assert (s.months[1].start, s.months[1].total) == (dt.date(2026, 2, 1), Decimal("40.40"))
    assert s.months[-1].start == dt.date(2025, 4, 1)
    assert s.unpaid == Decimal("65.60") and s.unpaid_count == 4
    assert s.paid == Decimal("40.40")
    assert s.oldest_unpaid == dt.date(2026, 3, 15)


def test_summary_counts_earnings_on_the_organisation_s_day(w):
    # 06:30 UTC on Monday 9 March 2026 is 23:30 on Sunday 8 March in Los Angeles (PDT, the
    # first day of summer time): the earning belongs to the week of Monday 2 March.
    order = closed_order(w, w.tech, confirm_at=dt.datetime(2026, 3, 9, 6, 30, tzinfo=dt.UTC))
    e = Earning.objects.get(order=order)
    assert e.earned_on == dt.date(2026, 3, 8)
    s = earnings.earnings_summary(w.tech, today=dt.date(2026, 3, 10))
    assert s.weeks[0].orders == 0 and s.weeks[1].orders == 1  # the week of Monday 2 March


def test_cash_held_by_the_technician(w):
    closed_order(w, w.tech, labour="80.00", tips="5.00", method="cash")
    closed_order(w, w.tech, labour="20.00", tips="0", method="zelle")  # the company holds it
    s = earnings.earnings_summary(w.tech)
    assert len(s.held) == 1 and s.held[0].holder == Holder.STAFF
    assert [(h.currency, h.amount, h.count) for h in s.held_totals] == [
        ("USD", Decimal("85.00"), 1)
    ]
    assert earnings.earnings_summary(w.tech2).held == []


# -- payouts ------------------------------------------------------------------------------------


def test_payout_pays_exactly_the_unpaid_up_to_the_date_once(w):
    today = timezone.now().astimezone(LA).date()
    a = earning(w, w.tech, today - dt.timedelta(days=10), "10.01")
    b = earning(w, w.tech, today - dt.timedelta(days=3), "20.02")
    c = earning(w, w.tech, today, "0.07")
    other = earning(w, w.tech2, today - dt.timedelta(days=3), "50.00")
    payout = earnings.payout_record(
        technician=w.tech, up_to=today - dt.timedelta(days=1), actor=w.manager.user, note=" wire "
    )
    assert payout.amount == Decimal("30.03") and payout.currency == "USD"
    assert payout.note == "wire" and payout.created_by == w.manager.user
    assert payout.period_end == today - dt.timedelta(days=1)
    assert set(payout.earnings.all()) == {a, b}
    c.refresh_from_db()
    other.refresh_from_db()
    assert c.payout is None and other.payout is None
    with pytest.raises(ValidationError) as err:  # the same period again: nothing left
        earnings.payout_record(technician=w.tech, up_to=today - dt.timedelta(days=1))
    assert "up_to" in err.value.message_dict
    second = earnings.payout_record(technician=w.tech, up_to=today, expected_amount="0.07")
    assert second.amount == Decimal("0.07") and list(second.earnings.all()) == [c]
    assert Payout.objects.filter(technician=w.tech).count() == 2
    assert earnings.unpaid_total(w.tech) == 0


def test_payout_bad_input_saves_nothing(w):
    today = timezone.now().astimezone(LA).date()
    earning(w, w.tech, today, "12.34")
    cases = [
        ({"up_to": today + dt.timedelta(days=1)}, "up_to"),
        ({"up_to": "2026-01-01"}, "up_to"),
        ({"up_to": None}, "up_to"),
        ({"up_to": today, "expected_amount": "12.35"}, "amount"),
        ({"up_to": today, "expected_amount": "lots"}, "amount"),
        ({"up_to": today, "note": "x" * 256}, "note"),
        ({"up_to": today - dt.timedelta(days=1)}, "up_to"),  # nothing unpaid up to then
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as err:
            earnings.payout_record(technician=w.tech, **kwargs)
        assert field in err.value.message_dict, kwargs
    assert not Payout.objects.exists()
    assert Earning.objects.filter(payout__isnull=True).count() == 1


def test_payout_with_the_amount_seen_refuses_a_changed_sum(w):
    today = timezone.now().astimezone(LA).date()
    earning(w, w.tech, today, "10.00")
    seen = earnings.unpaid_total(w.tech, up_to=today)
    earning(w, w.tech, today, "5.00")  # confirmed while the manager looked at the page
    with pytest.raises(ValidationError) as err:
        earnings.payout_record(technician=w.tech, up_to=today, expected_amount=seen)
    assert "15.00" in err.value.message_dict["amount"][0]
    assert not Payout.objects.exists()


# -- pages: access ------------------------------------------------------------------------------


@pytest.fixture
def other_manager(w):
    return make_staff(w.org, unit=w.other_team, roles=(Role.MANAGER,), hours=())


def test_technician_sees_only_their_own_earnings(client, w):
    mine = closed_order(w, w.tech, labour="100.00", tips="5.00")
    theirs = closed_order(w, w.tech2, labour="300.00", tips="9.00")
    login(client, w.tech)
    response = client.get(reverse("workorders:tech_earnings"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"#{mine.number}" in html and f"#{theirs.number}" not in html
    assert response.context["summary"].unpaid == Earning.objects.get(order=mine).total
    assert [e.order_id for e in response.context["history"]] == [mine.pk]
    assert response.context["summary"].held_totals[0].amount == Decimal("105.00")
    for name, args in (("workorders:pay_rules", []), ("workorders:pay_technician", [w.tech.pk])):
        assert client.get(reverse(name, args=args)).status_code == 403
    assert client.get(reverse("workorders:questions")).status_code == 403


def test_technician_page_queries_do_not_grow_with_the_history(
    client, w, django_assert_max_num_queries
):
    today = timezone.now().astimezone(LA).date()
    earning(w, w.tech, today, "10.00")
    login(client, w.tech)
    with django_assert_max_num_queries(20) as few:
        assert client.get(reverse("workorders:tech_earnings")).status_code == 200
    for i in range(40):
        earning(w, w.tech, today - dt.timedelta(days=i * 3), "1.25")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("workorders:tech_earnings"))
    assert response.context["summary"].unpaid == Decimal("60.00")
    assert len(response.context["history"]) == 25  # one page
    assert client.get(reverse("workorders:tech_earnings") + "?page=2").status_code == 200


def test_customer_and_anonymous_get_nothing(client, w):
    assert client.get(reverse("workorders:tech_earnings")).status_code == 302  # to the login
    client.force_login(UserFactory())
    for name, args in (
        ("workorders:tech_earnings", []),
        ("workorders:pay_rules", []),
        ("workorders:pay_technician", [w.tech.pk]),
        ("workorders:questions", []),
    ):
        assert client.get(reverse(name, args=args)).status_code == 403


def test_manager_sees_only_their_units_technicians(client, w, other_manager):
    valley_tech = make_staff(w.org, unit=w.other_team, first_name="Val")
    other_org = make_org()
    from slotwise.tests_factories import make_unit

    stranger = make_staff(other_org, unit=make_unit(other_org, "Elsewhere"))
    login(client, w.manager)
    response = client.get(reverse("workorders:pay_rules"))
    assert response.status_code == 200
    assert {r.staff.pk for r in response.context["rows"]} == {w.tech.pk, w.tech2.pk}
    assert client.get(reverse("workorders:pay_technician", args=[w.tech.pk])).status_code == 200
    for member in (valley_tech, stranger, w.manager):
        url = reverse("workorders:pay_technician", args=[member.pk])
        assert client.get(url).status_code == 404
        assert client.post(url, {"action": "payout"}).status_code == 404
    login(client, other_manager)
    rows = client.get(reverse("workorders:pay_rules")).context["rows"]
    assert [r.staff.pk for r in rows] == [valley_tech.pk]
    assert client.get(reverse("workorders:pay_technician", args=[w.tech.pk])).status_code == 404


def test_org_admin_sees_every_unit(client, w):
    admin = make_staff(w.org, unit=w.root, roles=(Role.ORG_ADMIN,), hours=())
    valley_tech = make_staff(w.org, unit=w.other_team)
    login(client, admin)
    rows = client.get(reverse("workorders:pay_rules")).context["rows"]
    assert {r.staff.pk for r in rows} == {w.tech.pk, w.tech2.pk, valley_tech.pk}


def test_overview_shows_rule_unpaid_and_cash_in_constant_queries(
    client, w, django_assert_max_num_queries
):
    earnings.pay_rule_save(
        technician=w.tech, labour_share_percent="30", fixed_per_job="10", mileage_rate="0"
    )
    closed_order(w, w.tech, labour="100.00", tips="5.00")
    login(client, w.manager)
    with django_assert_max_num_queries(12) as few:
        response = client.get(reverse("workorders:pay_rules"))
    rows = {r.staff.pk: r for r in response.context["rows"]}
    assert rows[w.tech.pk].rule.labour_share_percent == Decimal("30.00")
    assert rows[w.tech.pk].unpaid == Decimal("45.00")  # 30 + 10 + 0 + 5
    assert rows[w.tech.pk].held == Decimal("105.00") and rows[w.tech.pk].held_count == 1
    assert rows[w.tech2.pk].rule is None and rows[w.tech2.pk].unpaid == 0
    for _ in range(8):
        tech = make_staff(w.org, unit=w.team)
        earnings.pay_rule_save(
            technician=tech, labour_share_percent="1", fixed_per_job="1", mileage_rate="1"
        )
        earning(w, tech, timezone.now().astimezone(LA).date(), "3.00")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("workorders:pay_rules"))
    assert len(response.context["rows"]) == 10


# -- pages: the manager's actions ---------------------------------------------------------------


def test_pay_rule_form_errors_and_save(client, w):
    login(client, w.manager)
    url = reverse("workorders:pay_technician", args=[w.tech.pk])
    response = client.post(
        url,
        {
            "action": "rule",
            "rule-labour_share_percent": "150",
            "rule-fixed_per_job": "",
            "rule-mileage_rate": "0.5",
        },
    )
    assert response.status_code == 400
    form = response.context["rule_form"]
    assert set(form.errors) == {"labour_share_percent", "fixed_per_job"}
    assert 'data-field="labour_share_percent"' in response.content.decode()
    assert not PayRule.objects.exists()
    response = client.post(
        url,
        {
            "action": "rule",
            "rule-labour_share_percent": "35",
            "rule-fixed_per_job": "12.5",
            "rule-mileage_rate": "0.5",
        },
    )
    assert response.status_code == 302
    rule = PayRule.objects.get(technician=w.tech)
    assert rule.labour_share_percent == Decimal("35") and rule.fixed_per_job == Decimal("12.50")


def test_record_payout_from_the_page_once(client, w):
    today = timezone.now().astimezone(LA).date()
    earning(w, w.tech, today - dt.timedelta(days=2), "40.00")
    earning(w, w.tech, today, "2.50")
    login(client, w.manager)
    url = reverse("workorders:pay_technician", args=[w.tech.pk])
    page = client.get(url)
    assert page.context["payout_amount"] == Decimal("42.50")
    # another date first shows its sum (nothing recorded)
    earlier = (today - dt.timedelta(days=1)).isoformat()
    form = {
        "action": "payout",
        "payout-up_to": earlier,
        "payout-amount": "42.50",
        "payout-amount_for": today.isoformat(),
    }
    response = client.post(url, form)
    assert response.status_code == 200 and not Payout.objects.exists()
    assert response.context["payout_amount"] == Decimal("40.00")
    assert response.context["payout_preview"]
    form.update({"payout-amount": "40.00", "payout-amount_for": earlier, "payout-note": "Wire"})
    response = client.post(url, form)
    assert response.status_code == 302
    payout = Payout.objects.get()
    assert payout.amount == Decimal("40.00") and payout.note == "Wire"
    response = client.post(url, form)  # the same form again (a double click, a reload)
    assert response.status_code == 400
    assert "no unpaid earnings" in response.content.decode()
    assert Payout.objects.count() == 1
    page = client.get(url)
    assert page.context["payout_amount"] == Decimal("2.50")


def test_payout_page_bad_input(client, w):
    today = timezone.now().astimezone(LA).date()
    earning(w, w.tech, today, "40.00")
    login(client, w.manager)
    url = reverse("workorders:pay_technician", args=[w.tech.pk])
    future = (today + dt.timedelta(days=2)).isoformat()
    for data, field in (
        ({"payout-up_to": ""}, "up_to"),
        ({"payout-up_to": "31.31.2026"}, "up_to"),
        ({"payout-up_to": future, "payout-amount_for": future}, "up_to"),
    ):
        response = client.post(url, {"action": "payout", **data})
        assert response.status_code == 400, data
        assert field in response.context["payout_form"].errors, data
    # the sum changed since the page was shown: a form error, nothing paid
    response = client.post(
        url,
        {
            "action": "payout",
            "payout-up_to": today.isoformat(),
            "payout-amount": "39.99",
            "payout-amount_for": today.isoformat(),
        },
    )
    assert response.status_code == 400
    assert response.context["payout_form"].non_field_errors()
    assert not Payout.objects.exists()
    assert client.post(url, {"action": "nonsense"}).status_code == 404


def test_cash_handed_over_from_the_page(client, w):
    closed_order(w, w.tech, labour="60.00", tips="0", method="cash")
    payment = Payment.objects.get(received_by=w.tech)
    login(client, w.manager)
    url = reverse("workorders:pay_technician", args=[w.tech.pk])
    response = client.post(url, {"action": "hand_over"})
    assert response.status_code == 400 and response.context["hand_over_error"]
    other = closed_order(w, w.tech2, labour="70.00", tips="0", method="cash")
    other_payment = Payment.objects.get(work_order=other)
    response = client.post(
        url, {"action": "hand_over", "payment": [str(payment.pk), str(other_payment.pk)]}
    )
    assert response.status_code == 302
    payment.refresh_from_db()
    other_payment.refresh_from_db()
    assert payment.handed_over_at is not None
    assert other_payment.handed_over_at is None  # not this technician's: untouched
    assert earnings.earnings_summary(w.tech).held == []


# -- questionnaire settings ---------------------------------------------------------------------


def test_questions_page_add_edit_deactivate(client, w):
    login(client, w.manager)
    url = reverse("workorders:questions")
    page = client.get(url)
    assert page.status_code == 200 and page.context["using_defaults"]
    response = client.post(url, {"text": "  ", "kind": "text", "position": "x"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"text", "position"}
    response = client.post(url, {"text": "Bad", "kind": "essay"})
    assert response.status_code == 400 and "kind" in response.context["form"].errors
    assert not Question.objects.exists()
    assert client.post(url, {"text": "Old parts taken away?", "kind": "yes_no"}).status_code == 302
    assert client.post(url, {"text": "Anything to note?", "kind": "text"}).status_code == 302
    first, second = Question.objects.order_by("position")
    assert (first.required, second.required) == (False, False)  # the box was not ticked
    assert second.position == first.position + 1
    specs = questions_for(w.org)
    assert [s.text for s in specs] == ["Old parts taken away?", "Anything to note?"]
    edit = reverse("workorders:question_edit", args=[first.pk])
    assert client.post(edit, {"text": "", "kind": "yes_no"}).status_code == 400
    response = client.post(
        edit, {"text": "Old parts removed?", "kind": "yes_no", "required": "on", "position": "9"}
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.text, first.required, first.position) == ("Old parts removed?", True, 9)
    for q in (first, second):
        client.post(reverse("workorders:question_active", args=[q.pk]), {"active": "0"})
    assert not Question.objects.filter(active=True).exists()
    assert [s.key for s in questions_for(w.org)] == ["finished", "client_checked", "rating"]
    assert client.get(url).context["using_defaults"]
    client.post(reverse("workorders:question_active", args=[second.pk]), {"active": "1"})
    assert [s.text for s in questions_for(w.org)] == ["Anything to note?"]


def test_questions_start_from_the_defaults_once(client, w):
    login(client, w.manager)
    url = reverse("workorders:questions_defaults")
    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 302
    own = list(Question.objects.filter(organisation=w.org))
    assert len(own) == 3 and all(q.active and q.required for q in own)
    assert [s.kind for s in questions_for(w.org)] == ["yes_no", "yes_no", "rating"]


def test_questions_of_another_organisation_are_not_found(client, w):
    other_org = make_org()
    stranger = Question.objects.create(organisation=other_org, text="Theirs?", kind="yes_no")
    login(client, w.manager)
    assert client.get(reverse("workorders:question_edit", args=[stranger.pk])).status_code == 404
    response = client.post(
        reverse("workorders:question_active", args=[stranger.pk]), {"active": "0"}
    )
    assert response.status_code == 404
    stranger.refresh_from_db()
    assert stranger.active
    with pytest.raises(ValidationError):
        earnings.question_save(organisation=w.org, question=stranger, text="Mine?", kind="text")


def test_completion_answers_the_organisation_s_questions(w):
    q = earnings.question_save(organisation=w.org, text="Area cleaned?", kind="yes_no")
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.PHONE,
        title="Sink",
        type=w.type,
        location=w.location,
    )
    order = services.work_order_assign(
        order=order, technician=w.tech, start=local(next_day(30), 9), actor=w.manager.user
    )
    order = services.work_order_act(order=order, action="start", actor=w.tech.user)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    data = services.CompletionInput(
        work_cost="0",
        extras_cost="0",
        travel_cost="0",
        toll_miles="0",
        tips="0",
        payment_method="cash",
        payment_amount="0",
        answers={"finished": "yes"},
    )
    with pytest.raises(ValidationError) as err:
        services.work_order_complete(order=order, data=data, actor=w.tech.user)
    assert list(err.value.message_dict) == [f"answers.q{q.pk}"]
    data.answers = {f"q{q.pk}": "yes"}
    order = services.work_order_complete(order=order, data=data, actor=w.tech.user)
    assert order.status == Status.COMPLETED
    assert order.completion.answers == {f"q{q.pk}": {"question": "Area cleaned?", "answer": "yes"}}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
def test_concurrent_payouts_pay_once():
    """Eight managers press "Record payout" at the same moment: one payout, the rest refused."""
    w = World()
    today = timezone.now().astimezone(LA).date()
    for i in range(5):
        earning(w, w.tech, today - dt.timedelta(days=i), f"{10 + i}.10")

    def attempt(_):
        try:
            earnings.payout_record(technician=w.tech, up_to=today)
            return "ok"
        except ValidationError:
            return "refused"
        except BaseException as exc:  # noqa: BLE001 - reported below
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert sorted(map(str, results)) == ["ok"] + ["refused"] * 7
    payout = Payout.objects.get(technician=w.tech)
    assert payout.amount == Decimal("60.50")
    assert set(Earning.objects.values_list("payout", flat=True)) == {payout.pk}
