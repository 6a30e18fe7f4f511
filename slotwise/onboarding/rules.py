"""Who may see and handle applications (S1). Predicates take (user, application);
`selectors.applications_for` scopes lists by the same rules.

- Applications: onboarding staff (managers, heads of department, org admins, and the
  representatives and call-centre operators who talk to applicants) of the application's
  organisation; below org admin only applications without a unit or of their unit and below
  (as contacts).
- The supervisor's figures (S1.10): managers of the organisation, over what they may see.
"""

import rules

from slotwise.org.roles import MANAGING_ROLES, Role
from slotwise.org.rules import is_manager
from slotwise.org.selectors import staff_of

ONBOARDING_ROLES = frozenset(MANAGING_ROLES | {Role.REPRESENTATIVE, Role.CALL_CENTRE})


@rules.predicate
def is_onboarding_staff(user) -> bool:
    staff = staff_of(user)
    return bool(staff and staff.has_role(*ONBOARDING_ROLES))


@rules.predicate
def application_visible(user, application) -> bool:
    staff = staff_of(user)
    if staff is None or application is None:
        return False
    if application.organisation_id != staff.organisation_id:
        return False
    if staff.has_role(Role.ORG_ADMIN) or application.unit_id is None:
        return True
    return application.unit.path.startswith(staff.unit.path)


rules.add_perm("onboarding.view_applications", is_onboarding_staff)
rules.add_perm("onboarding.view_application", is_onboarding_staff & application_visible)
rules.add_perm("onboarding.handle_application", is_onboarding_staff & application_visible)
rules.add_perm("onboarding.view_funnel", is_manager)
