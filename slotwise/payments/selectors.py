"""Reads about payments, already scoped."""

from __future__ import annotations

from .models import ProviderConfig
from .providers import providers


def enabled_providers(*, organisation, currency: str) -> list[tuple[str, str]]:
    """(kind, label) of the online providers the organisation has enabled for `currency`, in the
    organisation's order. Manual methods are not offered to customers."""
    result: list[tuple[str, str]] = []
    for config in ProviderConfig.objects.filter(organisation=organisation, enabled=True):
        if config.provider not in providers:
            continue
        cls = providers.get_class(config.provider)
        if cls.manual or (cls.currencies and currency not in cls.currencies):
            continue
        result.append((config.provider, config.name or str(cls.verbose_name)))
    return result


def _office_scope(qs, user):
    """Managers of the organisation; below org admin only what their customers' units allow
    (the same rule as `customers.selectors.contacts_for`, and `rules.customer_visible`)."""
    from django.db.models import Q

    from slotwise.org.roles import MANAGING_ROLES, Role
    from slotwise.org.selectors import staff_of

    staff = staff_of(user)
    if staff is None or not staff.has_role(*MANAGING_ROLES):
        return qs.none()
    qs = qs.filter(organisation_id=staff.organisation_id)
    if staff.has_role(Role.ORG_ADMIN):
        return qs
    return qs.filter(
        Q(contact__isnull=True)
        | Q(contact__unit__isnull=True)
        | Q(contact__unit__path__startswith=staff.unit.path)
    )


def payments_for(user):
    """Payments a member of the back office may see (none for anyone else)."""
    from .models import Payment

    return _office_scope(Payment.objects.select_related("contact", "invoice"), user)


def invoices_for(user):
    """Invoices the user may see: the back office's (every status), or a customer's own once
    issued (never drafts)."""
    from slotwise.org.selectors import staff_of

    from .models import Invoice, InvoiceStatus

    qs = Invoice.objects.select_related("contact", "organisation")
    if staff_of(user) is not None:
        return _office_scope(qs, user)
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    return qs.filter(contact__user=user).exclude(status=InvoiceStatus.DRAFT)
