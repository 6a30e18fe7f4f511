"""A small SMTP server (aiosmtpd) that receives mail for one e-mail channel — the demo's way to
"be the customer" by e-mail, and usable behind a real MTA that relays a domain to it.

It accepts a recipient only if it is one of the channel's addresses (`from_address`, plus any in
the `inbound_addresses` setting, comma-separated), parses the mail exactly as the Mailgun webhook
does (`mime.parse_mime`) and stores it with `inbound.inbound_accept`, the inbox's entry for
input that is already authenticated (here: by being on this host's SMTP port; bind it to
127.0.0.1 or put it behind the MTA). The worker then processes it like any inbound message.

SMTP answers: 550 for an unknown recipient or a mail without a From address, 451 ("try again
later") if storing failed, so the sending server keeps the mail and retries. A replayed or
re-delivered mail (same Message-ID) is accepted with 250 and ignored by the inbox.

Run it with `manage.py smtp_receiver --port 2525 --channel <inbound key>`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from email.utils import getaddresses

import structlog
from aiosmtpd.controller import Controller
from django.db import close_old_connections, connection

from ..base import InboundMessage, InboundRejected, InboundResult
from .mime import parse_mime

log = structlog.get_logger("slotwise.messaging.smtp_receiver")

MAX_MESSAGE_BYTES = 25 * 1024 * 1024


class InboundMailHandler:
    """aiosmtpd handler: checks recipients, parses each mail, hands it to `deliver` in a thread
    (it writes to the database; the event loop must not wait on that)."""

    def __init__(
        self, *, deliver: Callable[[InboundMessage], None], addresses: Iterable[str] = ()
    ) -> None:
        self.deliver = deliver
        self.addresses = {a.strip().lower() for a in addresses if a and a.strip()}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.addresses and address.strip().lower() not in self.addresses:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            item = parse_mime(raw)
        except InboundRejected as exc:
            log.warning("smtp mail refused", reason=str(exc), mail_from=envelope.mail_from)
            return "550 5.6.0 Message not accepted: no sender address"
        try:
            await asyncio.to_thread(self.deliver, item)
        except Exception:
            log.exception("smtp mail not stored", event_id=item.event_id)
            return "451 4.3.0 Could not store the message, try again later"
        log.info("smtp mail received", event_id=item.event_id, sender=item.sender)
        return "250 2.0.0 Message accepted for delivery"


def channel_addresses(config) -> set[str]:
    settings = config.settings or {}
    raw = [settings.get("from_address", ""), settings.get("inbound_addresses", "")]
    return {addr.lower() for _name, addr in getaddresses(raw) if "@" in addr}


def channel_deliverer(config) -> Callable[[InboundMessage], None]:
    """Store one parsed mail as an inbound event of `config` (a ChannelConfig)."""

    def deliver(item: InboundMessage) -> None:
        from slotwise.messaging.inbound import inbound_accept

        close_old_connections()
        try:
            inbound_accept(config=config, result=InboundResult(messages=(item,)))
        finally:
            connection.close()  # this thread's connection; the pool thread may not come back

    return deliver


def start_receiver(
    config,
    *,
    host: str = "127.0.0.1",
    port: int = 2525,
    max_bytes: int = MAX_MESSAGE_BYTES,
    deliver: Callable[[InboundMessage], None] | None = None,
) -> Controller:
    """Start receiving mail for `config` in a background thread; `controller.stop()` ends it."""
    handler = InboundMailHandler(
        deliver=deliver or channel_deliverer(config), addresses=channel_addresses(config)
    )
    controller = Controller(
        handler,
        hostname=host,
        port=port,
        data_size_limit=max_bytes,
        enable_SMTPUTF8=True,
    )
    controller.start()
    return controller
