import rules

from slotwise.org.roles import Role
from slotwise.org.rules import is_staff_member, same_organisation
from slotwise.org.selectors import staff_of


@rules.predicate
def contact_unit_visible(user, contact) -> bool:
    staff = staff_of(user)
    if staff is None or contact is None or contact.organisation_id != staff.organisation_id:
        return False
    if contact.unit_id is None or staff.has_role(Role.ORG_ADMIN):
        return True
    return contact.unit.path.startswith(staff.unit.path)


@rules.predicate
def is_own_contact(user, contact) -> bool:
    return contact is not None and user.is_authenticated and contact.user_id == user.pk


rules.add_perm("customers.view_contacts", is_staff_member)
rules.add_perm(
    "customers.view_contact", (same_organisation & contact_unit_visible) | is_own_contact
)
rules.add_perm(
    "customers.change_contact", (same_organisation & contact_unit_visible) | is_own_contact
)

# Staff only (never the customer themselves): the contact card with its internal notes, logging
# calls, merging duplicates (checked on both contacts).
rules.add_perm("customers.view_contact_card", same_organisation & contact_unit_visible)
rules.add_perm("customers.log_call", same_organisation & contact_unit_visible)
rules.add_perm("customers.merge_contact", same_organisation & contact_unit_visible)


@rules.predicate
def is_customer_with_contact(user) -> bool:
    """A signed-in customer (not staff) with a contact record: they can chat with us (S3.9)."""
    if not getattr(user, "is_authenticated", False) or staff_of(user) is not None:
        return False
    cached = getattr(user, "_own_contact_cache", None)
    if cached is None:
        from .models import Contact

        cached = user._own_contact_cache = Contact.objects.filter(user=user).exists()
    return cached


@rules.predicate
def has_agenda_role(user) -> bool:
    """Staff who do visits themselves (technicians …): they chat with the office (S2.11)."""
    from slotwise.org.roles import AGENDA_ROLES

    staff = staff_of(user)
    return bool(staff and staff.has_role(*AGENDA_ROLES))


# The in-app chat pages (messaging/chat_views.py); registered here with the contact rules they
# build on.
rules.add_perm("messaging.chat_as_customer", is_customer_with_contact)
rules.add_perm("messaging.chat_with_office", has_agenda_role)
