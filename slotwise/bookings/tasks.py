"""Background jobs of the bookings app (run by the task worker).

`expire_holds` is enqueued by `services.booking_create` (after commit) to run when a hold lapses,
so a lapsed hold is cancelled within the worker's polling interval. It cancels every lapsed hold,
not just one, so a missed or duplicate run does no harm; a lapsed hold also stops blocking its
time at once without it (the booking services ignore lapsed holds).
"""

from django.tasks import task

from .services import booking_hold_expire


@task()
def expire_holds() -> int:
    return booking_hold_expire()
