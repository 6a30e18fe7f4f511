"""Public holidays per country (the `holidays` package), cached per (country, year).

A holiday is a closed day for every staff member of an organisation whose scheduling policy has
`observe_public_holidays` (the default), unless the staff member has an availability exception
giving hours on that date. Besides the official public holidays we take the *de facto* ones
where the package knows them (in Sweden: Midsummer Eve, Christmas Eve, New Year's Eve — days the
country is closed without being official holidays). Swedish Sundays, which the package lists as
holidays by default, are left out: Sunday work is a matter of working hours, not holidays.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays as holidays_lib


@lru_cache(maxsize=256)
def _year(country: str, year: int) -> frozenset[dt.date]:
    try:
        cls = holidays_lib.country_holidays(country).__class__
    except NotImplementedError:
        return frozenset()
    categories = tuple(c for c in ("public", "de_facto") if c in cls.supported_categories)
    kwargs = {"years": year, "categories": categories}
    if country == "SE":
        kwargs["include_sundays"] = False
    return frozenset(holidays_lib.country_holidays(country, **kwargs))


def closed_dates(country: str, first: dt.date, last: dt.date) -> frozenset[dt.date]:
    """Public holidays of `country` between `first` and `last` (inclusive)."""
    if not country or last < first:
        return frozenset()
    out: set[dt.date] = set()
    for year in range(first.year, last.year + 1):
        out.update(d for d in _year(country, year) if first <= d <= last)
    return frozenset(out)
