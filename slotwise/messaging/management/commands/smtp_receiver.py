"""`manage.py smtp_receiver --port 2525 --channel <inbound key>` — receive e-mail over SMTP for one
e-mail channel (the demo's mail server; see slotwise/messaging/channels/email/smtp_receiver.py).

Mail to the channel's address is stored as an inbound event and appears in the inbox once the
worker has processed it. Listens on 127.0.0.1 unless told otherwise: anyone who can reach the
port can put mail into the inbox, so expose it only behind a mail server that relays to it.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from slotwise.messaging.channels.email.smtp_receiver import (
    MAX_MESSAGE_BYTES,
    channel_addresses,
    start_receiver,
)
from slotwise.messaging.models import ChannelConfig

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Command(BaseCommand):
    help = "Receive e-mail over SMTP for one e-mail channel and put it into the inbox."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=2525)
        parser.add_argument(
            "--channel", required=True, help="the e-mail channel's inbound key (see its settings)"
        )
        parser.add_argument(
            "--max-bytes", type=int, default=MAX_MESSAGE_BYTES, help="largest mail accepted"
        )

    def handle(self, *args, host, port, channel, max_bytes, **options):
        config = ChannelConfig.objects.filter(kind="email", inbound_key=channel).first()
        if config is None:
            raise CommandError(f"No e-mail channel with the inbound key {channel!r}.")
        addresses = sorted(channel_addresses(config)) or ["any address"]
        controller = start_receiver(config, host=host, port=port, max_bytes=max_bytes)
        self.stdout.write(
            f"Receiving mail for {', '.join(addresses)} (channel {config.pk} “{config.name}”) "
            f"on {host}:{port}; Ctrl-C stops."
        )
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
        try:
            stop.wait()
        finally:
            controller.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write("SMTP receiver stopped.")
