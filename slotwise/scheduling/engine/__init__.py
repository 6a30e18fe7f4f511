"""Slotwise option generator: pure Python, standard library only, no Django.

Times are integer minutes since the Unix epoch (UTC).  See ``docs`` in each module:
:mod:`.generate` (hard rules, algorithm), :mod:`.scoring` (score), :mod:`.calendar` (DST rule),
:mod:`.reasons` (reason codes).
"""

from .calendar import (
    DateException,
    WeeklyRule,
    expand_working_time,
    from_minutes,
    local_range_to_utc,
    merge_intervals,
    to_minutes,
)
from .gaps import find_gaps, free_at
from .generate import generate_options
from .reasons import REASON_CODES
from .travel import GreatCircleTravel, MemoTravel, TravelSource, haversine_km
from .types import Busy, Option, Point, Reason, Request, StaffSnapshot, Weights

__all__ = [
    "REASON_CODES",
    "Busy",
    "DateException",
    "GreatCircleTravel",
    "MemoTravel",
    "Option",
    "Point",
    "Reason",
    "Request",
    "StaffSnapshot",
    "TravelSource",
    "WeeklyRule",
    "Weights",
    "expand_working_time",
    "find_gaps",
    "free_at",
    "from_minutes",
    "generate_options",
    "haversine_km",
    "local_range_to_utc",
    "merge_intervals",
    "to_minutes",
]
