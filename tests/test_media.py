"""Race images: what Pillow lets through, what is stored where, and the /media route."""
from __future__ import annotations

import io
import re
import struct
import warnings
import zlib

import httpx
import pytest
from flask import render_template_string
from PIL import ExifTags, Image, ImageCms, ImageFile
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from models import MediaKind, Race, RaceMedia
from services.media import (
    DAMAGED,
    MAX_BYTES,
    NOT_AN_IMAGE,
    MediaError,
    delete_race_image,
    media_url,
    process_image,
    save_race_image,
)
from services.storage import LocalStorage, StorageError, SupabaseStorage, storage_for
from tests.doubles.gotrue import GoTrueServer
from tests.factories import make_race

VARIANT_RE = re.compile(r"-\d+w\.webp$")
KEY_RE = re.compile(r"races/(\d+)/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.webp")


# ---------------------------------------------------------------------- making images


def image_bytes(fmt: str, size=(800, 600), mode="RGB", color=(200, 40, 40), **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt, **save)
    return out.getvalue()


def noisy_jpeg(size=(1200, 900)) -> bytes:
    """A photo-like JPEG whose pixel data fills most of the file (so cutting it hurts)."""
    out = io.BytesIO()
    Image.merge("RGB", [Image.effect_noise(size, 60)] * 3).save(out, "JPEG", quality=90)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid, all-black 1-bit PNG of the given size: a few KB on disk, huge once decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = (b"\x00" + bytes((width + 7) // 8)) * height
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def webp_chunks(data: bytes) -> list[bytes]:
    """The RIFF chunk names in a WebP file: metadata would show up as EXIF, XMP or ICCP."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    names, pos = [], 12
    while pos + 8 <= len(data):
        name, length = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        names.append(name)
        pos += 8 + length + (length & 1)
    return names


def photo_with_location() -> bytes:
    """A 300×200 JPEG (left half red, right half blue) tagged "rotate 90° clockwise", with GPS and XMP."""
    im = Image.new("RGB", (300, 200), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 150, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "RunnerPhone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 3.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 53.0, 1.0)
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="52,22.05N"/>'
           b"</rdf:RDF></x:xmpmeta>")
    out = io.BytesIO()
    im.save(out, "JPEG", quality=95, exif=exif, xmp=xmp)
    return out.getvalue()


# ---------------------------------------------------------------------- fixtures


@pytest.fixture
def storage(app, tmp_path) -> LocalStorage:
    app.config["MEDIA_ROOT"] = str(tmp_path / "media")
    local = storage_for(app)
    assert isinstance(local, LocalStorage)
    return local


@pytest.fixture
def supabase(app):
    with GoTrueServer() as server:
        app.config.update(STORAGE="supabase", SUPABASE_URL=server.url, SUPABASE_SECRET_KEY=server.service_key)
        yield server


def stored_files(storage: LocalStorage) -> list[str]:
    """The stored images, without a cover's smaller copies ("…-480w.webp"): tests/test_static_delivery.py
    follows those through upload, replacement, deletion and a failed write."""
    if not storage.root.exists():
        return []
    return sorted(p.relative_to(storage.root).as_posix() for p in storage.root.rglob("*")
                  if p.is_file() and not VARIANT_RE.search(p.name))


def media_rows(db) -> list[RaceMedia]:
    return list(db.session.scalars(select(RaceMedia).order_by(RaceMedia.id)))


class BrokenStorage:
    """Storage that is down: every call fails as the real ones do."""

    def put(self, key, data, content_type):
        raise StorageError()

    def delete(self, key):
        raise StorageError()

    def get(self, key):
        raise StorageError()

    def url(self, key):
        return "/nowhere"


# ---------------------------------------------------------------------- processing


@pytest.mark.parametrize("fmt, mode, color", [
    ("JPEG", "RGB", (200, 40, 40)),
    ("PNG", "RGB", (20, 140, 60)),
    ("PNG", "P", 3),
    ("PNG", "L", 90),
    ("WEBP", "RGB", (10, 10, 200)),
])
def test_jpeg_png_and_webp_become_a_webp_of_the_same_size(fmt, mode, color):
    result = process_image(image_bytes(fmt, (640, 480), mode, color), filename=f"photo.{fmt.lower()}")
    assert (result.content_type, result.extension) == ("image/webp", "webp")
    stored = Image.open(io.BytesIO(result.data))
    assert stored.format == "WEBP"
    assert stored.size == (result.width, result.height) == (640, 480)


@pytest.mark.parametrize("size, expected", [((3000, 1500), (2000, 1000)), ((1200, 4000), (600, 2000))])
def test_a_big_picture_is_resized_so_its_longest_side_is_2000px(size, expected):
    result = process_image(image_bytes("JPEG", size))
    assert (result.width, result.height) == expected
    assert Image.open(io.BytesIO(result.data)).size == expected


def encoded(im: Image.Image, fmt: str, **save) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **save)
    return out.getvalue()


@pytest.mark.parametrize("data, colour", [
    (encoded(Image.new("CMYK", (90, 60), (0, 255, 255, 0)), "JPEG"), (255, 0, 0, 255)),
    (encoded(Image.new("I;16", (90, 60), 40000), "PNG"), (156, 156, 156, 255)),
    (encoded(Image.new("P", (90, 60), 0), "PNG", transparency=0), (0, 0, 0, 0)),
    (encoded(Image.new("RGB", (90, 60), "blue"), "MPO", save_all=True, append_images=[Image.new("RGB", (90, 60))]),
     (0, 0, 255, 255)),
], ids=["cmyk-jpeg", "16-bit-png", "palette-png-with-transparency", "mpo-jpeg-from-a-phone"])
def test_less_common_kinds_of_jpeg_and_png_come_out_right(data, colour):
    stored = Image.open(io.BytesIO(process_image(data).data)).convert("RGBA")
    assert stored.size == (90, 60)
    if colour[3] == 0:
        assert stored.getpixel((45, 30))[3] == 0
    else:
        assert all(abs(a - b) <= 4 for a, b in zip(stored.getpixel((45, 30)), colour, strict=True))


def test_a_png_keeps_its_transparency():
    im = Image.new("RGBA", (400, 300), (255, 0, 0, 255))
    im.paste((0, 0, 0, 0), (0, 0, 200, 300))  # left half fully transparent
    out = io.BytesIO()
    im.save(out, "PNG")
    stored = Image.open(io.BytesIO(process_image(out.getvalue()).data))
    assert stored.mode == "RGBA"
    assert stored.getpixel((50, 150))[3] == 0
    assert stored.getpixel((350, 150))[3] == 255


def test_a_colour_profile_is_applied_and_not_stored():
    tagged = io.BytesIO()
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(tagged, "JPEG", icc_profile=profile)
    assert Image.open(tagged).info["icc_profile"]
    stored = Image.open(io.BytesIO(process_image(tagged.getvalue()).data))
    assert "icc_profile" not in stored.info
    assert all(abs(a - b) < 12 for a, b in zip(stored.getpixel((32, 32)), (10, 200, 30), strict=True))


def test_a_text_file_renamed_to_jpg_is_refused():
    with pytest.raises(MediaError) as error:
        process_image(b"Start list\nAda, 5K\nGrace, 10K\n" * 50, filename="startlist.jpg")
    assert str(error.value) == NOT_AN_IMAGE == "That file isn't a JPEG, PNG or WebP image."


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_images_in_other_formats_are_refused(fmt):
    with pytest.raises(MediaError) as error:
        process_image(image_bytes(fmt, (50, 50)), filename="cover.jpg")
    assert str(error.value) == NOT_AN_IMAGE


def test_an_empty_file_is_refused():
    with pytest.raises(MediaError, match="That file is empty."):
        process_image(b"")


@pytest.mark.parametrize("data", [noisy_jpeg(), image_bytes("PNG", (600, 400), "RGB", (1, 2, 3))],
                         ids=["jpeg", "png"])
def test_a_truncated_image_is_refused(data):
    with pytest.raises(MediaError) as error:
        process_image(data[: len(data) * 2 // 3], filename="cut-off")
    assert str(error.value) == DAMAGED == "That image is damaged or incomplete."


@pytest.mark.parametrize("size, shown", [(11 * 1024 * 1024, "11.0"), (int(14.2 * 1024 * 1024), "14.2"),
                                         (MAX_BYTES + 1, "10.1")])
def test_a_file_over_10_mb_is_refused_with_its_size(size, shown):
    # JPEG magic first, so only the size can be the reason.
    data = b"\xff\xd8\xff\xe0" + bytes(size - 4)
    with pytest.raises(MediaError) as error:
        process_image(data, filename="huge.jpg")
    assert str(error.value) == f"That file is {shown} MB; images can be at most 10 MB."


def test_a_50_megapixel_bomb_is_refused_before_any_pixel_is_decoded(monkeypatch):
    bomb = png_claiming(10_000, 5_000)
    assert len(bomb) < 100_000  # small on disk, 50 megapixels once decoded

    decoded = []
    real_load = ImageFile.ImageFile.load

    def spy(self):
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    with pytest.raises(MediaError) as error:
        process_image(bomb, filename="bomb.png")
    assert str(error.value) == "That image is 10,000 × 5,000 pixels; images can be at most 40 megapixels."
    assert decoded == []

    process_image(png_claiming(400, 300))  # the spy does see a decode when there is one
    assert (400, 300) in decoded


@pytest.mark.parametrize("width, height", [(10_000, 10_000), (20_000, 10_000)])
def test_bigger_bombs_are_refused_without_pillow_warnings_escaping(width, height):
    # 100 MP is in Pillow's own "warn" band, 200 MP in its "error" band.
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        with pytest.raises(MediaError, match="at most 40 megapixels"):
            process_image(png_claiming(width, height))
    assert escaped == []


# ---------------------------------------------------------------------- storing race images


def test_a_phone_photo_loses_its_location_and_is_turned_upright(db, storage):
    original = photo_with_location()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test photo has GPS
    race = make_race(db)

    media = save_race_image(db.session, storage, race, original, kind="gallery", filename="IMG_0001.jpg")

    raw = storage.path(media.storage_key).read_bytes()
    assert set(webp_chunks(raw)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}  # no EXIF, XMP or ICCP chunk
    stored = Image.open(io.BytesIO(raw))
    assert len(stored.getexif()) == 0
    assert not {"exif", "xmp", "icc_profile"} & set(stored.info)
    # Orientation 6 means "turn 90° clockwise": the red left half ends up on top.
    assert stored.size == (200, 300) == (media.width, media.height)
    top, bottom = stored.convert("RGB").getpixel((100, 40)), stored.convert("RGB").getpixel((100, 260))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_a_cover_is_stored_on_disk_and_recorded(db, storage):
    race = make_race(db)
    media = save_race_image(db.session, storage, race, image_bytes("JPEG", (2400, 1600)), kind="cover",
                            filename="cover.jpg")

    match = KEY_RE.fullmatch(media.storage_key)
    assert match and int(match.group(1)) == race.id
    assert stored_files(storage) == [media.storage_key]
    db.session.expire_all()
    row = db.session.scalar(select(RaceMedia))
    assert (row.race_id, row.kind, row.content_type, row.width, row.height) == (
        race.id, MediaKind.COVER, "image/webp", 2000, 1333)
    assert row.bytes == storage.path(row.storage_key).stat().st_size
    assert db.session.get(Race, race.id).cover_image == media.storage_key


def test_a_new_cover_replaces_the_old_one_and_its_file(db, storage):
    race = make_race(db)
    first = save_race_image(db.session, storage, race, image_bytes("JPEG"), kind="cover", filename="a.jpg")
    gallery = save_race_image(db.session, storage, race, image_bytes("PNG"), kind="gallery", filename="b.png")
    second = save_race_image(db.session, storage, race, image_bytes("WEBP"), kind="cover", filename="c.webp")

    assert stored_files(storage) == sorted([gallery.storage_key, second.storage_key])
    assert not storage.path(first.storage_key).exists()
    db.session.expire_all()
    assert [(m.kind, m.storage_key) for m in media_rows(db)] == [
        (MediaKind.GALLERY, gallery.storage_key), (MediaKind.COVER, second.storage_key)]
    assert db.session.get(Race, race.id).cover_image == second.storage_key


def test_gallery_images_take_the_next_position(db, storage):
    race, other = make_race(db), make_race(db)
    save_race_image(db.session, storage, other, image_bytes("PNG"), kind="gallery")
    positions = [save_race_image(db.session, storage, race, image_bytes("PNG"), kind="gallery").position
                 for _ in range(3)]
    assert positions == [0, 1, 2]
    assert db.session.get(Race, race.id).cover_image == ""


def test_a_refused_file_stores_nothing(db, storage):
    race = make_race(db)
    with pytest.raises(MediaError):
        save_race_image(db.session, storage, race, b"GIF89a not really", kind="cover", filename="x.gif")
    assert stored_files(storage) == []
    assert media_rows(db) == []


def test_when_storage_is_down_nothing_is_recorded(db):
    race = make_race(db)
    with pytest.raises(StorageError) as error:
        save_race_image(db.session, BrokenStorage(), race, image_bytes("JPEG"), kind="cover", filename="a.jpg")
    assert "couldn't be saved" in str(error.value)
    db.session.expire_all()
    assert media_rows(db) == []
    assert db.session.get(Race, race.id).cover_image == ""


def test_when_the_database_write_fails_the_stored_file_is_deleted(db, storage, monkeypatch):
    race = make_race(db)
    old = save_race_image(db.session, storage, race, image_bytes("JPEG"), kind="cover", filename="old.jpg")

    def failing_commit():
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(db.session, "commit", failing_commit)
    with pytest.raises(OperationalError):
        save_race_image(db.session, storage, race, image_bytes("PNG"), kind="cover", filename="new.png")
    monkeypatch.undo()

    # The new file is gone; the old cover (file, row and reference) is untouched.
    assert stored_files(storage) == [old.storage_key]
    db.session.expire_all()
    assert [m.storage_key for m in media_rows(db)] == [old.storage_key]
    assert db.session.get(Race, race.id).cover_image == old.storage_key


def test_deleting_images_removes_rows_files_and_the_cover_reference(db, storage):
    race = make_race(db)
    cover = save_race_image(db.session, storage, race, image_bytes("JPEG"), kind="cover")
    picture = save_race_image(db.session, storage, race, image_bytes("JPEG"), kind="gallery")

    delete_race_image(db.session, storage, picture)
    assert stored_files(storage) == [cover.storage_key]
    assert db.session.get(Race, race.id).cover_image == cover.storage_key

    delete_race_image(db.session, storage, cover)
    assert stored_files(storage) == []
    db.session.expire_all()
    assert media_rows(db) == []
    assert db.session.get(Race, race.id).cover_image == ""


@pytest.mark.postgres  # SQLite here does not enforce foreign keys, so ON DELETE CASCADE is checked on Postgres
def test_deleting_a_race_deletes_its_media_rows(db, storage):
    race = make_race(db)
    save_race_image(db.session, storage, race, image_bytes("JPEG"), kind="gallery")
    db.session.execute(Race.__table__.delete().where(Race.id == race.id))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(RaceMedia)) == 0


# ---------------------------------------------------------------------- local storage and /media


@pytest.mark.parametrize("key", ["../secret.txt", "races/../../secret.txt", "/etc/passwd", "races\\1\\a.webp",
                                 "", ".hidden", "races//a.webp", "races/1/..", "C:/windows/x.webp"])
def test_local_storage_refuses_unsafe_keys(storage, key):
    with pytest.raises(ValueError):
        storage.put(key, b"x", "image/webp")
    with pytest.raises(ValueError):
        storage.url(key)


def test_media_route_serves_a_stored_image_with_long_cache_headers(client, db, storage):
    race = make_race(db)
    media = save_race_image(db.session, storage, race, image_bytes("JPEG"), kind="cover")

    response = client.get(f"/media/{media.storage_key}")
    assert response.status_code == 200
    assert response.mimetype == "image/webp"
    assert response.data == storage.path(media.storage_key).read_bytes()
    cache = response.cache_control
    assert (cache.public, cache.max_age, cache.immutable) == (True, 31536000, True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    with client.application.test_request_context():
        assert render_template_string("{{ media_url(key) }}", key=media.storage_key) == f"/media/{media.storage_key}"
        assert media_url("") == ""


@pytest.mark.parametrize("path", [
    "/media/races/1/00000000-0000-4000-8000-000000000000.webp",  # never stored
    "/media/..%2Fsecret.txt",
    "/media/races/..%2F..%2Fsecret.txt",
    "/media/%2e%2e/secret.txt",
    "/media/races%5C..%5C..%5Csecret.txt",
    "/media/.upload-half-written",
])
def test_media_route_answers_404_for_unknown_and_unsafe_keys(client, db, storage, path):
    (storage.root.parent / "secret.txt").write_text("database password")
    storage.root.mkdir(parents=True, exist_ok=True)
    (storage.root / ".upload-half-written").write_bytes(b"partial")
    response = client.get(path)
    assert response.status_code == 404
    assert b"database password" not in response.data


def test_media_route_is_off_when_images_live_in_supabase(client, db, supabase):
    assert client.get("/media/races/1/00000000-0000-4000-8000-000000000000.webp").status_code == 404


# ---------------------------------------------------------------------- Supabase Storage


def test_supabase_storage_uploads_serves_and_deletes_through_the_real_client(app, db, supabase):
    storage = storage_for(app)
    assert isinstance(storage, SupabaseStorage) and storage.bucket == "race-media"
    race = make_race(db)

    media = save_race_image(db.session, storage, race, photo_with_location(), kind="cover", filename="a.jpg")

    stored = supabase.objects[("race-media", media.storage_key)]
    assert stored["content_type"] == "image/webp"
    assert stored["cache_control"] == "max-age=31536000"
    assert Image.open(io.BytesIO(stored["data"])).format == "WEBP"
    assert storage.get(media.storage_key) == stored["data"]

    url = storage.url(media.storage_key)
    assert url == f"{supabase.url}/storage/v1/object/public/race-media/{media.storage_key}"
    with app.test_request_context():
        assert media_url(media.storage_key) == url
    assert httpx.get(url).content == stored["data"]

    delete_race_image(db.session, storage, media)
    assert ("race-media", media.storage_key) not in supabase.objects
    with pytest.raises(FileNotFoundError):
        storage.get(media.storage_key)


def test_supabase_bucket_name_comes_from_config(app, db, supabase):
    supabase.buckets.add("startline-prod-media")
    app.config["SUPABASE_MEDIA_BUCKET"] = "startline-prod-media"
    race = make_race(db)
    media = save_race_image(db.session, storage_for(app), race, image_bytes("PNG"), kind="gallery")
    assert list(supabase.objects) == [("startline-prod-media", media.storage_key)]


def test_a_supabase_failure_records_nothing(app, db, supabase):
    app.config["SUPABASE_MEDIA_BUCKET"] = "no-such-bucket"
    race = make_race(db)
    with pytest.raises(StorageError):
        save_race_image(db.session, storage_for(app), race, image_bytes("PNG"), kind="cover")
    assert media_rows(db) == []
    assert supabase.objects == {}


def test_an_unknown_storage_setting_is_an_error_that_says_so(app):
    app.config["STORAGE"] = "s3"
    with pytest.raises(RuntimeError, match="STORAGE must be 'local' or 'supabase'"):
        storage_for(app)
