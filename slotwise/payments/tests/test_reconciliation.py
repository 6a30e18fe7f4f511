"""Reconciliation (issue 4 item 6): per day and provider, cash held by staff, CSV, access."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from slotwise.core.money import Money
from slotwise.org.roles import Role
from slotwise.payments import reconciliation, services
from slotwise.payments.models import Payment
from slotwise.payments.providers.base import ProviderState
from slotwise.tests_factories import ContactFactory, OrganisationFactory, StaffFactory, make_unit

pytestmark = pytest.mark.django_db

ZONE = ZoneInfo("Europe/Stockholm")


@pytest.fixture
def unit(org):
    return make_unit(org, "Stockholm")


@pytest.fixture
def manager(org, unit):
    return StaffFactory(unit=unit, roles=[Role.MANAGER])


@pytest.fixture
def techs(org, unit):
    return [
        StaffFactory(unit=unit, roles=[Role.TECHNICIAN], user__first_name=name)
        for name in ("Anna", "Bo")
    ]


def _at(payment, day: datetime.date, hour: int = 12):
    """Move a payment's creation to `hour`:00 local time on `day`."""
    when = datetime.datetime.combine(day, datetime.time(hour), tzinfo=ZONE)
    Payment.objects.filter(pk=payment.pk).update(created_at=when)
    return payment


def _online(org, amount: str, *, paid: str = "", refunded: str = "", fee: str = "", **kw):
    payment = services.payment_create(
        organisation=org, provider="test", amount=Money.of(amount, "SEK"), **kw
    )
    if paid:
        services._apply(
            payment_id=payment.pk,
            state=ProviderState(
                reference=f"ref-{payment.pk}",
                paid=Money.of(paid, "SEK"),
                refunded=Money.of(refunded, "SEK") if refunded else None,
                fee=Money.of(fee, "SEK") if fee else None,
            ),
        )
    return payment


@pytest.fixture
def day():
    return timezone.now().astimezone(ZONE).date() - datetime.timedelta(days=1)


@pytest.fixture
def data(org, techs, day, test_provider):
    anna, bo = techs
    contact = ContactFactory(organisation=org)
    # Online, yesterday: two paid (one with a fee and a partial refund), one open, one failed.
    _at(_online(org, "500.00", paid="500.00", fee="7.25", refunded="100.00"), day)
    _at(_online(org, "300.00", paid="300.00", contact=contact), day, hour=23)
    _at(_online(org, "200.00"), day, hour=1)
    failed = _at(_online(org, "50.00"), day)
    services._apply(payment_id=failed.pk, state=ProviderState(reference="x", failed=True))
    # The day before: one paid online payment (a row of its own).
    _at(_online(org, "80.00", paid="80.00"), day - datetime.timedelta(days=1))
    # Manual on site, yesterday: cash with a tip (Anna), a check (Bo), Zelle (the company).
    cash = services.manual_payment_record(
        organisation=org,
        method="cash",
        amount=Money.of("400.00", "SEK"),
        tip=Money.of("20.00", "SEK"),
        received_by=anna,
    )
    check = services.manual_payment_record(
        organisation=org, method="check", amount=Money.of("250.00", "SEK"), received_by=bo
    )
    zelle = services.manual_payment_record(
        organisation=org, method="zelle", amount=Money.of("75.00", "SEK"), received_by=anna
    )
    for p in (cash, check, zelle):
        _at(p, day)
    # Another organisation's payment the same day must not show.
    other = OrganisationFactory(time_zone="Europe/Stockholm", currency="SEK")
    stranger = StaffFactory(unit=make_unit(other, "X"))
    _at(
        services.manual_payment_record(
            organisation=other,
            method="cash",
            amount=Money.of("999.00", "SEK"),
            received_by=stranger,
        ),
        day,
    )
    return {"cash": cash, "check": check, "zelle": zelle}


def _row(rows, provider, method="", day=None):
    matches = [
        r
        for r in rows
        if r.provider == provider and r.method == method and (day is None or r.day == day)
    ]
    assert len(matches) == 1, matches
    return matches[0]


def test_day_rows_expected_received_refunds_fees_counts(org, data, day):
    rows = reconciliation.day_rows(
        organisation=org, date_from=day - datetime.timedelta(days=1), date_to=day
    )
    test = _row(rows, "test", day=day)
    assert test.expected_count == 4 and test.expected == Decimal("1050.00")
    assert test.received_count == 2 and test.received == Decimal("800.00")
    assert test.refunded == Decimal("100.00")
    assert test.fees == Decimal("7.25") and test.fees_reported == 1
    assert (test.open_count, test.failed_count, test.cancelled_count) == (1, 1, 0)
    assert test.difference == Decimal("250.00")
    assert test.net == Decimal("692.75")
    earlier = _row(rows, "test", day=day - datetime.timedelta(days=1))
    assert earlier.expected == earlier.received == Decimal("80.00")
    cash = _row(rows, "manual", "cash")
    assert cash.expected == cash.received == Decimal("420.00")  # the tip is expected and received
    assert _row(rows, "manual", "check").received == Decimal("250.00")
    assert _row(rows, "manual", "zelle").received == Decimal("75.00")
    # Nothing of the other organisation, nothing outside the period.
    assert sum(r.expected_count for r in rows) == 8
    only_day = reconciliation.day_rows(organisation=org, date_from=day, date_to=day)
    assert all(r.day == day for r in only_day)
    totals = reconciliation.totals(rows)
    assert totals[0]["received"] == Decimal("1625.00") and totals[0]["currency"] == "SEK"


def test_days_are_local_days(org, test_provider, day):
    # 00:30 local on `day` is still the day before in UTC: it belongs to `day`.
    payment = _online(org, "10.00")
    when = datetime.datetime.combine(day, datetime.time(0, 30), tzinfo=ZONE)
    Payment.objects.filter(pk=payment.pk).update(created_at=when)
    rows = reconciliation.day_rows(organisation=org, date_from=day, date_to=day)
    assert [r.day for r in rows] == [day]


def test_held_by_staff_until_handed_over(org, data, techs):
    anna, bo = techs
    held = {(h.staff_id, h.currency): h for h in reconciliation.held_rows(organisation=org)}
    assert set(held) == {(anna.pk, "SEK"), (bo.pk, "SEK")}  # Zelle is the company's
    assert held[(anna.pk, "SEK")].amount == Decimal("420.00") and held[(anna.pk, "SEK")].count == 1
    assert held[(bo.pk, "SEK")].amount == Decimal("250.00")
    services.manual_payment_hand_over(payments=[data["check"]])
    held = {h.staff_id for h in reconciliation.held_rows(organisation=org)}
    assert held == {anna.pk}


def test_report_page_and_hand_over(client, org, data, manager, techs, day):
    anna, _bo = techs
    client.force_login(manager.user)
    url = reverse("payments:reconciliation")
    page = client.get(url, {"date_from": day.isoformat(), "date_to": day.isoformat()})
    assert page.status_code == 200
    content = page.content.decode()
    assert 'data-provider="test"' in content and 'data-method="cash"' in content
    assert "999.00" not in content  # another organisation's cash
    assert content.count('data-testid="recon-held"') == 2
    response = client.post(
        reverse("payments:reconciliation_hand_over", args=[anna.pk]),
        {"payment": [data["cash"].pk, data["check"].pk]},  # Bo's check is not Anna's
    )
    assert response.status_code == 302
    data["cash"].refresh_from_db()
    data["check"].refresh_from_db()
    assert data["cash"].handed_over_at is not None
    assert data["check"].handed_over_at is None
    page = client.get(url)
    assert page.content.decode().count('data-testid="recon-held"') == 1


def test_csv_has_a_row_per_day_and_provider_and_per_holder(client, org, data, manager, day):
    client.force_login(manager.user)
    response = client.get(
        reverse("payments:reconciliation_csv"),
        {"date_from": (day - datetime.timedelta(days=1)).isoformat(), "date_to": day.isoformat()},
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    days = [r for r in rows if r["kind"] == "day"]
    held = [r for r in rows if r["kind"] == "held"]
    assert len(days) == 5  # test × 2 days, cash, check, zelle
    test_row = next(r for r in days if r["provider"] == "test" and r["day"] == day.isoformat())
    assert test_row["expected"] == "1050.00" and test_row["received"] == "800.00"
    assert test_row["fees"] == "7.25" and test_row["refunded"] == "100.00"
    assert sorted(r["held_amount"] for r in held) == ["250.00", "420.00"]


def test_only_managers_of_the_organisation(client, org, data, unit, techs):
    tech = techs[0]
    client.force_login(tech.user)
    assert client.get(reverse("payments:reconciliation")).status_code == 403
    assert client.get(reverse("payments:reconciliation_csv")).status_code == 403
    response = client.post(
        reverse("payments:reconciliation_hand_over", args=[tech.pk]),
        {"payment": [data["cash"].pk]},
    )
    assert response.status_code == 403
    # A manager of another organisation sees only their own (empty) report and can't hand over.
    other = StaffFactory(unit=make_unit(OrganisationFactory(), "HQ"), roles=[Role.ORG_ADMIN])
    client.force_login(other.user)
    page = client.get(reverse("payments:reconciliation"))
    assert page.status_code == 200 and b'data-testid="recon-held-none"' in page.content
    client.post(
        reverse("payments:reconciliation_hand_over", args=[tech.pk]),
        {"payment": [data["cash"].pk]},
    )
    data["cash"].refresh_from_db()
    assert data["cash"].handed_over_at is None


def test_navigation_entry_for_managers_only(org, manager, techs):
    from slotwise.core.navigation import menu_for

    url = reverse("payments:reconciliation")
    assert url in [i["url"] for i in menu_for(manager.user)]
    assert url not in [i["url"] for i in menu_for(techs[0].user)]
