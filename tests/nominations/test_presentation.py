"""The accepted nominee's presentation: text, a re-encoded photo and http(s) links."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.nominations.conftest import (
    DURING,
    image_bytes,
    nominate_and_confirm,
    open_as_nominee,
    rows,
)
from voting.db import db
from voting.elections.models import Election
from voting.log.models import AuditEntry
from voting.nominations.models import Nomination


@pytest.fixture
def accepted(client, register):
    nominate_and_confirm(client)
    open_as_nominee(client)
    assert client.post("/kandidat", data={"accept": "1"}).status_code == 302
    return client


def _post(client, data):
    # Encoded up front: the test client would spool a large body to a temporary file that it
    # never closes (a ResourceWarning, an error under filterwarnings=error).
    values = MultiDict()
    for key, value in data.items():
        if isinstance(value, tuple):
            stream, filename = value
            values.add(
                key, FileStorage(stream, filename=filename, content_type="application/octet-stream")
            )
        else:
            values.add(key, value)
    boundary, body = encode_multipart(values)
    return client.post(
        "/kandidat", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def _save(client, **fields):
    return _post(
        client, {"text": "", "link_1": "", "link_2": "", "link_3": "", "save": "1", **fields}
    )


def _photo():
    [nomination] = rows(Nomination)
    return nomination.photo


def test_presentation_is_saved_with_png_photo_and_links(accepted):
    png = image_bytes("PNG", size=(1600, 1200))
    response = _save(
        accepted,
        text="Jag heter Karl.\n\nJag vill arbeta för bättre kollektivtrafik.",
        link_1="https://example.org/karl",
        link_2="http://example.com/blogg?x=1",
        photo=(io.BytesIO(png), "karl.png"),
    )
    assert response.status_code == 302
    page = accepted.get("/kandidat")
    assert "Presentationen är sparad." in page.text
    assert "bättre kollektivtrafik" in page.text
    assert 'value="https://example.org/karl"' in page.text
    [nomination] = rows(Nomination)
    assert json.loads(nomination.links) == [
        "https://example.org/karl",
        "http://example.com/blogg?x=1",
    ]
    with Image.open(io.BytesIO(nomination.photo)) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 800
        assert image.mode == "RGB"
    photo = accepted.get(f"/kandidat/foto/{nomination.id}.jpg")
    assert photo.status_code == 200
    assert photo.mimetype == "image/jpeg"
    assert photo.data == nomination.photo
    assert len(rows(AuditEntry, AuditEntry.type == "presentation.updated")) == 1


def test_jpeg_exif_is_stripped(accepted):
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "GPS-leaking-software"  # Software
    jpeg = image_bytes("JPEG", size=(640, 480), exif=exif.tobytes(), comment=b"hidden")
    assert b"SecretCam" in jpeg
    assert _save(accepted, photo=(io.BytesIO(jpeg), "me.jpg")).status_code == 302
    stored = _photo()
    assert b"SecretCam" not in stored
    assert b"hidden" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG"
        assert not image.getexif()
        assert image.size == (640, 480)


def test_too_large_photo_is_refused(accepted):
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024 + 10)
    response = _save(accepted, text="Hej", photo=(io.BytesIO(big), "big.png"))
    assert response.status_code == 400
    assert "större än 2 MB" in response.text
    assert 'id="photo-error"' in response.text
    [nomination] = rows(Nomination)
    assert nomination.photo is None
    assert nomination.presentation is None


def test_request_larger_than_the_limit_gets_a_clear_413(accepted):
    huge = b"\0" * (3 * 1024 * 1024 + 10)
    response = _save(accepted, photo=(io.BytesIO(huge), "huge.jpg"))
    assert response.status_code == 413
    assert "högst 2 MB" in response.text


def test_non_image_renamed_jpg_is_refused(accepted):
    fake = b"%PDF-1.4\n" + b"not an image at all\n" * 50
    response = _save(accepted, photo=(io.BytesIO(fake), "photo.jpg"))
    assert response.status_code == 400
    assert "JPEG- eller PNG-bild" in response.text
    assert _photo() is None


def test_gif_is_refused(accepted):
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, format="GIF")
    response = _save(accepted, photo=(io.BytesIO(gif.getvalue()), "x.png"))
    assert response.status_code == 400
    assert "JPEG- eller PNG-bild" in response.text


def test_text_over_2000_characters_is_refused(accepted):
    response = _save(accepted, text="å" * 2001)
    assert response.status_code == 400
    assert "Högst 2000 tecken." in response.text
    assert 'id="text-error"' in response.text
    [nomination] = rows(Nomination)
    assert nomination.presentation is None


def test_text_of_exactly_2000_characters_is_kept(accepted):
    assert _save(accepted, text="å" * 2000).status_code == 302
    [nomination] = rows(Nomination)
    assert nomination.presentation == "å" * 2000


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.org/file",
        "no-scheme-at-all",  # "example.org/x" and "www.…" are completed: test_nominee_page.py
        "https://",
        "https://user:pw@example.org/",
        "https://exa mple.org/",
    ],
)
def test_bad_link_is_refused(accepted, link):
    response = _save(accepted, text="Hej", link_2=link)
    assert response.status_code == 400
    assert 'id="link_2-error"' in response.text
    [nomination] = rows(Nomination)
    assert nomination.links is None
    assert nomination.presentation is None


def test_remove_photo(accepted):
    _save(accepted, photo=(io.BytesIO(image_bytes("PNG", size=(50, 50))), "a.png"))
    assert _photo() is not None
    response = _post(
        accepted, {"text": "", "link_1": "", "link_2": "", "link_3": "", "remove_photo": "1"}
    )
    assert response.status_code == 302
    assert _photo() is None


def test_presentation_needs_acceptance(client, register):
    nominate_and_confirm(client)
    open_as_nominee(client)
    response = _save(client, text="Hej")
    assert response.status_code == 400  # the answer form is shown again, nothing saved
    assert "Ja, jag ställer upp" in response.text
    [nomination] = rows(Nomination)
    assert nomination.presentation is None


def test_no_editing_after_publication(accepted):
    with db.transaction() as s:
        s.get(
            Election, accepted and rows(Nomination)[0].election_id
        ).candidates_published_at = DURING
    db.session.close()
    page = accepted.get("/kandidat")
    assert "kan inte längre ändras" in page.text
    assert "Spara presentationen" not in page.text
    assert _save(accepted, text="Sent").status_code == 302
    [nomination] = rows(Nomination)
    assert nomination.presentation is None


def test_unpublished_photo_is_hidden_from_others(app, accepted):
    _save(accepted, photo=(io.BytesIO(image_bytes("PNG", size=(50, 50))), "a.png"))
    [nomination] = rows(Nomination)
    assert app.test_client().get(f"/kandidat/foto/{nomination.id}.jpg").status_code == 404
    assert accepted.get(f"/kandidat/foto/{nomination.id}.jpg").status_code == 200


def _approve():
    from voting.nominations.review import approve

    [nomination] = rows(Nomination)
    with db.transaction() as tx:
        approve(tx, tx.get(Nomination, nomination.id), None, DURING)
    db.session.expire_all()


def test_editing_an_approved_presentation_sends_it_back_to_review(accepted):
    assert _save(accepted, text="Det godkända.").status_code == 302
    _approve()
    # Saving the same presentation again changes nothing: the approval stands.
    assert _save(accepted, text="Det godkända.").status_code == 302
    [nomination] = rows(Nomination)
    assert nomination.status == "approved"

    assert _save(accepted, text="Något helt annat.").status_code == 302
    db.session.expire_all()
    [nomination] = rows(Nomination)
    assert nomination.status == "awaiting_review"
    assert nomination.reviewed_at is None
    assert "granskas den nu på nytt" in accepted.get("/kandidat").text
    logged = [
        json.loads(e.body)["data"]["back_to_review"]
        for e in rows(AuditEntry, AuditEntry.type == "presentation.updated")
    ]
    assert logged == [False, False, True]
