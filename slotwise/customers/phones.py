"""Phone numbers: everything is stored in E.164."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def to_e164(raw: str, default_region: str | None = None) -> str:
    """Parse a typed phone number into E.164 or raise a translated ValidationError."""
    value = (raw or "").strip()
    if not value:
        raise ValidationError(_("Enter a phone number."), code="required")
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            _("“%(value)s” is not a phone number.") % {"value": value}, code="invalid"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("“%(value)s” is not a valid phone number.") % {"value": value}, code="invalid"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
