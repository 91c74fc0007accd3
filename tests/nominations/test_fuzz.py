"""Property test: whatever is typed into the questionnaire, the answer is a page, never a 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.nominations.conftest import NOMINEE_PNR, SLUG
from voting.db import db
from voting.mail.models import OutboxMessage
from voting.nominations.models import NominationSubmission

URL = f"/val/{SLUG}/nominera"
SENT = "Vi har tagit emot formuläret. Svaret kommer med e-post till"
# The addresses in the register (tests/nominations/conftest.py): only they are ever mailed.
REGISTERED = {f"{name}@example.org" for name in ("anna", "karl", "eva", "olle", "soder", "norr")}

junk = st.one_of(
    st.text(max_size=50),
    st.text(max_size=3000),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "\x00", "\u202e", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "' OR 1=1 --", "<script>x</script>"]),
)


def field(*valid):
    return st.one_of(st.sampled_from(valid), junk)


questionnaire = st.fixed_dictionaries(
    {
        "nominator_email": field("anna@example.org", "soder@example.org", "Ny@Example.org"),
        "nominating_as": field("member", "forening"),
        "forening_id": field("", "1", "2", "99999999999999999999999"),
        "nominee_first_name": field("Karl", "Johan", "karl johan"),
        "nominee_last_name": field("Berg", "BERG"),
        "nominee_identifier": field("1002", NOMINEE_PNR, "800517-1234", "1004"),
        "motivation": field("", "Bra kandidat."),
    }
)


def _counts():
    submissions = db.session.scalar(select(func.count(NominationSubmission.id)))
    mails = db.session.scalar(select(func.count(OutboxMessage.id)))
    db.session.rollback()
    return submissions, mails


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=questionnaire)
def test_questionnaire_never_fails_and_stores_nothing_when_invalid(app, client, register, data):
    # The daily cap per address has its own test (test_mail_rules.py); here it would stop
    # the mails after the tenth example.
    app.config["NOMINATION_MAILS_PER_ADDRESS_DAY"] = 10**6
    before = _counts()
    response = client.post(URL, data=data)
    after = _counts()
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert "Formuläret innehåller fel" in response.text
        assert 'class="errors"' in response.text
        assert after == before
    else:
        assert SENT in response.text
        # One mail to the nominator if the address is in the register, else none (F6); at
        # most one unconfirmed submission.
        registered = data["nominator_email"].strip().lower() in REGISTERED
        assert after[1] == before[1] + (1 if registered else 0)
        assert after[0] - before[0] in (0, 1)
