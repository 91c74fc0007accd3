"""Personnummer: the accepted forms, the century rules, date and check-digit errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from personnummer import personnummer as reference

from tests.factories import short_form
from voting.members.errors import PersonnummerError
from voting.members.pnr import (
    luhn_digit,
    make_personnummer,
    mask,
    parse_personnummer,
)

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("198112189876", "198112189876"),
        ("19811218-9876", "198112189876"),
        ("8112189876", "198112189876"),
        ("811218-9876", "198112189876"),
        ("  811218-9876 ", "198112189876"),
        ("121212-1212", "201212121212"),  # under 100: this century
        ("121212+1212", "191212121212"),  # "+": 100 or older
        ("19121212+1212", "191212121212"),
        ("19121212-1212", "191212121212"),
        ("250601-0012", "202506010012"),  # born today: still this century
        ("250602-0011", "192506020011"),  # tomorrow's date: a century ago
        ("000229-1235", "200002291235"),  # leap day, 2000
        ("198112789873", "198112789873"),  # samordningsnummer (day + 60) is accepted
        ("811278-9873", "198112789873"),
    ],
)
def test_accepted_forms(text: str, expected: str) -> None:
    assert parse_personnummer(text, TODAY) == expected
    assert reference.valid(expected)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("", "format"),
        ("abc", "format"),
        ("81121-89876", "format"),
        ("811218_9876", "format"),
        ("19811218--9876", "format"),
        ("1981121898760", "format"),
        ("81121898", "format"),
        ("811218 9876", "format"),
        ("20121212+1212", "format"),  # "+" but not yet 100
        ("198113189876", "date"),  # month 13
        ("198100189876", "date"),  # month 0
        ("198112009876", "date"),  # day 0
        ("198102309876", "date"),  # 30 February
        ("190002291235", "date"),  # 1900 was no leap year
        ("198112329876", "date"),  # day 32, not a coordination day either
        ("198112929876", "date"),  # day 92 (coordination 32)
        ("20250602-0011", "date"),  # in the future
        ("811218-0004", "format"),  # serial 000 is never issued
        ("18491218-9876", "date"),  # before 1850
        ("198112189877", "check_digit"),
        ("811218-9875", "check_digit"),
        # 811218-9876 in Arabic-Indic and full-width digits: digits, but not ASCII ones.
        ("\u0668\u0661\u0661\u0662\u0661\u0668-\u0669\u0668\u0667\u0666", "format"),
        ("\uff18\uff11\uff11\uff12\uff11\uff18-\uff19\uff18\uff17\uff16", "format"),
    ],
)
def test_rejected_forms(text: str, part: str) -> None:
    with pytest.raises(PersonnummerError) as info:
        parse_personnummer(text, TODAY)
    assert info.value.part == part
    assert str(info.value)


def test_messages_name_the_wrong_part() -> None:
    with pytest.raises(PersonnummerError, match="datum"):
        parse_personnummer("198113189876", TODAY)
    with pytest.raises(PersonnummerError, match="kontrollsiffra"):
        parse_personnummer("198112189877", TODAY)
    with pytest.raises(PersonnummerError, match="format"):
        parse_personnummer("81-12-18", TODAY)


def test_non_string_is_a_format_error() -> None:
    with pytest.raises(PersonnummerError) as info:
        parse_personnummer(198112189876, TODAY)  # type: ignore[arg-type]
    assert info.value.part == "format"


def test_datetime_today_is_accepted() -> None:
    moment = datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert parse_personnummer("250601-0012", moment) == "202506010012"


def test_mask() -> None:
    assert mask("198112189876") == "19811218-****"
    with pytest.raises(PersonnummerError):
        mask("811218-9876")


def test_make_personnummer_and_luhn() -> None:
    assert make_personnummer(date(1981, 12, 18), 987) == "198112189876"
    assert make_personnummer(date(1981, 12, 18), "987", coordination=True) == "198112789873"
    assert luhn_digit("811218987") == 6
    with pytest.raises(ValueError, match="serial3"):
        make_personnummer(date(1981, 12, 18), 1000)
    with pytest.raises(ValueError, match="serial3"):
        make_personnummer(date(1981, 12, 18), 0)


def test_short_form_switches_to_plus_at_the_hundredth_birthday() -> None:
    canonical = make_personnummer(date(1925, 6, 1), 1)
    assert short_form(canonical, date(2025, 5, 31)) == f"250601-{canonical[8:]}"
    assert short_form(canonical, TODAY) == f"250601+{canonical[8:]}"


# --- properties -------------------------------------------------------------------------

birthdates = st.dates(min_value=date(1890, 1, 1), max_value=TODAY)
serials = st.integers(min_value=1, max_value=999)


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    return make_personnummer(draw(birthdates), draw(serials), coordination=draw(st.booleans()))


def written_forms(canonical: str, today: date) -> list[str]:
    """Every form in which the parser must accept ``canonical``."""
    short = short_form(canonical, today)
    forms = [canonical, f"{canonical[:8]}-{canonical[8:]}", short]
    if short[6] == "-":
        forms.append(short.replace("-", ""))  # no separator: under 100
    else:
        forms.append(f"{canonical[:8]}+{canonical[8:]}")
    return forms


@given(valid_numbers())
def test_every_accepted_form_parses_to_the_same_canonical(canonical: str) -> None:
    assert reference.valid(canonical)
    for form in written_forms(canonical, TODAY):
        assert parse_personnummer(form, TODAY) == canonical, form


@given(valid_numbers(), st.integers(min_value=0, max_value=11), st.integers(0, 9))
def test_a_single_changed_digit_is_caught(canonical: str, position: int, digit: int) -> None:
    assume(int(canonical[position]) != digit)
    changed = canonical[:position] + str(digit) + canonical[position + 1 :]
    if position >= 2:
        # The Luhn digit covers YYMMDDNNNC: any single change there is caught, by the date
        # check or by the check digit.
        with pytest.raises(PersonnummerError) as info:
            parse_personnummer(changed, TODAY)
        if changed[8:11] == "000":
            assert info.value.part == "format"  # serial 000 is never issued
        else:
            assert info.value.part in {"date", "check_digit"}
        return
    # The century is outside the checksum: the change is caught only if it breaks the date
    # (no such day, before 1850, or in the future); otherwise it is another valid number.
    year, month, day = int(changed[:4]), int(changed[4:6]), int(changed[6:8])
    try:
        born = date(year, month, day - 60 if day > 60 else day)
    except ValueError:
        born = None
    plausible = born is not None and year >= 1850 and born <= TODAY
    if plausible:
        assert parse_personnummer(changed, TODAY) == changed
    else:
        with pytest.raises(PersonnummerError) as info:
            parse_personnummer(changed, TODAY)
        assert info.value.part == "date"


@given(st.from_regex(r"(19|20)[0-9]{10}", fullmatch=True))
def test_agrees_with_the_personnummer_package_on_12_digits(text: str) -> None:
    today = datetime.now(UTC).date()
    assume(text[:8] < (today - timedelta(days=1)).strftime("%Y%m%d"))
    try:
        parse_personnummer(text, today)
    except PersonnummerError:
        ours = False
    else:
        ours = True
    assert ours == reference.valid(text)


@given(valid_numbers())
def test_mask_keeps_only_the_date(canonical: str) -> None:
    masked = mask(canonical)
    assert masked == canonical[:8] + "-****"
    assert canonical[8:] not in masked[8:]  # the digits may occur in the date itself
