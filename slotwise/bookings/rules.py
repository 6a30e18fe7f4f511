"""Who may do what with bookings. Predicates take (user, booking); `selectors.bookings_for` does
the list scoping with the same rules (documented there)."""

import rules

from slotwise.org.roles import BOOKING_ROLES, Role
from slotwise.org.rules import is_staff_member
from slotwise.org.selectors import staff_of


@rules.predicate
def can_book_for_customers(user) -> bool:
    """Managers, call centre, representatives and project managers book for customers (S4.1)."""
    staff = staff_of(user)
    return bool(staff and staff.has_role(*BOOKING_ROLES))


@rules.predicate
def has_own_contact(user) -> bool:
    """A signed-in customer with a contact record (for "My bookings")."""
    if not getattr(user, "is_authenticated", False) or staff_of(user) is not None:
        return False
    cached = getattr(user, "_has_contact_cache", None)
    if cached is None:
        from slotwise.customers.models import Contact

        cached = Contact.objects.filter(user=user).exists()
        user._has_contact_cache = cached
    return cached


@rules.predicate
def is_own_booking(user, booking) -> bool:
    """The booking is the customer's own (their contact's)."""
    return (
        booking is not None
        and getattr(user, "is_authenticated", False)
        and booking.contact.user_id == user.pk
    )


@rules.predicate
def is_in_my_agenda(user, booking) -> bool:
    staff = staff_of(user)
    return bool(staff and booking is not None and booking.staff_id == staff.pk)


@rules.predicate
def booking_unit_visible(user, booking) -> bool:
    """Same organisation, and an org admin, or a booking role with the booking's unit at/below
    their own unit (never a sibling unit)."""
    staff = staff_of(user)
    if staff is None or booking is None or booking.organisation_id != staff.organisation_id:
        return False
    if staff.has_role(Role.ORG_ADMIN):
        return True
    if not staff.has_role(*BOOKING_ROLES):
        return False
    return booking.unit.path.startswith(staff.unit.path)


@rules.predicate
def is_booked_by_me(user, booking) -> bool:
    """A booker (booking role) made this booking, whichever unit it landed in."""
    staff = staff_of(user)
    return bool(
        staff
        and booking is not None
        and booking.created_by_id == user.pk
        and booking.organisation_id == staff.organisation_id
        and staff.has_role(*BOOKING_ROLES)
    )


staff_sees_booking = booking_unit_visible | is_in_my_agenda | is_booked_by_me

rules.add_perm("bookings.view_bookings", is_staff_member)
rules.add_perm("bookings.view_booking", staff_sees_booking | is_own_booking | rules.is_superuser)
# Cancel / reschedule (within the type's windows): the staff who see it, or the customer.
rules.add_perm("bookings.change_booking", staff_sees_booking | is_own_booking | rules.is_superuser)
# Confirm a hold, mark no-show / done: staff only.
rules.add_perm("bookings.manage_booking", staff_sees_booking | rules.is_superuser)
rules.add_perm("bookings.view_own", has_own_contact)
rules.add_perm("bookings.book_for_customer", can_book_for_customers)
