"""Invoices: create / change / issue / void with field-level errors and nothing half-saved,
gapless numbers, final invoices deducting paid advances, the PDF, paying (partly) online."""

import datetime
from decimal import Decimal

import pytest

from slotwise.core.errors import ValidationError
from slotwise.payments import invoices as inv
from slotwise.payments import services
from slotwise.payments.models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    PaymentStatus,
)
from slotwise.tests_factories import ContactFactory, OrganisationFactory

pytestmark = pytest.mark.django_db

LINES = [
    {"description": "Consultation", "quantity": "2", "unit_price": "400.00", "tax_rate": "25"},
    {"description": "Travel", "quantity": "1", "unit_price": "99.99", "tax_rate": "6"},
]


def make(org, contact, lines=LINES, **kw):
    return inv.invoice_create(organisation=org, contact=contact, lines=lines, **kw)


def issued(org, contact, lines=LINES, **kw):
    return inv.invoice_issue(invoice=make(org, contact, lines, **kw))


def test_create_issue_freezes_totals_per_rate(org, contact):
    invoice = make(org, contact, due_date=datetime.date(2030, 1, 31))
    assert invoice.status == InvoiceStatus.DRAFT and invoice.number is None
    assert invoice.currency == "SEK"
    invoice = inv.invoice_issue(invoice=invoice)
    # 800.00 + 200.00 tax; 99.99 + 6.00 (5.9994 rounded) tax
    assert invoice.net_total == Decimal("899.99")
    assert invoice.tax_total == Decimal("206.00")
    assert invoice.total == Decimal("1105.99")
    rows = {r["rate"]: r for r in inv.tax_breakdown(invoice)}
    assert rows[Decimal("25")]["gross"] == Decimal("1000.00")
    assert rows[Decimal("6")]["tax"] == Decimal("6.00")
    assert sum(r["gross"] for r in rows.values()) == invoice.total


def test_numbers_are_consecutive_per_organisation(org, contact):
    other = OrganisationFactory(currency="SEK")
    other_contact = ContactFactory(organisation=other)
    a = issued(org, contact)
    issued(other, other_contact)
    b = issued(org, contact)
    draft = make(org, contact)
    c = inv.invoice_issue(invoice=draft)
    assert [a.number, b.number, c.number] == [1, 2, 3]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": "0"}, "lines.0.quantity"),
        ({"quantity": "-1"}, "lines.0.quantity"),
        ({"quantity": "1.0001"}, "lines.0.quantity"),
        ({"tax_rate": "100.01"}, "lines.0.tax_rate"),
        ({"tax_rate": "-1"}, "lines.0.tax_rate"),
        ({"unit_price": "-5"}, "lines.0.unit_price"),
        ({"unit_price": "1.005"}, "lines.0.unit_price"),
        ({"unit_price": "abc"}, "lines.0.unit_price"),
        ({"description": "  "}, "lines.0.description"),
    ],
)
def test_bad_lines_are_field_level_and_nothing_is_saved(org, contact, line, field):
    bad = {**LINES[0], **line}
    with pytest.raises(ValidationError) as exc:
        make(org, contact, lines=[bad, LINES[1]])
    assert set(exc.value.message_dict) == {field}
    assert not Invoice.objects.exists() and not InvoiceLine.objects.exists()


def test_currency_contact_kind_and_empty_lines_are_checked(org, contact):
    stranger = ContactFactory(organisation=OrganisationFactory())
    with pytest.raises(ValidationError) as exc:
        inv.invoice_create(
            organisation=org, contact=stranger, lines=[], currency="EUR", kind="weird"
        )
    assert set(exc.value.message_dict) == {"contact", "currency", "kind", "lines"}
    assert not Invoice.objects.exists()


def test_update_lines_only_on_drafts(org, contact):
    invoice = make(org, contact)
    inv.invoice_update_lines(
        invoice=invoice,
        lines=[{"description": "Only", "quantity": 1, "unit_price": "10", "tax_rate": 0}],
        due_date=datetime.date(2030, 2, 1),
    )
    assert [line.description for line in invoice.lines.all()] == ["Only"]
    assert invoice.due_date == datetime.date(2030, 2, 1)
    # A bad update leaves the old lines as they were.
    with pytest.raises(ValidationError):
        inv.invoice_update_lines(invoice=invoice, lines=[{**LINES[0], "tax_rate": "101"}])
    assert [line.description for line in invoice.lines.all()] == ["Only"]
    inv.invoice_issue(invoice=invoice)
    with pytest.raises(ValidationError) as exc:
        inv.invoice_update_lines(invoice=invoice, lines=LINES)
    assert "status" in exc.value.message_dict


def test_void_only_issued_and_unpaid(org, contact):
    draft = make(org, contact)
    with pytest.raises(ValidationError):
        inv.invoice_void(invoice=draft)
    invoice = issued(org, contact)
    inv.invoice_manual_payment(invoice=invoice, method="zelle", amount="100")
    with pytest.raises(ValidationError):
        inv.invoice_void(invoice=invoice)
    unpaid = issued(org, contact)
    inv.invoice_void(invoice=unpaid, reason="wrong customer")
    assert unpaid.status == InvoiceStatus.VOID and unpaid.number is not None
    with pytest.raises(ValidationError):
        inv.invoice_pay_start(invoice=unpaid, amount="10", provider="test", return_url="/")


def test_final_invoice_deducts_paid_advances_once(org, contact):
    advance = issued(
        org,
        contact,
        [{"description": "Advance", "quantity": 1, "unit_price": "1000", "tax_rate": "25"}],
        kind=InvoiceKind.ADVANCE,
    )
    inv.invoice_manual_payment(invoice=advance, method="zelle", amount="1250")
    unpaid_advance = issued(org, contact, kind=InvoiceKind.ADVANCE)
    final = make(
        org,
        contact,
        [{"description": "Kitchen", "quantity": 1, "unit_price": "4000", "tax_rate": "25"}],
        kind=InvoiceKind.FINAL,
    )
    deduction = final.lines.get(deducts__isnull=False)
    assert deduction.deducts == advance and deduction.unit_price == Decimal("-1250.00")
    assert unpaid_advance.deducted_by.count() == 0
    # A second final invoice doesn't deduct the same advance again.
    second = make(org, contact, kind=InvoiceKind.FINAL)
    assert not second.lines.filter(deducts__isnull=False).exists()
    final = inv.invoice_issue(invoice=final)
    assert final.total == Decimal("5000.00") - Decimal("1250.00")


def test_final_deduction_follows_what_was_paid_by_issue(org, contact):
    advance = issued(
        org,
        contact,
        [{"description": "Advance", "quantity": 1, "unit_price": "500", "tax_rate": "0"}],
        kind=InvoiceKind.ADVANCE,
    )
    inv.invoice_manual_payment(invoice=advance, method="zelle", amount="200")
    final = make(org, contact, kind=InvoiceKind.FINAL)
    assert final.lines.get(deducts=advance).unit_price == Decimal("-200.00")
    inv.invoice_manual_payment(invoice=advance, method="zelle", amount="300")
    final = inv.invoice_issue(invoice=final)
    assert final.lines.get(deducts=advance).unit_price == Decimal("-500.00")
    assert final.total == Decimal("1105.99") - Decimal("500.00")


def test_partial_payments_online_then_paid(org, contact, test_provider):
    invoice = issued(org, contact)
    first = inv.invoice_pay_start(invoice=invoice, amount="500", provider="test", return_url="/x/")
    assert first.purpose == "invoice" and first.next_action["kind"] == "redirect"
    # While it is open, its amount is reserved.
    assert inv.payable(invoice).amount == Decimal("605.99")
    with pytest.raises(ValidationError) as exc:
        inv.invoice_manual_payment(invoice=invoice, method="zelle", amount="606.00")
    assert "amount" in exc.value.message_dict
    test_provider.remote_pay(first.provider_reference)
    services.payment_reconcile(payment=first)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_PAID and invoice.paid_total == Decimal("500")
    for bad in ("0.99", "605.991", "606"):
        with pytest.raises(ValidationError):
            inv.invoice_pay_start(invoice=invoice, amount=bad, provider="test", return_url="/")
    rest = inv.invoice_pay_start(
        invoice=invoice, amount="605.99", provider="test", return_url="/x/"
    )
    test_provider.remote_pay(rest.provider_reference)
    services.payment_reconcile(payment=rest)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.paid_total == invoice.total
    with pytest.raises(ValidationError):
        inv.invoice_pay_start(invoice=invoice, amount="1", provider="test", return_url="/")


def test_a_new_attempt_cancels_the_customers_open_one(org, contact, test_provider):
    invoice = issued(org, contact)
    first = inv.invoice_pay_start(
        invoice=invoice, amount="1105.99", provider="test", return_url="/"
    )
    second = inv.invoice_pay_start(
        invoice=invoice, amount="1105.99", provider="test", return_url="/"
    )
    first.refresh_from_db()
    assert first.status == PaymentStatus.CANCELLED
    assert second.status == PaymentStatus.PENDING


def test_less_than_one_unit_left_can_be_paid(org, contact):
    invoice = issued(org, contact)
    inv.invoice_manual_payment(invoice=invoice, method="zelle", amount="1105.49")
    with pytest.raises(ValidationError):
        inv.invoice_manual_payment(invoice=invoice, method="zelle", amount="0.51")
    inv.invoice_manual_payment(invoice=invoice, method="zelle", amount="0.50")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_pdf_in_the_customers_language(org):
    contact = ContactFactory(organisation=org, language="sv")
    invoice = issued(org, contact)
    pdf = inv.invoice_pdf(invoice)
    assert pdf.startswith(b"%PDF")
    html = inv.invoice_html(invoice)
    assert 'lang="sv"' in html
    assert "1105,99 SEK" in html  # Swedish number format
    assert org.name in html and "Consultation" in html and contact.first_name in html
