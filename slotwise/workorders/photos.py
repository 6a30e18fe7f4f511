"""Photos from the site (S2.8): images only, size-limited, re-encoded so location and every other
metadata are gone, with a thumbnail.

The upload is judged by its content (Pillow must open it as JPEG, PNG, WebP or GIF), never by
its name or the browser's content type. The stored photo is a fresh JPEG (or PNG when the image
has transparency) written from the pixels alone — EXIF (GPS position, camera serial), XMP and
ICC comments are not copied — after applying the EXIF orientation so the picture stands upright.
"""

from __future__ import annotations

import io
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from slotwise.core.errors import ValidationError

from .models import ON_SITE_STATUSES, Status, WorkOrder, WorkOrderPhoto

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "MPO"}
THUMBNAIL = (320, 320)
#: the longest side of a stored photo (a phone's 12 MP picture is scaled down)
MAX_SIDE = 2560
MAX_PIXELS = 50_000_000


def max_bytes() -> int:
    return int(getattr(settings, "WORKORDER_PHOTO_MAX_BYTES", 15 * 1024 * 1024))


def _read(upload) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes():
        raise ValidationError(
            {
                "photos": _("%(name)s is too large: at most %(mb)s MB.")
                % {"name": upload.name, "mb": max_bytes() // (1024 * 1024)}
            }
        )
    content = upload.read(max_bytes() + 1)
    if len(content) > max_bytes():
        raise ValidationError(
            {
                "photos": _("%(name)s is too large: at most %(mb)s MB.")
                % {"name": upload.name, "mb": max_bytes() // (1024 * 1024)}
            }
        )
    return content


def _complete(fmt: str, content: bytes) -> bool:
    """Whether the file is whole. Pillow would tell on decoding, but WeasyPrint switches
    `ImageFile.LOAD_TRUNCATED_IMAGES` on for the whole process when it is imported (invoice
    PDFs), after which a cut-off upload decodes "successfully" with grey pixels. So the end of
    the file is checked by format: a JPEG's last end-of-image marker comes after its last
    start-of-scan (an EXIF thumbnail's own markers come before the main image's); a PNG has its
    IEND chunk; a GIF its trailer byte; a WebP the length its RIFF header announces."""
    if fmt in ("JPEG", "MPO"):
        return content.rfind(b"\xff\xd9") > content.rfind(b"\xff\xda") >= 0
    if fmt == "PNG":
        return b"IEND" in content[-64:]
    if fmt == "GIF":
        return content.rstrip(b"\x00").endswith(b"\x3b")
    if fmt == "WEBP":
        return len(content) >= 8 + int.from_bytes(content[4:8], "little")
    return False


def clean_image(content: bytes, name: str = "") -> tuple[bytes, bytes, str, int, int]:
    """(photo bytes, thumbnail bytes, content type, width, height) with no metadata, or
    ValidationError({"photos": ...}) if it isn't an image we accept."""
    refused = ValidationError(
        {
            "photos": _("%(name)s is not a photo (JPEG, PNG, WebP or GIF).")
            % {"name": name or _("The file")}
        }
    )
    try:
        with Image.open(io.BytesIO(content)) as probe:
            if probe.format not in ALLOWED_FORMATS:
                raise refused
            if probe.width * probe.height > MAX_PIXELS:
                raise ValidationError(
                    {"photos": _("%(name)s has too many pixels.") % {"name": name}}
                )
            if not _complete(probe.format, content):
                raise refused
            probe.verify()
        with Image.open(io.BytesIO(content)) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            has_alpha = image.mode in ("RGBA", "LA") or (
                image.mode == "P" and "transparency" in image.info
            )
            image = image.convert("RGBA" if has_alpha else "RGB")
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            width, height = image.size
            fmt, ctype = ("PNG", "image/png") if has_alpha else ("JPEG", "image/jpeg")
            out = io.BytesIO()
            # A new image from the pixels: no exif=, no icc_profile=, no info carried over.
            clean = Image.new(image.mode, image.size)
            clean.paste(image)
            clean.save(
                out, format=fmt, **({"quality": 85, "optimize": True} if fmt == "JPEG" else {})
            )
            thumb = clean.copy()
            thumb.thumbnail(THUMBNAIL)
            tout = io.BytesIO()
            thumb.save(tout, format=fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise refused from None
    return out.getvalue(), tout.getvalue(), ctype, width, height


def photo_add(*, order: WorkOrder, upload, actor=None) -> WorkOrderPhoto:
    """Store one photo of the order (on site, or when completing). Raises ValidationError."""
    if order.status not in (*ON_SITE_STATUSES, Status.COMPLETED):
        raise ValidationError({"photos": _("Photos are added once the work has started.")})
    name = (getattr(upload, "name", "") or "photo")[-200:]
    photo_bytes, thumb_bytes, ctype, width, height = clean_image(_read(upload), name)
    ext = "png" if ctype == "image/png" else "jpg"
    public_id = uuid.uuid4()
    with transaction.atomic():
        photo = WorkOrderPhoto(
            order=order,
            public_id=public_id,
            content_type=ctype,
            width=width,
            height=height,
            size=len(photo_bytes),
            original_name=name,
            uploaded_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        photo.image.save(f"{public_id}.{ext}", ContentFile(photo_bytes), save=False)
        photo.thumbnail.save(f"{public_id}-thumb.{ext}", ContentFile(thumb_bytes), save=False)
        photo.save()
    return photo


def photo_delete(*, photo: WorkOrderPhoto) -> None:
    if photo.order.status not in ON_SITE_STATUSES:
        raise ValidationError({"photos": _("Photos of a completed order can't be removed.")})
    photo.image.delete(save=False)
    photo.thumbnail.delete(save=False)
    photo.delete()
