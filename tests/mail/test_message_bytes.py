"""The fast wire-bytes builder gives the same message as the email package's."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from voting.mail.message import build_message, message_bytes

CONFIG = {"MAIL_FROM": "Valberedningen <valberedningen@example.org>"}
NOW = datetime(2027, 1, 12, 8, 30, 5, tzinfo=UTC)
LINE = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from(" \t=.åäöÅÄÖ€"),
    max_size=120,
)


def _parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


@settings(max_examples=150, deadline=None)
@given(
    subject=st.text(
        alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=120
    ),
    lines=st.lists(LINE, max_size=12),
    message_id=st.integers(min_value=1, max_value=10**9),
)
def test_same_message_as_the_email_package(subject, lines, message_id):
    body = "\n".join(lines)
    fast = message_bytes(CONFIG, "anna.ek@example.org", subject, body, NOW, message_id=message_id)
    assert fast is not None
    assert b"\r\n" in fast
    assert b"\n" not in fast.replace(b"\r\n", b"")  # CRLF only, as SMTP wants
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))
    slow = build_message(CONFIG, "anna.ek@example.org", subject, body, NOW, message_id=message_id)
    a, b = _parse(fast), _parse(slow.as_bytes())
    for name in ("From", "To", "Date", "Content-Type", "Content-Transfer-Encoding"):
        assert str(a[name]) == str(b[name])
    assert str(a["Subject"]) == str(b["Subject"]) or " ".join(
        str(a["Subject"]).split()
    ) == " ".join(str(b["Subject"]).split())
    assert a["Message-ID"].endswith(f".outbox{message_id}@example.org>")
    assert a.get_content().replace("\r\n", "\n") == b.get_content().replace("\r\n", "\n")


def test_non_ascii_address_or_a_line_break_takes_the_full_path():
    assert message_bytes(CONFIG, "åsa@example.org", "s", "b", NOW) is None
    assert message_bytes(CONFIG, "a@example.org", "s\r\nBcc: x@example.org", "b", NOW) is None
    assert message_bytes(CONFIG, "a@example.org\n", "s", "b", NOW) is None
