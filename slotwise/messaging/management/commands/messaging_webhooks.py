"""`manage.py messaging_webhooks --org <slug> [--kind telegram]` — give every channel of an
organisation its webhook address: registered with the provider where the channel can do that
itself (Telegram setWebhook, Viber set_webhook, WhatsApp with a WABA id), printed for the others
(paste it in the provider's console; the Channels page shows the same, with hints).

Run it after SITE_URL changed (a new domain): every registered address changes with it.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from slotwise.messaging.channel_settings import (
    can_register_webhook,
    channel_class,
    channel_webhook_register,
)
from slotwise.messaging.inbound import inbound_url
from slotwise.messaging.models import ChannelConfig
from slotwise.org.models import Organisation


class Command(BaseCommand):
    help = (
        "Register the webhooks of an organisation's channels where the provider's API allows it; "
        "print the inbound addresses of the others."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="the organisation's slug")
        parser.add_argument("--kind", default="", help="only channels of this kind")
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would be done, call no provider"
        )

    def handle(self, *args, org, kind, dry_run, **options):
        organisation = Organisation.objects.filter(slug=org).first()
        if organisation is None:
            raise CommandError(f"No organisation with the slug {org!r}.")
        configs = ChannelConfig.objects.filter(organisation=organisation).order_by(
            "position", "kind", "name", "id"
        )
        if kind:
            configs = configs.filter(kind=kind)
        failed = 0
        for config in configs:
            url = inbound_url(config)
            label = f"{config.kind} “{config.name}”"
            if channel_class(config.kind) is None:
                self.stdout.write(f"{label}: this kind is not available here; skipped")
                continue
            if not can_register_webhook(config):
                self.stdout.write(f"{label}: set this address at the provider: {url}")
                continue
            if dry_run:
                self.stdout.write(f"{label}: would register {url}")
                continue
            status = channel_webhook_register(config_id=config.pk)
            if status == "registered":
                self.stdout.write(self.style.SUCCESS(f"{label}: registered {url}"))
            else:
                failed += 1
                config.refresh_from_db()
                error = ((config.settings or {}).get("webhook_registration") or {}).get("error")
                self.stderr.write(f"{label}: registration failed: {error or status}")
        if not configs:
            self.stdout.write("No channels.")
        if failed:
            raise CommandError(f"{failed} webhook registration(s) failed.")
