"""Who may do what in `org`. Predicates take (user, object); selectors do the list scoping."""

import rules

from .roles import MANAGING_ROLES, Role
from .selectors import staff_of


@rules.predicate
def is_staff_member(user) -> bool:
    return staff_of(user) is not None


@rules.predicate
def is_org_admin(user) -> bool:
    staff = staff_of(user)
    return bool(staff and staff.has_role(Role.ORG_ADMIN))


@rules.predicate
def is_manager(user) -> bool:
    staff = staff_of(user)
    return bool(staff and staff.has_role(*MANAGING_ROLES))


@rules.predicate
def same_organisation(user, obj) -> bool:
    staff = staff_of(user)
    return bool(
        staff and obj is not None and getattr(obj, "organisation_id", None) == staff.organisation_id
    )


@rules.predicate
def unit_visible(user, obj) -> bool:
    """The object's unit is the user's unit or below it (org admins see every unit)."""
    staff = staff_of(user)
    if staff is None or obj is None:
        return False
    unit = obj if obj.__class__.__name__ == "OrgUnit" else getattr(obj, "unit", None)
    if unit is None or unit.organisation_id != staff.organisation_id:
        return False
    return staff.has_role(Role.ORG_ADMIN) or unit.path.startswith(staff.unit.path)


rules.add_perm("org.use_admin", is_manager | rules.is_superuser)
rules.add_perm("org.view_staff", is_manager)
rules.add_perm("org.view_staff_member", is_manager & unit_visible)
rules.add_perm("org.change_staff_member", is_manager & unit_visible)
