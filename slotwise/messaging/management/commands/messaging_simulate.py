"""`manage.py messaging_simulate --org <slug> --channel <name> --from <address> --text "…"` —
be the customer: post a correctly signed inbound message to a console channel's webhook, over
HTTP, exactly as the demo's offline channel receives messages (ARCHITECTURE rule 10: the same
code path as a real provider's webhook). The worker then puts it into the inbox.

The body is `{"from", "text", "id", "name"}` signed with HMAC-SHA256 under the channel's secret
(the environment variable its `secret_env` setting names; `make demo` exports
CONSOLE_CHANNEL_SECRET=demo-console-secret) in `X-Console-Signature`. The address is the one the
console channel pretends to use: a phone number (+46701234567) for SMS and WhatsApp, an e-mail
address, a Telegram chat id …
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from slotwise.core import http
from slotwise.messaging.channels.base import ChannelError
from slotwise.messaging.channels.console.channel import ConsoleChannel
from slotwise.messaging.inbound import channel_for, inbound_url
from slotwise.messaging.models import ChannelConfig
from slotwise.org.models import Organisation


class Command(BaseCommand):
    help = "Post a signed message from a pretend customer to a console channel's webhook."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="the organisation's slug")
        parser.add_argument("--channel", required=True, help="the console channel's name")
        parser.add_argument("--from", dest="sender", required=True, help="the sender's address")
        parser.add_argument("--text", required=True)
        parser.add_argument("--name", default="", help="the sender's name (a new contact's)")
        parser.add_argument(
            "--id",
            dest="event_id",
            default="",
            help="the event id (default: a new one; repeat one to see a replay ignored)",
        )
        parser.add_argument(
            "--base-url",
            default="",
            help=f"where the web server answers (default: SITE_URL, {settings.SITE_URL})",
        )
        parser.add_argument(
            "--secret", default="", help="the signing secret (default: the channel's variable)"
        )

    def handle(self, *args, org, channel, sender, text, name, event_id, base_url, secret, **opts):
        organisation = Organisation.objects.filter(slug=org).first()
        if organisation is None:
            raise CommandError(f"No organisation with the slug {org!r}.")
        config = ChannelConfig.objects.filter(organisation=organisation, name=channel).first()
        if config is None:
            names = ", ".join(
                ChannelConfig.objects.filter(organisation=organisation, kind="console")
                .order_by("name")
                .values_list("name", flat=True)
            )
            raise CommandError(f"No channel {channel!r} in {org}. Console channels: {names or '—'}")
        if config.kind != "console":
            raise CommandError(
                f"{channel!r} is a {config.kind} channel: only console channels take simulated "
                "messages (a real provider's fake posts to its own channel)."
            )
        if not secret:
            try:
                secret = channel_for(config).secret("secret")
            except ChannelError as exc:
                raise CommandError(
                    f"{exc} Export it (the demo's: CONSOLE_CHANNEL_SECRET=demo-console-secret) "
                    "or pass --secret."
                ) from None
        payload = {"from": sender, "text": text, "id": event_id or f"sim-{uuid.uuid4().hex}"}
        if name:
            payload["name"] = name
        body = json.dumps(payload, ensure_ascii=False).encode()
        url = inbound_url(config)
        if base_url:
            parts = urlsplit(url)
            url = base_url.rstrip("/") + parts.path
        headers = {
            "Content-Type": "application/json",
            "X-Console-Signature": ConsoleChannel.sign(body, secret),
        }
        try:
            with http.client() as client:
                response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise CommandError(f"{url}: {exc} (is the web server running?)") from None
        if response.status_code != 200:
            raise CommandError(f"{url} answered {response.status_code}: {response.text[:200]}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Sent as {sender} to {config.name} ({payload['id']}); the worker puts it into "
                "the inbox."
            )
        )
