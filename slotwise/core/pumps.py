"""The loop the worker's pumps share (`messaging.pump`, `payments.pump`): one pass after another
while there is work, a sleep of `idle` seconds when a pass found nothing, a failed pass logged
and its connection dropped (the database may be restarting), and the connection kept from pass
to pass but tidied (Django's `close_old_connections`) every `TIDY_SECONDS`. Closing it after
every pass, as a request does, would start a PostgreSQL backend five times a second in an idle
worker."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections, connection

logger = logging.getLogger("slotwise.pumps")

TIDY_SECONDS = 30


def run_pump(stop: threading.Event, one_pass: Callable[[], int], *, idle: float, name: str) -> None:
    """Run `one_pass` (returns how much it did) until `stop` is set."""
    tidied = time.monotonic()
    while not stop.is_set():
        done = 0
        try:
            done = one_pass()
        except Exception:
            logger.exception("%s pump pass failed", name)
            connection.close()
        if time.monotonic() - tidied > TIDY_SECONDS:
            close_old_connections()
            tidied = time.monotonic()
        if not done:
            stop.wait(idle)
    connection.close()
