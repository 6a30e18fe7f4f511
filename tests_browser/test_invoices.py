"""A portal customer pays an invoice (part, then the rest) with the test provider; a manager
refunds part of a payment from the back office with a reason and sees it partially refunded
once the worker ran."""

from decimal import Decimal

import pytest

from .conftest import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

LINES = [
    {"description": "Ledarskapscoachning", "quantity": "2", "unit_price": "500", "tax_rate": "25"}
]


def _issued_invoice():
    from slotwise.customers.models import Contact
    from slotwise.payments import invoices as inv
    from slotwise.payments.models import ProviderConfig

    contact = Contact.objects.select_related("organisation").get(user__username="se-customer")
    org = contact.organisation
    ProviderConfig.objects.update_or_create(
        organisation=org, provider="test", defaults={"enabled": True, "name": "Kort (test)"}
    )
    draft = inv.invoice_create(organisation=org, contact=contact, lines=LINES)
    return inv.invoice_issue(invoice=draft)


def _pay(page, amount: str | None):
    form = page.locator("[data-testid=pay-invoice]")
    if amount is not None:
        form.locator("input[name=amount]").fill(amount)
    form.locator("input[name=provider][value=test]").check()
    with page.expect_navigation():
        page.click("[data-testid=pay-invoice-submit]")
    page.locator("[data-testid=pay-page]").wait_for(state="visible")
    with page.expect_navigation():
        page.click("[data-testid=pay-redirect]")
    page.locator("[data-testid=test-checkout]").wait_for(state="visible")
    with page.expect_navigation():
        page.click("[data-testid=test-pay]")


def test_customer_pays_an_invoice_in_two_parts(demo, chromium_browser):
    invoice = _issued_invoice()  # 1250.00 SEK
    page = log_in(chromium_browser, demo.url, "se-customer")
    try:
        page.goto(f"{demo.url}/payments/invoices/")
        row = page.locator("[data-testid=my-invoice]")
        assert row.count() == 1
        with page.expect_navigation():
            row.locator("a").click()
        assert page.locator("[data-testid=my-invoice-page]").get_attribute("data-status") == (
            "issued"
        )
        _pay(page, "500")
        # Back on the invoice: partly paid, 750 left (the amount field offers what is left).
        mine = page.locator("[data-testid=my-invoice-page]")
        mine.wait_for(state="visible")
        assert mine.get_attribute("data-status") == "partially_paid"
        left = page.locator("[data-testid=pay-invoice] input[name=amount]").input_value()
        assert Decimal(left.replace(",", ".")) == Decimal("750.00")
        _pay(page, None)
        page.locator("[data-testid=my-invoice-page][data-status=paid]").wait_for()
        assert page.locator("[data-testid=pay-invoice]").count() == 0
        invoice.refresh_from_db()
        assert invoice.status == "paid" and invoice.paid_total == Decimal("1250.00")
        assert sorted(p.paid_amount for p in invoice.payments.all()) == [
            Decimal("500.00"),
            Decimal("750.00"),
        ]
    finally:
        page.context.close()


def test_manager_refunds_part_of_a_payment(demo, chromium_browser):
    from slotwise.payments import invoices as inv
    from slotwise.payments import services
    from slotwise.payments.models import Refund

    invoice = _issued_invoice()
    payment = inv.invoice_pay_start(invoice=invoice, amount="1250", provider="test", return_url="/")
    impl = services.provider_for(organisation=invoice.organisation, kind="test")
    impl.remote_pay(payment.provider_reference)
    payment = services.payment_reconcile(payment=payment)
    assert payment.status == "paid"

    page = log_in(chromium_browser, demo.url, "se-manager")
    try:
        page.goto(f"{demo.url}/payments/office/?provider=test")
        row = page.locator("[data-testid=office-payment]").first
        with page.expect_navigation():
            row.locator("a").click()
        form = page.locator("[data-testid=refund-form]")
        form.locator("input[name=amount]").fill("200")
        # A reason is required: without it nothing is refunded.
        with page.expect_navigation():
            page.click("[data-testid=refund-submit]")
        assert page.locator("[data-field=reason]").count() == 1
        assert not Refund.objects.exists()
        form.locator("input[name=reason]").fill("Sen start")
        with page.expect_navigation():
            page.click("[data-testid=refund-submit]")
        page.locator("[data-testid=refund][data-status=pending]").wait_for()
        # The worker sends it to the provider; the page follows live.
        for refund in Refund.objects.filter(payment=payment, status="pending"):
            services.refund_execute(refund_id=refund.pk)
        page.locator("[data-testid=payment-live][data-status=partially_refunded]").wait_for()
        page.locator("[data-testid=refund][data-status=succeeded]").wait_for()
        refunded = page.inner_text("[data-testid=payment-refunded]")
        assert "200" in refunded
        payment.refresh_from_db()
        assert payment.refunded_amount == Decimal("200.00")
        assert Refund.objects.get().reason == "Sen start"
        invoice.refresh_from_db()
        assert invoice.status == "partially_paid" and invoice.paid_total == Decimal("1050.00")
    finally:
        page.context.close()
