"""Mailgun's inbound webhook (a receiving Route whose action is `forward("<our inbound URL>")`).

Mailgun POSTs `multipart/form-data` (or `x-www-form-urlencoded` without files) with
`timestamp`, `token` and `signature` = hex HMAC-SHA256(webhook signing key, timestamp + token),
plus either the parsed message (`message-headers` JSON, `body-plain`, `body-html`,
`stripped-text`, `attachment-count`, files `attachment-1` …) or, when the route forwards to a
URL ending in `mime`, the raw message in `body-mime`.

The parsing of the message itself is django-anymail's (`AnymailInboundMessage.parse_raw_mime`
and `.construct`, as its `MailgunInboundWebhookView` uses them); anymail's view is not used as
is because it wants its own URL, a Django request and one global signing key, while each of our
channels has its own key and is reached through the inbox's webhook.
"""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import json
from dataclasses import dataclass
from email.parser import BytesParser
from urllib.parse import parse_qsl

from anymail.inbound import AnymailInboundMessage

from ..base import InboundRejected


@dataclass(frozen=True, slots=True)
class FormFile:
    name: str
    filename: str
    content_type: str
    content: bytes


def parse_form(body: bytes, content_type: str) -> tuple[dict[str, str], list[FormFile]]:
    """Fields and files of a form POST. multipart/form-data is read with the standard library's
    MIME parser (no size limits of Django's upload handlers: Mailgun's raw MIME can be large)."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
        parsed = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        if not parsed.is_multipart():
            raise InboundRejected("malformed form", status=400)
        fields: dict[str, str] = {}
        files: list[FormFile] = []
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files.append(FormFile(str(name), filename, part.get_content_type(), payload))
            else:
                charset = part.get_content_charset() or "utf-8"
                fields[str(name)] = payload.decode(charset, "replace")
        return fields, files
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), []
    raise InboundRejected("not a form", status=415)


def sign(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(
        signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()


def verify(fields: dict[str, str], signing_key: str) -> int:
    """Check Mailgun's signature; returns the (signed) timestamp."""
    timestamp = fields.get("timestamp", "")
    token = fields.get("token", "")
    signature = fields.get("signature", "")
    if not (timestamp and token and signature):
        raise InboundRejected("no Mailgun signature")
    if not hmac.compare_digest(signature, sign(signing_key, timestamp, token)):
        raise InboundRejected("bad Mailgun signature")
    try:
        return int(timestamp)
    except ValueError:
        raise InboundRejected("bad timestamp", status=400) from None


def _attachment_number(f: FormFile) -> int:
    number = f.name.rpartition("-")[2]
    return int(number) if number.isdigit() else 0


def message_from_form(fields: dict[str, str], files: list[FormFile]) -> AnymailInboundMessage:
    """The mail itself, from the raw MIME or from Mailgun's parsed fields (anymail's parsing)."""
    if "body-mime" in fields:
        return AnymailInboundMessage.parse_raw_mime(fields["body-mime"])
    try:
        headers = json.loads(fields.get("message-headers") or "[]")
    except ValueError:
        raise InboundRejected("bad message-headers", status=400) from None
    # content-id-map is {content-id: "attachment-N"}: which files are inline pictures.
    try:
        cid_map = json.loads(fields.get("content-id-map") or "{}")
    except ValueError:
        cid_map = {}
    content_ids = {field: cid for cid, field in cid_map.items()}
    attachments = [
        AnymailInboundMessage.construct_attachment(
            content_type=f.content_type,
            content=f.content,
            filename=f.filename,
            content_id=content_ids.get(f.name),
        )
        for f in sorted(files, key=_attachment_number)
        if f.name.startswith("attachment-")
    ]
    if not headers and fields.get("from"):
        headers = [["From", fields["from"]], ["Subject", fields.get("subject", "")]]
    return AnymailInboundMessage.construct(
        headers=headers,
        text=fields.get("body-plain"),
        html=fields.get("body-html"),
        attachments=attachments,
    )
