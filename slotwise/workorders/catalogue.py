"""The organisation's catalogue of services and goods (S2.2, S2.7): what a manager puts on an
order and a technician adds on site. Every write here: keyword-only, one transaction, audited
(simple-history with the acting user). Items are archived, never deleted — order lines keep
pointing at them and keep their own name and price."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from slotwise.core.errors import ValidationError

from .models import CatalogueItem

FIELDS = ("kind", "name", "code", "unit_label", "unit_price", "tax_rate")
LIMIT = Decimal("1e9")


def _with_actor(obj, actor):
    if actor is not None and getattr(actor, "is_authenticated", False):
        obj._history_user = actor
    return obj


def _amount(raw, *, name: str, errors: dict, places: int, maximum: Decimal, text: str):
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors[name] = _("This field is required.")
        return None
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip().replace(",", "."))
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        errors[name] = text
        return None
    if value < 0 or value > maximum:
        errors[name] = text
        return None
    if value != value.quantize(Decimal(1).scaleb(-places)):
        errors[name] = _("Use at most %(places)s decimals.") % {"places": places}
        return None
    return value


def _clean(organisation, item: CatalogueItem | None, data: dict) -> dict:
    errors: dict[str, str] = {}
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationError({name: _("This field can't be changed here.") for name in unknown})
    values: dict = {}
    kind = data.get("kind", item.kind if item else CatalogueItem.Kind.SERVICE)
    if kind not in CatalogueItem.Kind.values:
        errors["kind"] = _("Choose a service or goods.")
    values["kind"] = kind
    name = (data.get("name", item.name if item else "") or "").strip()
    if not name:
        errors["name"] = _("Enter a name.")
    elif len(name) > 200:
        errors["name"] = _("Use at most %(n)s characters.") % {"n": 200}
    values["name"] = name
    code = (data.get("code", item.code if item else "") or "").strip()
    if len(code) > 40:
        errors["code"] = _("Use at most %(n)s characters.") % {"n": 40}
    values["code"] = code
    unit_label = (data.get("unit_label", item.unit_label if item else "") or "").strip()
    if len(unit_label) > 20:
        errors["unit_label"] = _("Use at most %(n)s characters.") % {"n": 20}
    values["unit_label"] = unit_label
    values["unit_price"] = _amount(
        data.get("unit_price", item.unit_price if item else None),
        name="unit_price",
        errors=errors,
        places=2,
        maximum=LIMIT - 1,
        text=_("Enter a price of zero or more."),
    )
    values["tax_rate"] = _amount(
        data.get("tax_rate", item.tax_rate if item else Decimal("0")),
        name="tax_rate",
        errors=errors,
        places=2,
        maximum=Decimal("100"),
        text=_("Enter a tax rate between 0 and 100."),
    )
    if code and "code" not in errors:
        clash = CatalogueItem.objects.filter(
            organisation=organisation, code__iexact=code, active=True
        )
        if item is not None:
            clash = clash.exclude(pk=item.pk)
        if clash.exists():
            errors["code"] = _("Another item of the catalogue has this code.")
    if errors:
        raise ValidationError(errors)
    return values


def catalogue_item_save(
    *, organisation, item: CatalogueItem | None = None, actor=None, **data
) -> CatalogueItem:
    """Add an item to `organisation`'s catalogue (item None) or change `item`: kind (service or
    goods), name, code (unique among the active items), unit label, unit price (≥ 0) and tax
    rate (0–100 %). Raises ValidationError field by field; nothing is saved then. Lines already
    on orders keep their own name and price."""
    if item is not None and item.organisation_id != organisation.pk:
        raise ValidationError({"item": _("Choose an item of the organisation's catalogue.")})
    with transaction.atomic():
        if item is not None:
            item = CatalogueItem.objects.select_for_update().get(pk=item.pk)
        values = _clean(organisation, item, data)
        if item is None:
            item = CatalogueItem(organisation=organisation, **values)
        else:
            for name, value in values.items():
                setattr(item, name, value)
        _with_actor(item, actor).save()
    return item


def catalogue_item_archive(
    *, item: CatalogueItem, actor=None, restore: bool = False
) -> CatalogueItem:
    """Take the item off the lists that managers and technicians pick from (or put it back with
    `restore=True`). Orders that already have it are unchanged."""
    with transaction.atomic():
        current = CatalogueItem.objects.select_for_update().get(pk=item.pk)
        if restore and current.code:
            clash = CatalogueItem.objects.filter(
                organisation_id=current.organisation_id, code__iexact=current.code, active=True
            ).exclude(pk=current.pk)
            if clash.exists():
                raise ValidationError({"code": _("Another item of the catalogue has this code.")})
        current.active = restore
        _with_actor(current, actor).save(update_fields=["active", "updated_at"])
    return current
