from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from .outbox import message_deliver


@task(queue_name="messages")
def deliver_message(message_id: int) -> str:
    """Send one message now (the dispatcher in `manage.py worker` normally does this)."""
    try:
        message = message_deliver(message_id=message_id)
    except Exception:
        deliver_message.using(run_after=timezone.now() + timedelta(minutes=1)).enqueue(message_id)
        return "retry"
    return message.status if message else "missing"


@task(queue_name="messages")
def fetch_attachment(attachment_id: int) -> str:
    """Download an inbound attachment from the provider and store it (type and size checked)."""
    from .media import attachment_fetch

    try:
        return attachment_fetch(attachment_id=attachment_id)
    except Exception:
        # The provider was unreachable: try again in a minute (media links live for days).
        fetch_attachment.using(run_after=timezone.now() + timedelta(minutes=1)).enqueue(
            attachment_id
        )
        return "retry"


@task(queue_name="messages")
def channel_configure_webhook(config_id: int) -> str:
    """Tell the provider a channel's webhook address (Telegram setWebhook, Viber set_webhook)
    and record the outcome on the channel (the Channels page shows it)."""
    from .channel_settings import channel_webhook_register

    return channel_webhook_register(config_id=config_id)
