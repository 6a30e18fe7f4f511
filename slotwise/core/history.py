"""Two things on django-simple-history's (3.13) write path.

1. `insert_with_history` (PostgreSQL): a new audited row and its "created" history row in one
   statement — what `save(force_insert=True)` and simple-history's post_save handler write, in
   one round trip and without the ORM's compile step (each booking over the API; bench
   booking_http). The same values, user and reason as simple-history's own row (tested
   column by column in core/tests/test_history.py).

2. One fix, below.

`HistoryDescriptor.__get__` (what `instance.history` and `Model.history` return) builds a new
manager *class* on every access — `HistoryManager.from_queryset(HistoricalQuerySet)`, which
walks the queryset class with `inspect.getmembers` — and `create_historical_record` reads it
once per audited save. That was about 1,200 of the 16,000 Python calls of one booking over the
API (bench booking_http). `install()` makes the descriptor build that class once and reuse it;
each access still gets a new manager bound to its instance, exactly as before.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import connection
from django.utils import timezone
from simple_history.manager import HistoryDescriptor
from simple_history.models import HistoricalRecords

#: The history model's own columns (the rest copy the audited model's).
_HISTORY_OWN = ("history_id", "history_date", "history_change_reason", "history_type")

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


@functools.cache
def _insert_sql(model) -> tuple[str, list, list]:
    """(statement, the model's fields inserted, the history model's copied fields)."""
    history_model = model.history.model
    pk = model._meta.pk
    # Every column but a database-generated primary key.
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f is pk and getattr(f, "db_returning", False))
    ]
    by_attname = {f.attname: f for f in fields}
    copied = [
        f
        for f in history_model._meta.concrete_fields
        if f.attname not in (*_HISTORY_OWN, "history_user_id", pk.attname)
    ]
    missing = [f.attname for f in copied if f.attname not in by_attname]
    if missing:  # pragma: no cover - a history model that is not a plain copy
        raise TypeError(f"{history_model.__name__} has columns {missing} of its own")
    table, history_table = model._meta.db_table, history_model._meta.db_table
    q = connection.ops.quote_name
    own = [pk.column, *(f.column for f in copied), "history_date", "history_change_reason"]
    own += ["history_type", "history_user_id"]
    sql = (
        f"WITH new AS (INSERT INTO {q(table)} ({', '.join(q(f.column) for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {q(pk.column)})"
        f" INSERT INTO {q(history_table)} ({', '.join(q(c) for c in own)})"
        f" SELECT new.{q(pk.column)}, {', '.join(['%s'] * (len(copied) + 4))} FROM new"
        f" RETURNING {q(pk.column)}"
    )
    return sql, fields, copied


def _history_user(instance):
    """simple-history's `get_history_user`: the instance's `_history_user`, else the request's
    authenticated user (its middleware, or the lean API path, sets the request)."""
    try:
        return instance._history_user
    except AttributeError:
        pass
    user = getattr(getattr(HistoricalRecords.context, "request", None), "user", None)
    return user if getattr(user, "is_authenticated", False) else None


def insert_with_history(instance) -> None:
    """Insert a new instance of an audited model and its "+" history row in one statement;
    sets its primary key and marks it saved. PostgreSQL only, and only for models nothing else
    listens to (no pre/post_save signals are sent); with SIMPLE_HISTORY_ENABLED off it is a
    plain save."""
    if connection.vendor != "postgresql" or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        instance.save(force_insert=True)
        return
    model = type(instance)
    sql, fields, copied = _insert_sql(model)
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    by_attname = dict(zip((f.attname for f in fields), values, strict=True))
    user = _history_user(instance)
    params = [
        *values,
        *(by_attname[f.attname] for f in copied),
        getattr(instance, "_history_date", None) or timezone.now(),
        getattr(instance, "_change_reason", None),
        "+",
        user.pk if user is not None else None,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias
