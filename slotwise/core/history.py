"""One fix to django-simple-history (3.13) on the write path of every audited model.

`HistoryDescriptor.__get__` (what `instance.history` and `Model.history` return) builds a new
manager *class* on every access — `HistoryManager.from_queryset(HistoricalQuerySet)`, which
walks the queryset class with `inspect.getmembers` — and `create_historical_record` reads it
once per audited save. That was about 1,200 of the 16,000 Python calls of one booking over the
API (bench booking_http). `install()` makes the descriptor build that class once and reuse it;
each access still gets a new manager bound to its instance, exactly as before.
"""

from __future__ import annotations

from simple_history.manager import HistoryDescriptor

_original_get = HistoryDescriptor.__get__


def _get(self, instance, owner):
    manager_class = self.__dict__.get("_manager_with_queryset")
    if manager_class is None:
        manager_class = self.manager_class.from_queryset(self.queryset_class)
        self._manager_with_queryset = manager_class
    return manager_class(self.model, instance)


def install() -> None:
    """Called once from `CoreConfig.ready`."""
    if HistoryDescriptor.__get__ is _original_get:
        HistoryDescriptor.__get__ = _get
