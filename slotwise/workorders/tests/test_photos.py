"""Photos from the site (S2.8): images only (judged by content, not name), size-limited,
re-encoded without EXIF/GPS, upright, with a thumbnail of at most 320 px; on-site only."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from slotwise.core.errors import ValidationError
from slotwise.workorders import photos, services
from slotwise.workorders.models import Status, WorkOrderPhoto

from .fixtures import World, local, next_day, photo_upload, png_bytes

pytestmark = pytest.mark.django_db

GPS_IFD = 0x8825
ORIENTATION = 0x0112


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def w():
    return World()


@pytest.fixture
def order(w):
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source="phone",
        title="Broken heater",
        type=w.type,
        location=w.location,
    )
    order = services.work_order_assign(
        order=order, technician=w.tech, start=local(next_day(), 10), actor=w.manager.user
    )
    return services.work_order_act(order=order, action="start", actor=w.tech.user)


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _stored_files(tmp_path) -> list:
    return [p for p in tmp_path.rglob("*") if p.is_file()]


def _jpeg(size, *, orientation=None, gps=True) -> bytes:
    image = Image.new("RGB", size, (10, 120, 200))
    exif = Image.Exif()
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (34.0, 3.0, 13.0), 3: "W", 4: (118.0, 14.0, 34.0)}
    exif[0x010F] = "PhoneMaker"  # camera make
    if orientation:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_gps_and_all_exif_are_stripped(order, w):
    upload = photo_upload(name="IMG_0001.jpg", exif_gps=True)
    source = _image(upload.read())
    upload.seek(0)
    assert source.getexif().get_ifd(GPS_IFD)  # the upload does carry a position
    photo = photos.photo_add(order=order, upload=upload, actor=w.tech.user)
    for field in (photo.image, photo.thumbnail):
        with field.open("rb") as f:
            raw = f.read()
        stored = _image(raw)
        assert stored.format == "JPEG"
        assert len(stored.getexif()) == 0
        assert "exif" not in stored.info and "icc_profile" not in stored.info
        assert b"Exif" not in raw[:4096]
    assert photo.content_type == "image/jpeg" and photo.original_name == "IMG_0001.jpg"
    assert photo.uploaded_by_id == w.tech.user.pk
    assert photo.image.name.startswith(f"workorders/{w.org.pk}/{order.public_id}/")


def test_camera_make_is_gone_too_and_the_picture_stands_upright(order):
    # orientation 6: the camera was turned, the pixels are stored sideways
    upload = SimpleUploadedFile("turned.jpg", _jpeg((80, 40), orientation=6, gps=False))
    photo = photos.photo_add(order=order, upload=upload)
    with photo.image.open("rb") as f:
        stored = _image(f.read())
    assert stored.size == (40, 80) and (photo.width, photo.height) == (40, 80)
    assert len(stored.getexif()) == 0


def test_text_file_named_jpg_is_refused(order, tmp_path):
    upload = SimpleUploadedFile(
        "photo.jpg", b"this is not a picture\n" * 20, content_type="image/jpeg"
    )
    with pytest.raises(ValidationError) as err:
        photos.photo_add(order=order, upload=upload)
    assert list(err.value.message_dict) == ["photos"]
    assert "photo.jpg is not a photo" in err.value.message_dict["photos"][0]
    assert not WorkOrderPhoto.objects.exists() and _stored_files(tmp_path) == []


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "PDF"])
def test_other_formats_are_refused(order, fmt):
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(out, format=fmt)
    upload = SimpleUploadedFile(f"scan.{fmt.lower()}", out.getvalue())
    with pytest.raises(ValidationError) as err:
        photos.photo_add(order=order, upload=upload)
    assert list(err.value.message_dict) == ["photos"]
    assert not WorkOrderPhoto.objects.exists()


def test_truncated_jpeg_is_refused(order):
    data = _jpeg((300, 200))
    upload = SimpleUploadedFile("cut.jpg", data[: len(data) // 2])
    with pytest.raises(ValidationError) as err:
        photos.photo_add(order=order, upload=upload)
    assert list(err.value.message_dict) == ["photos"]


def test_too_large_is_refused(order, settings, tmp_path):
    settings.WORKORDER_PHOTO_MAX_BYTES = 2048
    big = SimpleUploadedFile("big.png", png_bytes(size=(400, 400)) + b"\0" * 4096)
    assert big.size > 2048
    with pytest.raises(ValidationError) as err:
        photos.photo_add(order=order, upload=big)
    assert list(err.value.message_dict) == ["photos"]
    assert "big.png is too large" in err.value.message_dict["photos"][0]

    class Stream(io.BytesIO):  # no size known up front: counted while reading
        name = "stream.png"

    with pytest.raises(ValidationError) as err:
        photos.photo_add(order=order, upload=Stream(b"\x89PNG" + b"\0" * 5000))
    assert "too large" in err.value.message_dict["photos"][0]
    assert not WorkOrderPhoto.objects.exists() and _stored_files(tmp_path) == []
    small = photos.photo_add(order=order, upload=photo_upload())
    assert small.pk is not None  # a small photo still goes through


def test_too_many_pixels_is_refused(order):
    out = io.BytesIO()
    Image.new("1", (8000, 7000)).save(out, format="PNG")  # 56 MP, a few kB compressed
    with pytest.raises(ValidationError) as err:
        photos.photo_add(order=order, upload=SimpleUploadedFile("bomb.png", out.getvalue()))
    assert "too many pixels" in err.value.message_dict["photos"][0]


def test_thumbnail_at_most_320_px_and_photo_scaled_down(order):
    upload = SimpleUploadedFile("wide.jpg", _jpeg((3000, 1200)))
    photo = photos.photo_add(order=order, upload=upload)
    with photo.thumbnail.open("rb") as f:
        thumb = _image(f.read())
    assert max(thumb.size) <= 320 and thumb.size == (320, 128)
    with photo.image.open("rb") as f:
        stored = _image(f.read())
    assert stored.size == (2560, 1024) == (photo.width, photo.height)
    assert photo.size == photo.image.size


def test_small_photo_keeps_its_size(order):
    photo = photos.photo_add(order=order, upload=photo_upload(size=(200, 100)))
    with photo.thumbnail.open("rb") as f:
        assert _image(f.read()).size == (200, 100)


def test_transparent_png_stays_png(order):
    out = io.BytesIO()
    Image.new("RGBA", (50, 50), (255, 0, 0, 100)).save(out, format="PNG")
    photo = photos.photo_add(order=order, upload=SimpleUploadedFile("logo.png", out.getvalue()))
    assert photo.content_type == "image/png" and photo.image.name.endswith(".png")
    with photo.image.open("rb") as f:
        assert _image(f.read()).mode == "RGBA"


def test_photos_only_once_the_work_has_started(w):
    draft = services.work_order_create(
        organisation=w.org, contact=w.contact, source="phone", title="Later"
    )
    with pytest.raises(ValidationError) as err:
        photos.photo_add(order=draft, upload=photo_upload())
    assert list(err.value.message_dict) == ["photos"]
    assert not WorkOrderPhoto.objects.exists()


def test_delete_on_site_only(order, tmp_path, w):
    photo = photos.photo_add(order=order, upload=photo_upload())
    keep = photos.photo_add(order=order, upload=photo_upload(name="keep.png"))
    assert len(_stored_files(tmp_path)) == 4
    photos.photo_delete(photo=photo)
    assert list(WorkOrderPhoto.objects.values_list("pk", flat=True)) == [keep.pk]
    assert len(_stored_files(tmp_path)) == 2
    order = services.work_order_complete(
        order=order,
        data=services.CompletionInput(
            work_cost="0",
            extras_cost="0",
            travel_cost="0",
            toll_miles="0",
            tips="0",
            payment_method="cash",
            payment_amount="0",
            answers={"finished": "yes", "client_checked": "yes", "rating": "5"},
        ),
        actor=w.tech.user,
    )
    assert order.status == Status.COMPLETED
    keep.refresh_from_db()
    with pytest.raises(ValidationError) as err:
        photos.photo_delete(photo=keep)
    assert list(err.value.message_dict) == ["photos"]
    assert WorkOrderPhoto.objects.filter(pk=keep.pk).exists()
    assert len(_stored_files(tmp_path)) == 2


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_photos_are_refused_even_when_pillow_loads_truncated_images(
    order, monkeypatch, fmt
):
    """WeasyPrint turns LOAD_TRUNCATED_IMAGES on for the whole process when it is imported."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    out = io.BytesIO()
    Image.effect_noise((300, 200), 64).convert("RGB").save(out, format=fmt)
    whole = out.getvalue()
    cut = SimpleUploadedFile(f"cut.{fmt.lower()}", whole[: len(whole) * 2 // 3])
    with pytest.raises(ValidationError) as err:
        photos.photo_add(order=order, upload=cut)
    assert list(err.value.message_dict) == ["photos"]
    assert not WorkOrderPhoto.objects.exists()
    photos.photo_add(order=order, upload=SimpleUploadedFile(f"ok.{fmt.lower()}", whole))
    assert WorkOrderPhoto.objects.count() == 1
