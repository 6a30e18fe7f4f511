"""An inbound e-mail (parsed by django-anymail's `AnymailInboundMessage`) → one `InboundMessage`.

Shared by the Mailgun webhook and the local SMTP receiver, so a mail lands the same way
whichever door it came through:

- event id: ``email:<Message-ID>`` (a mail delivered twice — a Mailgun retry, a replay, a
  receiving MTA's duplicate — is one message); a mail without Message-ID gets the SHA-256 of its
  raw bytes (or of the provider's token);
- sender: the From address, lower-cased (the contact's e-mail identity), with its display name;
- text: the plain part (else the HTML part without tags), the quoted reply cut off when it is
  the simple kind (a line "On … wrote:" / "… skrev:" / "-----Original Message-----" followed by
  the quote, or ">" lines at the end); the provider's own stripped text wins when it has one;
- data: subject, Message-ID, In-Reply-To, References, To, Cc, Date;
- attachments: files arrive inside the mail, and nothing may be kept between parsing and
  fetching, so each file up to `INLINE_LIMIT` (5 MB) travels as a ``data:<type>;base64,…``
  reference that the inbox stores directly (`media.attachment_store_data_uri`, which still
  checks type and size). Larger files, and files beyond `MAX_FILES` or `INLINE_TOTAL`, are not
  taken: they are listed in ``data["skipped_attachments"]`` and logged.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

import structlog
from anymail.inbound import AnymailInboundMessage
from django.utils.html import strip_tags

from ..base import InboundMedia, InboundMessage, InboundRejected

log = structlog.get_logger("slotwise.messaging.email")

INLINE_LIMIT = 5 * 1024 * 1024
INLINE_TOTAL = 15 * 1024 * 1024
MAX_FILES = 10
MAX_TEXT = 20_000

_VERBS = (
    r"(?:wrote|schrieb|schreef|skrev|a écrit|escribió|ha scritto|написал|написала|написал\(а\))"
)
_REPLY_HEADER = re.compile(
    r"^\s*(?:"
    rf"(?:On|Am|Op|Le|Den|El|Il)\b.{{0,300}}\b{_VERBS}.{{0,300}}:"
    r"|.{0,300}<[^>]*@[^>]*>.{0,30}\bнаписал(?:а|\(а\))?\s*:"
    r"|-{2,}\s*(?:Original Message|Ursprungligt meddelande|Oorspronkelijk bericht"
    r"|Исходное сообщение)\s*-{2,}"
    r"|_{10,}"
    r")\s*$",
    re.IGNORECASE,
)


def strip_quoted(text: str) -> str:
    """The new part of a reply: everything before the first reply header ("On … wrote:") and
    without trailing ">" quoted lines. Left alone when that would leave nothing."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    for index, line in enumerate(lines):
        # Mail programs wrap a long "On …, Name <address> wrote:" over two lines.
        joined = f"{line} {lines[index + 1]}" if index + 1 < len(lines) else line
        if _REPLY_HEADER.match(line) or (line.strip() and _REPLY_HEADER.match(joined)):
            cut = index
            break
    kept = lines[:cut]
    while kept and (kept[-1].startswith(">") or not kept[-1].strip()):
        kept.pop()
    result = "\n".join(kept).strip()
    return result or text.strip()


def _text_of(message: AnymailInboundMessage, stripped: str | None) -> str:
    if stripped and stripped.strip():
        return stripped.strip()[:MAX_TEXT]
    plain = message.text
    if plain is None and message.html:
        plain = re.sub(r"\n\s*\n+", "\n\n", strip_tags(message.html))
    return strip_quoted(plain or "")[:MAX_TEXT]


def _event_id(message_id: str, fallback: str) -> str:
    if message_id:
        candidate = f"email:{message_id}"
        if len(candidate) <= 200:
            return candidate
        return "email:sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return "email:sha256:" + hashlib.sha256(fallback.encode("utf-8", "replace")).hexdigest()


def _files(message: AnymailInboundMessage) -> Iterable[AnymailInboundMessage]:
    """Attachments, and inline parts that are files (a photo pasted into the mail) rather than
    the text or HTML body."""
    seen = set()
    for part in message.walk():
        if part.is_multipart() or id(part) in seen:
            continue
        disposition = part.get_content_disposition()
        if disposition == "attachment" or (disposition == "inline" and part.get_filename()):
            seen.add(id(part))
            yield part


def _media(message: AnymailInboundMessage) -> tuple[tuple[InboundMedia, ...], list[dict]]:
    media: list[InboundMedia] = []
    skipped: list[dict] = []
    total = 0
    for part in _files(message):
        filename = (part.get_filename() or "")[:200]
        content_type = part.get_content_type()
        try:
            content = part.get_content_bytes() or b""
        except (ValueError, AssertionError):
            content = b""
        size = len(content)
        reason = ""
        if not content:
            reason = "empty"
        elif size > INLINE_LIMIT:
            reason = "too large"
        elif total + size > INLINE_TOTAL:
            reason = "total too large"
        elif len(media) >= MAX_FILES:
            reason = "too many files"
        if reason:
            log.warning("email attachment not taken", filename=filename, size=size, reason=reason)
            skipped.append({"filename": filename, "size": size, "reason": reason})
            continue
        total += size
        media.append(
            InboundMedia(
                ref=f"data:{content_type};base64,{base64.b64encode(content).decode('ascii')}",
                content_type=content_type,
                filename=filename,
                size=size,
            )
        )
    return tuple(media), skipped


def _addresses(message: AnymailInboundMessage, header: str) -> list[str]:
    try:
        return [a.addr_spec.lower() for a in message.get_address_header(header)]
    except Exception:  # noqa: BLE001 - a malformed To/Cc must not lose the mail
        return []


def message_from_email(
    message: AnymailInboundMessage,
    *,
    fallback_id: str,
    stripped_text: str | None = None,
    occurred_at=None,
) -> InboundMessage:
    """The inbox's view of one parsed e-mail (see the module docstring)."""
    sender = message.from_email
    if isinstance(sender, list):  # several From addresses: legal, rare; the first one writes
        sender = sender[0] if sender else None
    if sender is None or not sender.addr_spec or "@" not in sender.addr_spec:
        raise InboundRejected("no From address", status=400)
    address = sender.addr_spec.strip().lower()
    message_id = (message.get("Message-ID") or "").strip()
    media, skipped = _media(message)
    date = None
    try:
        date = message.date
    except Exception:  # noqa: BLE001 - an unparseable Date header is just left out
        date = None
    data = {
        "subject": str(message.subject or "")[:255],
        "message_id": message_id[:500],
        "in_reply_to": str(message.get("In-Reply-To") or "").strip()[:500],
        "references": str(message.get("References") or "").strip()[:2000],
        "to": _addresses(message, "To"),
        "cc": _addresses(message, "Cc"),
        "date": date.isoformat() if date else "",
    }
    if skipped:
        data["skipped_attachments"] = skipped
    return InboundMessage(
        event_id=_event_id(message_id, fallback_id),
        sender=address,
        text=_text_of(message, stripped_text),
        media=media,
        sender_name=(sender.display_name or "")[:120],
        sender_email=address,
        external_id=message_id[:255],
        occurred_at=occurred_at,
        kind="text",
        data={k: v for k, v in data.items() if v},
    )


def parse_mime(raw: bytes) -> InboundMessage:
    """One raw RFC 5322 message (what an SMTP server receives, Mailgun's `body-mime`)."""
    try:
        message = AnymailInboundMessage.parse_raw_mime_bytes(raw)
    except Exception as exc:  # noqa: BLE001 - the parser's errors are many; all mean "malformed"
        raise InboundRejected("malformed message", status=400) from exc
    return message_from_email(message, fallback_id=hashlib.sha256(raw).hexdigest())
