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
