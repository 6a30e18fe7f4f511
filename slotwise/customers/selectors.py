"""Reads of contacts, scoped to what the user may see."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from slotwise.org.roles import Role
from slotwise.org.selectors import staff_of

from .models import Contact


def contacts_for(user) -> QuerySet[Contact]:
    """Staff see their organisation's contacts with no unit or a unit at/below their own (org
    admins see all); a customer sees only their own contact."""
    qs = Contact.objects.select_related("organisation", "unit")
    if user.is_superuser:
        return qs
    staff = staff_of(user)
    if staff is None:
        return qs.filter(user=user) if user.is_authenticated else qs.none()
    qs = qs.filter(organisation=staff.organisation_id)
    if staff.has_role(Role.ORG_ADMIN):
        return qs
    return qs.filter(Q(unit__isnull=True) | Q(unit__path__startswith=staff.unit.path))


def find_duplicates(
    *, organisation, phone: str = "", email: str = "", exclude_id=None
) -> list[tuple[str, Contact]]:
    """Contacts of the organisation that already use this phone or e-mail: [(field, contact)]."""
    q = Q(pk__in=[])
    if phone:
        q |= Q(phone=phone) | Q(identities__kind="phone", identities__external_id=phone)
    if email:
        q |= Q(email__iexact=email) | Q(
            identities__kind="email", identities__external_id__iexact=email
        )
    qs = (
        Contact.objects.filter(q, organisation=organisation)
        .distinct()
        .prefetch_related("identities")
    )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    found = []
    for contact in qs:
        ids = {(i.kind, i.external_id.lower()) for i in contact.identities.all()}
        if phone and (contact.phone == phone or ("phone", phone.lower()) in ids):
            found.append(("phone", contact))
        if email and (contact.email.lower() == email.lower() or ("email", email.lower()) in ids):
            found.append(("email", contact))
    return found


def contact_for_customer(user) -> Contact | None:
    if not user.is_authenticated:
        return None
    return Contact.objects.filter(user=user).select_related("organisation").first()
