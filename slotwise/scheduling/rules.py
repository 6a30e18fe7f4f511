"""Who may do what in `scheduling`. Predicates take (user, object); selectors scope the lists.

- `scheduling.use_booker`: the booker's screen (call centre, S4.1) — BOOKING_ROLES.
- `scheduling.view_day`: the day view of a unit — MANAGING_ROLES.
- `scheduling.edit_own_hours`: every staff member edits their own working hours and time off
  (S2.4). Not only AGENDA_ROLES: in a small business the manager does visits too, and hours
  that nobody books against do no harm.
- `scheduling.edit_staff_hours` (object: a Staff): managers of that staff member's unit or a unit
  above it; org admins for everyone in the organisation.
- `scheduling.manage_types`: appointment types and the scheduling policy — org admins and
  managers (MANAGING_ROLES); with an object (AppointmentType / SchedulingPolicy) also the same
  organisation.
"""

import rules

from slotwise.org.roles import BOOKING_ROLES
from slotwise.org.rules import is_manager, is_staff_member, same_organisation, unit_visible
from slotwise.org.selectors import staff_of


@rules.predicate
def is_booker(user) -> bool:
    staff = staff_of(user)
    return bool(staff and staff.has_role(*BOOKING_ROLES))


@rules.predicate
def same_organisation_or_none(user, obj) -> bool:
    """Without an object the permission is the role check alone."""
    return obj is None or same_organisation(user, obj)


rules.add_perm("scheduling.use_booker", is_booker)
rules.add_perm("scheduling.view_day", is_manager)
rules.add_perm("scheduling.edit_own_hours", is_staff_member)
rules.add_perm("scheduling.edit_staff_hours", is_manager & unit_visible)
rules.add_perm("scheduling.manage_types", is_manager & same_organisation_or_none)
