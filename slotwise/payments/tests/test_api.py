"""The payments and invoices API: token auth, organisation and unit scoping, refunds (201
pending / 400 field errors), invoices (create with lines, change a draft, issue, void, PDF),
customers' own invoices, and the OpenAPI schema."""

from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from slotwise.core.money import Money
from slotwise.org.roles import Role
from slotwise.payments import invoices as inv
from slotwise.payments import services
from slotwise.payments.models import Invoice, Refund, RefundStatus
from slotwise.tests_factories import (
    ContactFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)

pytestmark = pytest.mark.django_db

LINES = [{"description": "Coaching", "quantity": "2", "unit_price": "500", "tax_rate": "25"}]


def token_client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def units(org):
    root = make_unit(org, "Head office")
    return {
        "root": root,
        "north": make_unit(org, "North", root),
        "south": make_unit(org, "South", root),
    }


@pytest.fixture
def admin(units):
    return StaffFactory(unit=units["root"], roles=[Role.ORG_ADMIN])


@pytest.fixture
def paid(org, contact, test_provider):
    payment = services.payment_create(
        organisation=org, provider="test", amount=Money.of("300", "SEK"), contact=contact
    )
    payment = services.payment_start(payment=payment)
    test_provider.remote_pay(payment.provider_reference)
    return services.payment_reconcile(payment=payment)


def test_schema_lists_the_payment_endpoints(admin):
    response = token_client(admin.user).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for expected in (
        "/api/payments/",
        "/api/payments/{public_id}/",
        "/api/payments/{public_id}/refunds/",
        "/api/invoices/",
        "/api/invoices/{public_id}/",
        "/api/invoices/{public_id}/issue/",
        "/api/invoices/{public_id}/void/",
        "/api/invoices/{public_id}/pdf/",
    ):
        assert expected in paths, expected


def test_payments_list_detail_and_a_refund(admin, paid):
    client = token_client(admin.user)
    listing = client.get("/api/payments/", {"status": "paid"})
    assert listing.status_code == 200
    assert [p["public_id"] for p in listing.json()["results"]] == [str(paid.public_id)]
    assert client.get("/api/payments/", {"provider": "manual"}).json()["results"] == []
    detail = client.get(f"/api/payments/{paid.public_id}/").json()
    assert detail["paid_amount"] == "300.00" and detail["refunds"] == []
    url = f"/api/payments/{paid.public_id}/refunds/"
    bad = client.post(url, {"amount": "300.01", "reason": "goodwill"}, format="json")
    assert bad.status_code == 400 and "amount" in bad.json()
    no_reason = client.post(url, {"amount": "10"}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    created = client.post(url, {"amount": "100", "reason": "late"}, format="json")
    assert created.status_code == 201
    assert created.json()["status"] == "pending" and created.json()["amount"] == "100.00"
    # Pending refunds count: only 200 are left.
    again = client.post(url, {"amount": "200.01", "reason": "more"}, format="json")
    assert again.status_code == 400
    services.refund_execute(refund_id=Refund.objects.get().pk)
    detail = client.get(f"/api/payments/{paid.public_id}/").json()
    assert detail["status"] == "partially_refunded" and detail["refunded_amount"] == "100.00"
    assert detail["refunds"][0]["status"] == RefundStatus.SUCCEEDED


def test_payments_are_scoped(org, units, admin, paid):
    stranger = StaffFactory(
        unit=make_unit(OrganisationFactory(), "Elsewhere"), roles=[Role.ORG_ADMIN]
    )
    technician = StaffFactory(unit=units["north"], roles=[Role.TECHNICIAN])
    customer = paid.contact
    customer.user = UserFactory()
    customer.save()
    south_customer = ContactFactory(organisation=org, unit=units["south"])
    south = services.manual_payment_record(
        organisation=org, method="zelle", amount=Money.of("5", "SEK"), contact=south_customer
    )
    north_manager = StaffFactory(unit=units["north"], roles=[Role.MANAGER])

    client = token_client(stranger.user)
    assert client.get("/api/payments/").json()["results"] == []
    assert client.get(f"/api/payments/{paid.public_id}/").status_code == 404
    response = client.post(
        f"/api/payments/{paid.public_id}/refunds/", {"amount": "1", "reason": "x"}, format="json"
    )
    assert response.status_code == 404
    for user in (technician.user, customer.user):
        assert token_client(user).get("/api/payments/").status_code == 403
    north = token_client(north_manager.user)
    ids = {p["public_id"] for p in north.get("/api/payments/").json()["results"]}
    assert ids == {str(paid.public_id)}  # the customer has no unit; the south one is hidden
    assert north.get(f"/api/payments/{south.public_id}/").status_code == 404
    assert APIClient().get("/api/payments/").status_code in (401, 403)
    assert not Refund.objects.exists()


def test_invoice_life_over_the_api(org, admin, contact):
    client = token_client(admin.user)
    bad = client.post(
        "/api/invoices/",
        {
            "contact": str(contact.public_id),
            "currency": "EUR",
            "lines": [{"description": "X", "quantity": "0", "unit_price": "-1", "tax_rate": "101"}],
        },
        format="json",
    )
    assert bad.status_code == 400
    assert {"currency", "lines.0.quantity", "lines.0.unit_price", "lines.0.tax_rate"} <= set(
        bad.json()
    )
    assert not Invoice.objects.exists()
    created = client.post(
        "/api/invoices/",
        {"contact": str(contact.public_id), "lines": LINES, "due_date": "2030-01-31"},
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "draft" and body["number"] is None and body["total"] == "1250.00"
    url = f"/api/invoices/{body['public_id']}/"
    changed = client.patch(
        url,
        {"lines": [*LINES, {"description": "Book", "unit_price": "100", "tax_rate": "6"}]},
        format="json",
    )
    assert changed.status_code == 200 and changed.json()["total"] == "1356.00"
    issued = client.post(url + "issue/")
    assert issued.status_code == 200 and issued.json()["number"] == 1
    assert issued.json()["status"] == "issued"
    assert client.patch(url, {"lines": LINES}, format="json").status_code == 400
    pdf = client.get(url + "pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.post(url + "issue/").status_code == 400
    voided = client.post(url + "void/", {"reason": "duplicate"}, format="json")
    assert voided.status_code == 200 and voided.json()["status"] == "void"
    assert client.get("/api/invoices/", {"status": "void"}).json()["count"] == 1


def test_create_refuses_another_organisations_contact(admin):
    foreign = ContactFactory(organisation=OrganisationFactory())
    response = token_client(admin.user).post(
        "/api/invoices/", {"contact": str(foreign.public_id), "lines": LINES}, format="json"
    )
    assert response.status_code == 400 and "contact" in response.json()


def test_customers_read_only_their_own_issued_invoices(org, admin):
    me = ContactFactory(organisation=org, user=UserFactory())
    other = ContactFactory(organisation=org, user=UserFactory())
    mine = inv.invoice_issue(invoice=inv.invoice_create(organisation=org, contact=me, lines=LINES))
    draft = inv.invoice_create(organisation=org, contact=me, lines=LINES)
    theirs = inv.invoice_issue(
        invoice=inv.invoice_create(organisation=org, contact=other, lines=LINES)
    )
    client = token_client(me.user)
    listing = client.get("/api/invoices/").json()
    assert [i["public_id"] for i in listing["results"]] == [str(mine.public_id)]
    assert client.get(f"/api/invoices/{mine.public_id}/").status_code == 200
    assert client.get(f"/api/invoices/{mine.public_id}/pdf/").status_code == 200
    for invoice in (draft, theirs):
        assert client.get(f"/api/invoices/{invoice.public_id}/").status_code == 404
        assert client.get(f"/api/invoices/{invoice.public_id}/pdf/").status_code == 404
    # Seeing is not managing.
    assert client.post(f"/api/invoices/{mine.public_id}/void/").status_code == 403
    assert (
        client.post(
            "/api/invoices/", {"contact": str(me.public_id), "lines": LINES}, format="json"
        ).status_code
        == 403
    )
    mine.refresh_from_db()
    assert mine.status == "issued" and mine.total == Decimal("1250.00")
