"""Candidate photos: decode what was uploaded, and keep only a fresh, clean JPEG of it."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from voting.nominations.errors import PhotoInvalid

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_SIDE = 800
JPEG_QUALITY = 85
# Why a pixel cap well below Pillow's own: a small PNG can declare a huge canvas
# (a "decompression bomb") and make the server allocate gigabytes while decoding it.
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG", "PNG"}


def reencode(data: bytes) -> bytes:
    """Check that ``data`` really is a JPEG or PNG of at most 2 MB; return it as a clean JPEG.

    The result is decoded and re-drawn from pixels only, so no EXIF, GPS position, ICC profile,
    comment or trailing payload of the upload survives, and the browser never sees its bytes.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise PhotoInvalid.coded("photo_too_large", field="photo")
    if not data:
        raise PhotoInvalid.coded("photo_empty", field="photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                # Why check the decoded format, not the file name or Content-Type: both are
                # chosen by the uploader.
                if image.format not in ALLOWED_FORMATS:
                    raise PhotoInvalid.coded("photo_format", field="photo")
                width, height = image.size
                if width < 1 or height < 1 or width * height > MAX_PIXELS:
                    raise PhotoInvalid.coded("photo_pixels", field="photo")
                image.load()
                upright = ImageOps.exif_transpose(image)
                rgba = upright.convert("RGBA")
    except PhotoInvalid:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise PhotoInvalid.coded("photo_unreadable", field="photo") from exc
    rgba.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    # A new canvas carries no metadata at all; transparency becomes white.
    clean = Image.new("RGB", rgba.size, (255, 255, 255))
    clean.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()
