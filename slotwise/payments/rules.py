"""Who may do what with payments and invoices. Predicates take (user, payment or invoice);
`selectors.payments_for` / `invoices_for` scope lists by the same rules.

- Back office (payments, refunds, invoices): managers (org admin, head of department, manager) of
  the object's organisation; below org admin, only objects whose customer they may see (no
  customer, a customer without a unit, or one at/below their own unit — as `contacts_for`).
- Customers: their own invoices once issued (never drafts), by the invoice's unguessable id.
"""

import rules

from slotwise.bookings.rules import has_own_contact, staff_sees_booking
from slotwise.org.roles import Role
from slotwise.org.rules import is_manager, is_org_admin, same_organisation
from slotwise.org.selectors import staff_of

from .models import InvoiceStatus


@rules.predicate
def customer_visible(user, obj) -> bool:
    """Same organisation, and the object's customer (if any) is one the staff member may see."""
    staff = staff_of(user)
    if staff is None or obj is None or obj.organisation_id != staff.organisation_id:
        return False
    if staff.has_role(Role.ORG_ADMIN) or obj.contact_id is None:
        return True
    unit = obj.contact.unit
    return unit is None or unit.path.startswith(staff.unit.path)


@rules.predicate
def is_own_invoice(user, invoice) -> bool:
    return bool(
        invoice is not None
        and getattr(user, "is_authenticated", False)
        and invoice.status != InvoiceStatus.DRAFT
        and invoice.contact.user_id == user.pk
    )


@rules.predicate
def is_payable(user, invoice) -> bool:
    return invoice is not None and invoice.status in (
        InvoiceStatus.ISSUED,
        InvoiceStatus.PARTIALLY_PAID,
    )


office = is_manager & customer_visible

# Lists and navigation (no object).
rules.add_perm("payments.manage_payments", is_manager)
rules.add_perm("payments.manage_invoices", is_manager)
rules.add_perm("payments.view_own_invoices", has_own_contact)
# One object.
rules.add_perm("payments.manage_payment", office)
rules.add_perm("payments.refund_payment", office)
rules.add_perm("payments.manage_invoice", office)
rules.add_perm("payments.see_invoice", office | is_own_invoice)
rules.add_perm("payments.pay_invoice", is_own_invoice & is_payable)
# Payment methods of the organisation (which providers, their settings): org admins only.
rules.add_perm("payments.manage_providers", is_org_admin)
# Reconciliation (day × provider, cash and checks held by staff): managers of the organisation;
# handing over is checked per payment (same organisation).
rules.add_perm("payments.view_reconciliation", is_manager)
rules.add_perm("payments.hand_over_cash", is_manager & same_organisation)
# On-site payments against a booking (a manual method with a tip, or a payment link): the staff
# who see the booking (its technician, bookers and managers of its unit).
rules.add_perm("payments.take_onsite_payment", staff_sees_booking)
