"""Which home page a user sees: one per role, resolved here so the view stays thin."""

from slotwise.org.roles import Role


def home_context(request) -> tuple[str, dict]:
    from slotwise.customers.selectors import contact_for_customer
    from slotwise.org.selectors import staff_of

    user = request.user
    if not user.is_authenticated:
        return "core/landing.html", {}
    staff = staff_of(user)
    if staff is not None:
        if staff.has_role(Role.ORG_ADMIN):
            role = "org_admin"
        elif staff.has_role(Role.MANAGER, Role.HEAD_OF_DEPARTMENT):
            role = "manager"
        elif staff.has_role(Role.TECHNICIAN):
            role = "technician"
        else:
            role = "representative"
        return f"core/home_{role}.html", {"staff": staff, "home_role": role}
    contact = contact_for_customer(user)
    return "core/home_customer.html", {"contact": contact, "home_role": "customer"}
