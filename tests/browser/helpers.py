"""Small helpers shared by the browser tests."""

from __future__ import annotations

from typing import Any

# The page may be "loaded" (its text is there) before an <img> has finished
# decoding, so reading naturalWidth at once races the image: wait for it.
_LOADED_WIDTH = """img => img.complete && img.naturalWidth ? img.naturalWidth
    : new Promise(done => {
        img.addEventListener("load", () => done(img.naturalWidth), {once: true});
        img.addEventListener("error", () => done(0), {once: true});
    })"""


def loaded_width(image: Any) -> int:
    """The natural width of an image once it has loaded (0 if it failed to)."""
    return int(image.evaluate(_LOADED_WIDTH))
