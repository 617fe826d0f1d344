"""Race images: checking and cleaning an upload with Pillow, then storing it as a RaceMedia."""
from __future__ import annotations

import io
import logging
import math
import struct
import uuid
import warnings
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import MediaKind, Race, RaceMedia
from services.storage import Storage, StorageError, is_valid_key, storage_for

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 2000          # the web version's longest side
WEBP_QUALITY = 82
# A cover's smaller copies, for <img srcset>: a phone, a phone at 2x or a tablet, a desktop.
COVER_WIDTHS = (480, 960, 1600)
VARIANT_QUALITY = 78
# By content, never by file name. MPO is how Pillow names a JPEG carrying extra pictures
# (many phones write them), so it counts as a JPEG.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
_READ_FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}

NOT_AN_IMAGE = _l("That file isn't a JPEG, PNG or WebP image.")
DAMAGED = _l("That image is damaged or incomplete.")
EMPTY = _l("That file is empty.")

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# What Pillow raises from a file whose header looked right but whose insides do not.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)


class MediaError(ValueError):
    """An upload that will not be stored; str(error) is the message for the person who sent it."""


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    content_type: str
    width: int
    height: int
    extension: str


def _megabytes(size: int) -> str:
    # Rounded up, so a file just over the limit never reads "10.0 MB".
    return f"{math.ceil(size / (1024 * 1024) * 10) / 10:.1f}"


def _too_many_pixels(size: tuple[int, int] | None = None) -> MediaError:
    if size is None:
        return MediaError(_("That image has too many pixels; images can be at most 40 megapixels."))
    width, height = size
    return MediaError(_("That image is %(width)s × %(height)s pixels; images can be at most 40 megapixels.",
                        width=f"{width:,}", height=f"{height:,}"))


def process_image(data: bytes, *, filename: str = "") -> ProcessedImage:
    """Check an upload and turn it into the web version: WebP, at most 2000 px, no metadata.

    Raises MediaError for anything that is not a sound JPEG, PNG or WebP within the limits.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            # Pillow warns about images between its own bomb limit and twice that; ours is lower,
            # so turn the warning into the refusal it leads to. Other warnings are only logged.
            # (The filter state is process-wide; if two threads race here, the worst case is a
            # warning in the log, because the size check below refuses the image regardless.)
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            result = _process(data)
        for warning in caught:
            log.info("pillow warned about %r: %s", filename, warning.message)
        return result
    except MediaError as error:
        log.info("refused image upload %r (%d bytes): %s", filename, len(data), error)
        raise


def _process(data: bytes) -> ProcessedImage:
    if not data:
        raise MediaError(EMPTY)
    if len(data) > MAX_BYTES:
        raise MediaError(_("That file is %(size)s MB; images can be at most 10 MB.", size=_megabytes(len(data))))

    # Image.open reads only the header: the size is known before a single pixel is decoded.
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except UnidentifiedImageError:
        raise MediaError(NOT_AN_IMAGE) from None
    except _DECODE_ERRORS:
        raise MediaError(DAMAGED) from None
    if image.format not in _READ_FORMATS:
        raise MediaError(NOT_AN_IMAGE)
    if image.width * image.height > MAX_PIXELS:
        raise _too_many_pixels(image.size)

    try:
        if image.format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result is still big enough.
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))
        image.load()  # a truncated file fails here (Pillow does not load truncated images by default)
    except _DECODE_ERRORS:
        raise MediaError(DAMAGED) from None

    icc_profile = image.info.get("icc_profile")
    image = _upright(image)
    target_mode = "RGBA" if image.has_transparency_data else "RGB"
    if image.mode not in ("RGB", "RGBA", "L", "CMYK"):
        image = _convert(image, target_mode)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    image = _to_srgb(image, icc_profile, target_mode)
    if image.mode == "RGBA" and image.getextrema()[3] == (255, 255):
        image = image.convert("RGB")  # an alpha channel nobody uses only costs bytes

    # A fresh encode carries no EXIF (GPS!), XMP or ICC unless asked to; info is cleared so
    # that stays true whatever a future Pillow copies over by default.
    image.info = {}
    out = io.BytesIO()
    image.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return ProcessedImage(data=out.getvalue(), content_type="image/webp", width=image.width,
                          height=image.height, extension="webp")


def _upright(image: Image.Image) -> Image.Image:
    """The picture turned the way the camera's EXIF orientation tag says it is seen."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a garbled EXIF block does not make the photo itself unusable
        log.info("ignoring unreadable EXIF orientation", exc_info=True)
        return image


def _convert(image: Image.Image, mode: str) -> Image.Image:
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16-bit and float greyscale: scale into 8 bits rather than clipping to white.
        scale = 1 / 256 if image.mode != "F" else 1
        image = image.convert("I").point(lambda value: value * scale).convert("L")
    return image.convert(mode)


def _to_srgb(image: Image.Image, icc_profile: bytes | None, mode: str) -> Image.Image:
    """Pixels in sRGB (what browsers assume for an untagged image) in `mode`."""
    if icc_profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            return ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            log.info("ignoring an ICC profile that does not fit the image", exc_info=True)
    return image if image.mode == mode else image.convert(mode)


def variant_key(key: str, width: int) -> str:
    """Where the copy of `key` at `width` is stored: "races/3/<uuid>.webp" -> "races/3/<uuid>-480w.webp"."""
    stem, _, extension = key.rpartition(".")
    return f"{stem}-{width}w.{extension}"


def make_variants(image: ProcessedImage, widths: tuple[int, ...] = COVER_WIDTHS) -> dict[int, bytes]:
    """WebP copies of the web version at each of `widths` narrower than it, by width."""
    variants = {}
    with Image.open(io.BytesIO(image.data)) as source:
        source.load()
        for width in widths:
            if width >= image.width:
                continue
            height = max(1, round(image.height * width / image.width))
            out = io.BytesIO()
            source.resize((width, height), Image.Resampling.LANCZOS).save(out, "WEBP", quality=VARIANT_QUALITY,
                                                                          method=4)
            variants[width] = out.getvalue()
    return variants


def save_race_image(session: Session, storage: Storage, race: Race, data: bytes, *,
                    kind: MediaKind | str, filename: str = "") -> RaceMedia:
    """Process an upload, store it under a fresh unguessable key and record it as a RaceMedia.

    A new cover replaces the old one (row and stored file). Raises MediaError for a file that
    is refused and StorageError when the storage is down; either way nothing is recorded. If
    the database write fails after the file was stored, the file is deleted again. A cover also
    gets its smaller copies (COVER_WIDTHS), stored beside it; race.cover_widths names their widths
    and, last, its own.
    """
    kind = MediaKind(kind)
    image = process_image(data, filename=filename)
    key = f"races/{race.id}/{uuid.uuid4()}.{image.extension}"
    variants = make_variants(image) if kind is MediaKind.COVER else {}
    stored = []
    try:
        for stored_key, content in [(key, image.data), *((variant_key(key, w), v) for w, v in variants.items())]:
            storage.put(stored_key, content, image.content_type)
            stored.append(stored_key)
    except BaseException:
        for stored_key in stored:
            _discard(storage, stored_key)
        raise

    replaced: list[RaceMedia] = []
    try:
        # On Postgres, lock the race row so two cover uploads at once cannot both keep a cover.
        session.execute(select(Race.id).where(Race.id == race.id).with_for_update())
        if kind is MediaKind.COVER:
            replaced = list(session.scalars(select(RaceMedia).where(
                RaceMedia.race_id == race.id, RaceMedia.kind == MediaKind.COVER)))
            position = 0
        else:
            position = session.scalar(
                select(func.coalesce(func.max(RaceMedia.position) + 1, 0))
                .where(RaceMedia.race_id == race.id, RaceMedia.kind == MediaKind.GALLERY))
        media = RaceMedia(race_id=race.id, kind=kind, storage_key=key, content_type=image.content_type,
                          width=image.width, height=image.height, bytes=len(image.data), position=position)
        session.add(media)
        for old in replaced:
            session.delete(old)
        if kind is MediaKind.COVER:
            race.cover_image = key
            race.cover_widths = ",".join(str(width) for width in [*variants, image.width]) if variants else ""
            race.touch()  # the public page shows the cover
        session.commit()
    except BaseException:
        session.rollback()
        for stored_key in stored:
            _discard(storage, stored_key)
        raise

    # Only once the database no longer points at them; a failure here leaves a stray file, not a broken page.
    for old in replaced:
        _discard_with_variants(storage, old.storage_key)
    return media


def delete_race_image(session: Session, storage: Storage, media: RaceMedia) -> None:
    """Remove a race image: its row (and the race's cover, if it was that) first, then the file."""
    key = media.storage_key
    try:
        if media.kind == MediaKind.COVER:
            session.execute(update(Race).where(Race.id == media.race_id, Race.cover_image == key)
                            .values(cover_image="", cover_widths="",
                                    version=Race.version + 1))  # as Race.touch(): the page shows it
        session.delete(media)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if media.kind == MediaKind.COVER:
        _discard_with_variants(storage, key)
    else:
        _discard(storage, key)


def _discard_with_variants(storage: Storage, key: str) -> None:
    """A cover and every copy it may have (one made before COVER_WIDTHS changed has others' names too)."""
    _discard(storage, key)
    for width in COVER_WIDTHS:
        _discard(storage, variant_key(key, width))


def _discard(storage: Storage, key: str) -> None:
    try:
        storage.delete(key)
    except StorageError:
        log.warning("could not delete stored media %s; it is now unreferenced", key)


def cover_srcset(key: str | None, widths: str) -> str:
    """`srcset` for a cover: its smaller copies and, last, itself ("…-480w.webp 480w, …, ….webp 2000w");
    "" when it has no copies (an older upload), so the page shows the one version it has."""
    sizes = [int(width) for width in widths.split(",") if width.isdigit()] if widths else []
    if not key or len(sizes) < 2 or not is_valid_key(key):
        return ""
    storage = storage_for(current_app)
    return ", ".join(f"{storage.url(variant_key(key, width) if width != sizes[-1] else key)} {width}w"
                     for width in sizes)


def media_url(key: str | None) -> str:
    """The address of a stored image, for templates: `media_url(race.cover_image)`; "" for none."""
    if not key or not is_valid_key(key):
        return ""
    return storage_for(current_app).url(key)
