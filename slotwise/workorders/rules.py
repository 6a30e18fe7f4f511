"""Who may do what with work orders (S2.14). Predicates take (user, order); `selectors` scope
lists by the same rules.

- Office staff (managers, call centre, representatives …) take orders in (intake) and see the
  orders of their unit and the units below it (org admins: every unit).
- Managers (org admin, head of department, manager) prepare, assign, approve extras, confirm,
  send back and cancel — for orders of their units.
- A technician sees and works on only the orders assigned to them.
"""

import rules

from slotwise.org.roles import AGENDA_ROLES, BOOKING_ROLES
from slotwise.org.rules import is_manager, same_organisation, unit_visible
from slotwise.org.selectors import staff_of


@rules.predicate
def is_office(user) -> bool:
    staff = staff_of(user)
    return bool(staff and staff.has_role(*BOOKING_ROLES))


@rules.predicate
def does_visits(user) -> bool:
    staff = staff_of(user)
    return bool(staff and staff.has_role(*AGENDA_ROLES))


@rules.predicate
def is_assigned_technician(user, order) -> bool:
    staff = staff_of(user)
    return bool(staff and order is not None and order.technician_id == staff.pk)


@rules.predicate
def is_self(user, staff) -> bool:
    own = staff_of(user)
    return bool(own and staff is not None and own.pk == staff.pk)


office_sees = is_office & same_organisation & unit_visible

rules.add_perm("workorders.create_order", is_office)
rules.add_perm("workorders.view_orders", is_office)
rules.add_perm("workorders.dispatch", is_manager)
rules.add_perm("workorders.manage_catalogue", is_manager)
rules.add_perm("workorders.use_tech_app", does_visits)
rules.add_perm("workorders.view_order", office_sees | is_assigned_technician)
rules.add_perm("workorders.manage_order", is_manager & same_organisation & unit_visible)
rules.add_perm("workorders.work_on_order", is_assigned_technician)
# obj: a Staff member
rules.add_perm(
    "workorders.view_earnings_of",
    is_self | (is_manager & same_organisation & unit_visible),
)
rules.add_perm("workorders.manage_pay_of", is_manager & same_organisation & unit_visible)
