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
