"""The staff password policy: long enough, not repetitive, not common, not easy to guess.

The list of common passwords and the guess estimate come from zxcvbn (Dropbox's estimator,
maintained as the ``zxcvbn`` package): its ``passwords`` list holds the 30,000 most frequent
passwords of leaked password collections, and its estimate also catches variants of them and of
common words, names and keyboard patterns ("Password1234", "qwertyuiopas").
"""

from __future__ import annotations

from functools import lru_cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from voting.admin.errors import WeakPassword

MIN_PASSWORD_LENGTH = 12
# Why a maximum: hashing is deliberately slow; a megabyte "password" must not cost more.
MAX_PASSWORD_LENGTH = 1024
# "aaaaaaaaaaaa" and "abababababab" pass a length rule; so few symbols make no password.
MIN_DISTINCT_CHARACTERS = 6
# zxcvbn's score 3: about 10^8 guesses or more. With argon2id and throttled logins that is far
# beyond online guessing, and it still admits four random words or a password manager's output.
MIN_ZXCVBN_SCORE = 3
# Words anyone would try against this service in particular.
SERVICE_WORDS = ("kongressval", "kongress", "valberedningen", "valberedning", "admin")


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password_policy(password: str, email: str | None = None) -> None:
    """Raise WeakPassword, naming the problem, unless ``password`` is good enough for staff.

    ``email`` (the account's address) counts as a word an attacker would try.
    """
    if len(password) < MIN_PASSWORD_LENGTH or not password.strip():
        raise WeakPassword(
            f"password: must be at least {MIN_PASSWORD_LENGTH} characters",
            field="password",
            code="too_short",
            params={"min": MIN_PASSWORD_LENGTH},
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            f"password: must be at most {MAX_PASSWORD_LENGTH} characters",
            field="password",
            code="too_long",
            params={"max": MAX_PASSWORD_LENGTH},
        )
    distinct = len(set(password))
    if distinct < MIN_DISTINCT_CHARACTERS:
        raise WeakPassword(
            f"password: too repetitive: only {distinct} different characters "
            f"(at least {MIN_DISTINCT_CHARACTERS} needed)",
            field="password",
            code="repetitive",
            params={"distinct": distinct, "min": MIN_DISTINCT_CHARACTERS},
        )
    folded = password.strip().lower()
    if folded in _common() or folded.replace(" ", "") in _common():
        raise WeakPassword(
            "password: is one of the most common passwords in leaked password lists",
            field="password",
            code="common",
        )
    inputs = list(SERVICE_WORDS)
    if email:
        inputs += [email, email.split("@", 1)[0]]
    estimate = zxcvbn(password, user_inputs=inputs)
    if estimate["score"] < MIN_ZXCVBN_SCORE:
        warning = estimate["feedback"]["warning"] or "it follows a common word, name or pattern"
        raise WeakPassword(
            f"password: too easy to guess: {warning.rstrip('.')}",
            field="password",
            code="guessable",
            params={"score": estimate["score"], "warning": warning},
        )
