"""Postcodes per country: validate, normalise to a comparable key, and parse region specs."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Country → (pattern of a valid postcode, number of leading digits that make the key).
FORMATS = {
    "SE": (re.compile(r"^\d{3}\s?\d{2}$"), 5),
    "NL": (re.compile(r"^\d{4}\s?[A-Za-z]{2}$|^\d{4}$"), 4),
    "RU": (re.compile(r"^\d{6}$"), 6),
    "US": (re.compile(r"^\d{5}(-\d{4})?$"), 5),
}


def normalise(country: str, postcode: str) -> str:
    """The digits that identify the area, e.g. "1012 AB" (NL) → "1012", "114 55" (SE) → "11455".

    Raises ValidationError with a translated message when the postcode is not valid for the country.
    """
    value = (postcode or "").strip()
    fmt = FORMATS.get(country)
    if fmt is None:
        raise ValidationError(_("Postcodes of this country are not supported."), code="country")
    pattern, digits = fmt
    if not pattern.match(value):
        raise ValidationError(
            _("“%(postcode)s” is not a valid postcode.") % {"postcode": value}, code="postcode"
        )
    return re.sub(r"\D", "", value)[:digits]


def display(country: str, postcode: str) -> str:
    value = (postcode or "").strip().upper()
    if country == "SE" and re.fullmatch(r"\d{5}", value):
        return f"{value[:3]} {value[3:]}"
    if country == "NL" and re.fullmatch(r"\d{4}[A-Z]{2}", value):
        return f"{value[:4]} {value[4:]}"
    return value


def parse_ranges(spec: str) -> list[tuple[str, str]]:
    """ "1000-1099, 1200" → [("1000", "1099"), ("1200", "1200")]. Both ends of a range must have
    the same number of digits; a single value is a prefix. Raises ValidationError on bad input."""
    ranges = []
    for raw in re.split(r"[,;\n]+", spec or ""):
        part = raw.strip().replace(" ", "")
        if not part:
            continue
        match = re.fullmatch(r"(\d{1,6})(?:-(\d{1,6}))?", part)
        if not match:
            raise ValidationError(
                _("“%(part)s” is not a postcode or a range like 1000-1099.") % {"part": raw.strip()}
            )
        start, end = match.group(1), match.group(2) or match.group(1)
        if len(start) != len(end) or start > end:
            raise ValidationError(
                _("“%(part)s”: both ends must have as many digits, the first the smaller.")
                % {"part": raw.strip()}
            )
        ranges.append((start, end))
    if not ranges:
        raise ValidationError(_("Enter at least one postcode or range."))
    return ranges


def key_in_range(key: str, start: str, end: str) -> bool:
    prefix = key[: len(start)]
    return len(prefix) == len(start) and start <= prefix <= end
