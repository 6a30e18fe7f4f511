"""Background jobs of payments (run by the task worker)."""

from django.tasks import task

from . import services


@task()
def execute_refund(*, refund_id: int) -> str:
    return services.refund_execute(refund_id=refund_id).status
