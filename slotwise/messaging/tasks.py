from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from .services import message_deliver


@task(queue_name="messages")
def deliver_message(message_id: int) -> str:
    try:
        message = message_deliver(message_id=message_id)
    except Exception:
        # Transient failure: try again in a minute (message_deliver counts the attempts).
        deliver_message.using(run_after=timezone.now() + timedelta(minutes=1)).enqueue(message_id)
        return "retry"
    return message.status if message else "missing"
