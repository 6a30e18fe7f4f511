"""Attachments: stored only after their type and size are checked.

Inbound files (a driver's photo of a licence) are fetched by the worker through the channel's
`fetch_media`, then checked: at most `MESSAGING_MAX_MEDIA_BYTES` (and the channel's own limit),
and a type in `MESSAGING_MEDIA_TYPES` judged by the CONTENT, not by what the sender claims — an
image must open as an image (Pillow), a PDF must start like one. A file that fails is kept as a
`rejected` attachment with the reason (so staff see that something was sent) but its bytes are
not stored. Outgoing files are checked the same way when staff attach them.

Providers that fetch our files themselves (WhatsApp `link`, Twilio `MediaUrl`) get a signed,
time-limited URL (`signed_url`) served by `views.media`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import mimetypes
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from .channels.base import ChannelError, InboundMedia
from .models import Attachment, AttachmentStatus, Message

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic"}
DEFAULT_TYPES = IMAGE_TYPES | {
    "application/pdf",
    "audio/ogg",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/amr",
    "video/mp4",
    "video/3gpp",
    "text/plain",
}
SIGNED_URL_MAX_AGE = 24 * 3600
_SALT = "slotwise.messaging.media"


class MediaRejected(ValueError):
    pass


def max_bytes() -> int:
    return getattr(settings, "MESSAGING_MAX_MEDIA_BYTES", 16 * 1024 * 1024)


def allowed_types() -> set[str]:
    return set(getattr(settings, "MESSAGING_MEDIA_TYPES", DEFAULT_TYPES))


def sniff(content: bytes, declared: str) -> str:
    """The content type the bytes really are (for the types we check), else the declared one
    without parameters."""
    declared = (declared or "").split(";")[0].strip().lower()
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    try:
        from PIL import Image

        with Image.open(io.BytesIO(content)) as image:
            image.verify()
            fmt = (image.format or "").lower()
        return {
            "jpeg": "image/jpeg",
            "png": "image/png",
            "webp": "image/webp",
            "gif": "image/gif",
        }.get(fmt, f"image/{fmt}")
    except Exception:
        pass
    if declared in IMAGE_TYPES or declared == "application/pdf":
        return "application/octet-stream"  # claims to be an image or a PDF but is not one
    return declared or "application/octet-stream"


def check(content: bytes, declared: str, *, limit: int | None = None) -> str:
    """The checked content type; raises MediaRejected with a translated reason."""
    limit = min(limit or max_bytes(), max_bytes())
    if len(content) > limit:
        raise MediaRejected(
            _("The file is too large (%(size)s MB; at most %(limit)s MB).")
            % {"size": round(len(content) / 1_048_576, 1), "limit": round(limit / 1_048_576, 1)}
        )
    if not content:
        raise MediaRejected(_("The file is empty."))
    content_type = sniff(content, declared)
    if content_type not in allowed_types():
        raise MediaRejected(
            _("Files of this type (%(type)s) are not accepted.") % {"type": content_type}
        )
    return content_type


def _filename(filename: str, content_type: str) -> str:
    name = get_valid_filename(filename or "") if filename else ""
    if not name:
        name = "file" + (mimetypes.guess_extension(content_type) or "")
    return name[:150]


def _store(attachment: Attachment, content: bytes, content_type: str, filename: str) -> None:
    attachment.filename = _filename(filename or attachment.filename, content_type)
    attachment.content_type = content_type
    attachment.size = len(content)
    attachment.sha256 = hashlib.sha256(content).hexdigest()
    attachment.file.save(attachment.filename, ContentFile(content), save=False)
    attachment.status = AttachmentStatus.STORED
    attachment.rejected_reason = ""
    attachment.save()


def _reject(attachment: Attachment, reason: str) -> None:
    attachment.status = AttachmentStatus.REJECTED
    attachment.rejected_reason = reason[:255]
    attachment.save(update_fields=["status", "rejected_reason", "updated_at"])


def attachment_store_bytes(
    *, message: Message, filename: str, content_type: str, content: bytes
) -> Attachment:
    """Attach a file staff (or a bot) send. Raises MediaRejected (nothing stored)."""
    checked = check(content, content_type)
    attachment = Attachment(organisation_id=message.organisation_id, message=message)
    _store(attachment, content, checked, filename)
    return attachment


def attachment_store_data_uri(*, attachment: Attachment, data_uri: str) -> Attachment:
    """Store an inline attachment (e-mail) given as `data:<type>;base64,<content>`."""
    header, _sep, encoded = data_uri.partition(",")
    declared = header[5:].split(";")[0]
    try:
        content = base64.b64decode(encoded, validate=True)
        _store(attachment, content, check(content, declared), attachment.filename)
    except (binascii.Error, ValueError) as exc:
        _reject(attachment, str(exc))
    return attachment


def attachment_fetch(*, attachment_id: int) -> str:
    """Download an inbound attachment through its channel and store it if it passes."""
    from .inbound import channel_for

    attachment = (
        Attachment.objects.filter(pk=attachment_id, status=AttachmentStatus.PENDING)
        .select_related("message__channel_config", "message__conversation")
        .first()
    )
    if attachment is None:
        return "done"
    config = attachment.message.channel_config
    channel = channel_for(config)
    try:
        fetched = channel.fetch_media(
            InboundMedia(
                ref=attachment.source_ref,
                content_type=attachment.content_type,
                filename=attachment.filename,
                size=attachment.size,
            )
        )
        checked = check(fetched.content, fetched.content_type, limit=channel.max_media_bytes)
    except MediaRejected as exc:
        _reject(attachment, str(exc))
        return "rejected"
    except ChannelError as exc:
        if not exc.permanent:
            raise  # the task retries
        _reject(attachment, str(exc))
        return "rejected"
    _store(attachment, fetched.content, checked, fetched.filename or attachment.filename)
    if attachment.message.conversation_id:
        from . import live

        live.publish(attachment.message.conversation, attachment.message)
    return "stored"


def signed_url(attachment: Attachment) -> str:
    token = signing.TimestampSigner(salt=_SALT).sign(str(attachment.public_id))
    path = reverse("messaging:media", args=[attachment.public_id])
    return f"{settings.SITE_URL.rstrip('/')}{path}?{urlencode({'t': token})}"


def verify_token(public_id, token: str) -> bool:
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign(token, max_age=SIGNED_URL_MAX_AGE)
    except signing.BadSignature:
        return False
    return value == str(public_id)
