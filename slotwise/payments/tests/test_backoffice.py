"""Pages: the customer's invoices (only their own), paying part of one through the pay page,
the back office (payments with filters, a refund with a reason, invoices: draft with lines,
issue, void, PDF, a manual payment) and who may reach what."""

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from slotwise.core.money import Money
from slotwise.org.roles import Role
from slotwise.payments import invoices as inv
from slotwise.payments import services
from slotwise.payments.models import (
    Invoice,
    InvoiceStatus,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from slotwise.tests_factories import (
    ContactFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)

pytestmark = pytest.mark.django_db

LINES = [{"description": "Coaching", "quantity": "2", "unit_price": "500", "tax_rate": "25"}]


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
def north_manager(units):
    return StaffFactory(unit=units["north"], roles=[Role.MANAGER])


@pytest.fixture
def customer(org):
    return ContactFactory(organisation=org, user=UserFactory(), email="c@example.test")


def _issued(org, contact, lines=LINES):
    return inv.invoice_issue(
        invoice=inv.invoice_create(organisation=org, contact=contact, lines=lines)
    )


# --- the customer's invoices ------------------------------------------------------------------


def test_customer_sees_own_issued_invoices_only(client, org, customer):
    mine = _issued(org, customer)
    draft = inv.invoice_create(organisation=org, contact=customer, lines=LINES)
    other_customer = ContactFactory(organisation=org, user=UserFactory())
    theirs = _issued(org, other_customer)
    client.force_login(customer.user)
    page = client.get(reverse("payments:my_invoices"))
    assert page.status_code == 200
    body = page.content.decode()
    assert reverse("payments:my_invoice", args=[mine.public_id]) in body
    assert str(draft.public_id) not in body and str(theirs.public_id) not in body
    assert client.get(reverse("payments:my_invoice", args=[mine.public_id])).status_code == 200
    for invoice in (draft, theirs):
        assert (
            client.get(reverse("payments:my_invoice", args=[invoice.public_id])).status_code == 404
        )
        assert (
            client.get(reverse("payments:invoice_pdf", args=[invoice.public_id])).status_code == 404
        )
        response = client.post(
            reverse("payments:my_invoice", args=[invoice.public_id]),
            {"amount": "10", "provider": "test"},
        )
        assert response.status_code == 404
    pdf = client.get(reverse("payments:invoice_pdf", args=[mine.public_id]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"


def test_customer_pays_part_then_the_rest(client, org, customer, test_provider):
    invoice = _issued(org, customer)  # 1250.00
    client.force_login(customer.user)
    url = reverse("payments:my_invoice", args=[invoice.public_id])
    too_much = client.post(url, {"amount": "1250.01", "provider": "test"})
    assert too_much.status_code == 400 and b'data-field="amount"' in too_much.content
    response = client.post(url, {"amount": "250", "provider": "test"})
    assert response.status_code == 302
    payment = invoice.payments.get()
    assert response["Location"] == reverse("payments:pay", args=[payment.public_id])
    assert payment.amount == Decimal("250.00") and payment.return_url == url
    # The test provider's page: Pay → the signed callback → back to the invoice.
    back = client.post(payment.next_action["url"], {"action": "pay"})
    assert back.status_code == 302 and back["Location"] == url
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_PAID
    page = client.get(url)
    assert b"1000.00" in page.content  # outstanding
    response = client.post(url, {"amount": "1000", "provider": "test"})
    rest = invoice.payments.exclude(pk=payment.pk).get()
    client.post(rest.next_action["url"], {"action": "pay"})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.paid_total == Decimal("1250.00")
    assert b'data-testid="pay-invoice"' not in client.get(url).content


def test_staff_are_not_customers(client, org, admin, customer):
    invoice = _issued(org, customer)
    client.force_login(admin.user)
    assert client.get(reverse("payments:my_invoices")).status_code == 404
    assert client.get(reverse("payments:my_invoice", args=[invoice.public_id])).status_code == 404
    # … but the back office may read the PDF.
    assert client.get(reverse("payments:invoice_pdf", args=[invoice.public_id])).status_code == 200


# --- back office: who sees what ---------------------------------------------------------------


def test_back_office_needs_a_manager_of_the_organisation(client, org, units, customer):
    invoice = _issued(org, customer)
    payment = inv.invoice_manual_payment(invoice=invoice, method="zelle", amount="100")
    technician = StaffFactory(unit=units["north"], roles=[Role.TECHNICIAN])
    stranger = StaffFactory(
        unit=make_unit(OrganisationFactory(currency="SEK"), "X"), roles=[Role.ORG_ADMIN]
    )
    for user, list_status, object_status in (
        (technician.user, 403, 403),
        (customer.user, 403, 403),
        (stranger.user, 200, 404),
    ):
        client.force_login(user)
        assert client.get(reverse("payments:office_payments")).status_code == list_status
        assert client.get(reverse("payments:office_invoices")).status_code == list_status
        assert (
            client.get(reverse("payments:office_payment", args=[payment.public_id])).status_code
            == object_status
        )
        assert (
            client.get(reverse("payments:office_invoice", args=[invoice.public_id])).status_code
            == object_status
        )
        assert client.post(
            reverse("payments:office_payment", args=[payment.public_id]),
            {"amount": "10", "reason": "x"},
        ).status_code in (403, 404)
    assert not Refund.objects.exists()
    client.logout()
    login = client.get(reverse("payments:office_payments"))
    assert login.status_code == 302 and "login" in login["Location"]


def test_unit_managers_see_their_units_customers_only(client, org, units, north_manager, admin):
    north = ContactFactory(organisation=org, unit=units["north"])
    south = ContactFactory(organisation=org, unit=units["south"])
    everyone = ContactFactory(organisation=org)
    invoices = {
        "north": _issued(org, north),
        "south": _issued(org, south),
        "everyone": _issued(org, everyone),
    }
    client.force_login(north_manager.user)
    listing = client.get(reverse("payments:office_invoices")).content.decode()
    assert str(invoices["north"].public_id) in listing
    assert str(invoices["everyone"].public_id) in listing
    assert str(invoices["south"].public_id) not in listing
    url = reverse("payments:office_invoice", args=[invoices["south"].public_id])
    assert client.get(url).status_code == 404
    client.force_login(admin.user)
    assert client.get(url).status_code == 200


# --- back office: payments and refunds --------------------------------------------------------


def _paid_online(org, contact, provider, amount="400"):
    payment = services.payment_create(
        organisation=org, provider="test", amount=Money.of(amount, "SEK"), contact=contact
    )
    payment = services.payment_start(payment=payment)
    provider.remote_pay(payment.provider_reference)
    return services.payment_reconcile(payment=payment)


def test_payments_list_filters(client, org, admin, customer, test_provider):
    online = _paid_online(org, customer, test_provider)
    cash = services.manual_payment_record(
        organisation=org, method="zelle", amount=Money.of("50", "SEK")
    )
    client.force_login(admin.user)
    url = reverse("payments:office_payments")

    def listed(**params):
        body = client.get(url, params).content.decode()
        return {p for p in (online, cash) if str(p.public_id) in body}

    assert listed() == {online, cash}
    assert listed(provider="test") == {online}
    assert listed(status="paid") == {online, cash}
    assert listed(status="refunded") == set()
    assert listed(q=online.provider_reference[:12]) == {online}
    # The day in the organisation's zone (the filter's): the UTC date differs around midnight.
    zone = ZoneInfo(org.time_zone)
    today = online.created_at.astimezone(zone).date().isoformat()
    assert listed(date_from=today, date_to=today) == {online, cash}
    assert listed(date_from="2001-01-01", date_to="2001-01-02") == set()


def test_refund_from_the_payment_page(client, org, admin, customer, test_provider):
    payment = _paid_online(org, customer, test_provider)
    client.force_login(admin.user)
    url = reverse("payments:office_payment", args=[payment.public_id])
    page = client.get(url)
    assert page.status_code == 200 and b'data-testid="refund-form"' in page.content
    assert b"payment.paid" in page.content or b'data-testid="status-changes"' in page.content
    no_reason = client.post(url, {"amount": "100", "reason": ""})
    assert no_reason.status_code == 400 and not Refund.objects.exists()
    too_much = client.post(url, {"amount": "400.01", "reason": "goodwill"})
    assert too_much.status_code == 400 and b'data-field="amount"' in too_much.content
    response = client.post(url, {"amount": "150", "reason": "late start"})
    assert response.status_code == 302
    refund = Refund.objects.get()
    assert refund.status == RefundStatus.PENDING and refund.created_by == admin.user
    live = client.get(reverse("payments:office_payment_live", args=[payment.public_id]))
    assert b"hx-trigger" in live.content  # polls while pending
    services.refund_execute(refund_id=refund.pk)  # what the worker does
    live = client.get(reverse("payments:office_payment_live", args=[payment.public_id]))
    assert b'data-status="partially_refunded"' in live.content
    assert b'data-status="succeeded"' in live.content and b"hx-trigger" not in live.content
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED


# --- back office: invoices --------------------------------------------------------------------


def _formset(rows, prefix="lines", extra=0, initial=0):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows) + extra),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{i}-{key}"] = value
    return data


def test_draft_issue_pdf_manual_payment_and_void(client, org, admin, customer):
    client.force_login(admin.user)
    new = reverse("payments:office_invoice_new")
    assert client.get(new).status_code == 200
    head = {"contact": customer.pk, "kind": "standard", "currency": "SEK", "due_date": ""}
    bad = client.post(
        new,
        {
            **head,
            **_formset(
                [
                    {"description": "A", "quantity": "1", "unit_price": "10", "tax_rate": "0"},
                    {"description": "B", "quantity": "0", "unit_price": "10", "tax_rate": "120"},
                ],
                extra=1,
            ),
        },
    )
    assert bad.status_code == 400
    assert b'data-field="quantity"' in bad.content and b'data-field="tax_rate"' in bad.content
    assert not Invoice.objects.exists()
    ok = client.post(
        new,
        {
            **head,
            **_formset(
                [
                    {
                        "description": "Coaching",
                        "quantity": "2",
                        "unit_price": "500",
                        "tax_rate": "25",
                    }
                ],
                extra=2,
            ),
        },
    )
    assert ok.status_code == 302
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.DRAFT and invoice.lines.count() == 1
    # Change the draft's lines.
    edit = reverse("payments:office_invoice_edit", args=[invoice.public_id])
    assert client.get(edit).status_code == 200
    r = client.post(
        edit,
        {
            "due_date": "2030-01-31",
            "notes": "",
            **_formset(
                [
                    {
                        "description": "Coaching",
                        "quantity": "2",
                        "unit_price": "500",
                        "tax_rate": "25",
                    },
                    {"description": "Book", "quantity": "1", "unit_price": "200", "tax_rate": "6"},
                ],
                initial=1,
            ),
        },
    )
    assert r.status_code == 302 and invoice.lines.count() == 2
    client.post(reverse("payments:office_invoice_issue", args=[invoice.public_id]))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.ISSUED and invoice.total == Decimal("1462.00")
    assert client.get(edit).status_code == 302  # issued: frozen
    pdf = client.get(reverse("payments:invoice_pdf", args=[invoice.public_id]))
    assert pdf.content.startswith(b"%PDF")
    # A manual payment: no more than is outstanding.
    pay = reverse("payments:office_invoice_payment", args=[invoice.public_id])
    over = client.post(pay, {"method": "zelle", "amount": "1462.01"})
    assert over.status_code == 400 and not invoice.payments.exists()
    client.post(pay, {"method": "zelle", "amount": "462"})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_PAID
    # Partly paid: can't be voided.
    client.post(reverse("payments:office_invoice_void", args=[invoice.public_id]))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_PAID
    unpaid = _issued(org, customer)
    client.post(
        reverse("payments:office_invoice_void", args=[unpaid.public_id]), {"reason": "typo"}
    )
    unpaid.refresh_from_db()
    assert unpaid.status == InvoiceStatus.VOID


def test_navigation_shows_the_pages_by_role(client, org, admin, customer):
    client.force_login(admin.user)
    home = client.get("/").content.decode()
    assert reverse("payments:office_payments") in home
    assert reverse("payments:my_invoices") not in home
    client.force_login(customer.user)
    home = client.get("/").content.decode()
    assert reverse("payments:my_invoices") in home
    assert reverse("payments:office_payments") not in home
