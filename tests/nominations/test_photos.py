"""Photo re-encoding, without a web request."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from tests.nominations.conftest import image_bytes
from voting.nominations.errors import PhotoInvalid
from voting.nominations.photos import reencode


@pytest.fixture(autouse=True)
def _request_context(app):
    """The error messages are translated for the visitor, which needs a request."""
    with app.test_request_context("/"):
        yield


def _decoded(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_png_with_transparency_becomes_rgb_on_white(app):
    out = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(out, format="PNG")
    image = _decoded(reencode(out.getvalue()))
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert image.getpixel((10, 10))[0] > 240


def test_small_image_is_not_enlarged(app):
    assert _decoded(reencode(image_bytes("JPEG", size=(300, 200)))).size == (300, 200)


def test_portrait_is_capped_at_800(app):
    assert _decoded(reencode(image_bytes("PNG", size=(900, 2000)))).size == (360, 800)


def test_png_text_chunks_are_dropped(app):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Secret Person")
    out = io.BytesIO()
    Image.new("RGB", (30, 30)).save(out, format="PNG", pnginfo=info)
    assert b"Secret Person" not in reencode(out.getvalue())


def test_truncated_image_is_refused(app):
    with pytest.raises(PhotoInvalid):
        reencode(image_bytes("PNG", size=(400, 400))[:200])


def test_empty_file_is_refused(app):
    with pytest.raises(PhotoInvalid):
        reencode(b"")


def test_decompression_bomb_is_refused(app):
    """A tiny PNG declaring a 20000 x 20000 canvas is refused before it is decoded."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(PhotoInvalid):
        reencode(bomb)
