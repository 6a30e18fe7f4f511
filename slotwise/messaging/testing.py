"""Helpers for tests of channels and of the inbox (imported by tests only)."""

from __future__ import annotations

from urllib.parse import urlsplit

from .inbound import inbound_process_pending, inbound_url
from .models import ChannelConfig
from .outbox import dispatch_due


def make_channel(organisation, kind: str, settings: dict | None = None, **fields) -> ChannelConfig:
    """A ChannelConfig for `organisation`. Secrets: pass `<name>_env` in settings and set the
    variable with monkeypatch.setenv."""
    return ChannelConfig.objects.create(
        organisation=organisation,
        kind=kind,
        name=fields.pop("name", kind),
        settings=settings or {},
        **fields,
    )


def inbound_path(config: ChannelConfig) -> str:
    return urlsplit(inbound_url(config)).path


def post_inbound(
    client,
    config: ChannelConfig,
    body: bytes | str,
    headers: dict | None = None,
    *,
    method: str = "POST",
    query: str = "",
    content_type: str = "application/json",
):
    """Call the channel's inbound webhook through the Django test client."""
    path = inbound_path(config) + (f"?{query}" if query else "")
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
    if method == "GET":
        return client.get(path, **extra)
    return client.generic(method, path, body, content_type=content_type, **extra)


def process_inbound() -> int:
    """Process every stored inbound event (what the worker's pump does)."""
    total = 0
    while done := inbound_process_pending(limit=500):
        total += done
    return total


def send_outbox() -> int:
    """Send every due outbox message (what the worker's pump does)."""
    total = 0
    while done := dispatch_due(limit=500):
        total += done
    return total
