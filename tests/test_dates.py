"""Dates and times as people type them (German and English), impossible ones refused with a
reason the locale catalogs explain; daylight-saving days included."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.dates import (
    DateError,
    DateProblem,
    Lang,
    due_label,
    parse_due,
    parse_when,
)
from bot.texts import Texts

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 25, 14, 0, tzinfo=BERLIN)  # a Wednesday afternoon in winter time


def when(
    text: str,
    *,
    now: datetime = NOW,
    lang: Lang = "de",
    default_time: time | None = None,
) -> datetime | DateError:
    return parse_when(text, now=now, zone=BERLIN, lang=lang, default_time=default_time)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


# What people type, by the moment it means (now: Wednesday, 25 November 2026, 14:00).
MOMENTS: dict[datetime, list[str]] = {
    at(2027, 1, 20, 10): [
        "20.1.2027 10 Uhr",
        "am 20.1.2027 um 10 Uhr",
        "20. Januar 2027 10 Uhr",
        "20/1/2027 10:00",
        "2027-01-20T10:00",
        "2027-01-20T09:00Z",
        "Jan 20 2027 10:00",
        "January 20, 2027 10:00",
    ],
    at(2027, 1, 20, 10, 30): ["20.01.2027 10:30", "20.01.27 10:30", "20.1.2027, 10.30 Uhr"],
    at(2027, 1, 20, 10, 0, 30): ["2027-01-20 10:00:30"],
    at(2027, 1, 20, 9): ["20.1.2027 9", "2027-01-20T10:00+02:00"],
    at(2027, 1, 20, 18): ["20.1.2027 18h"],
    at(2027, 1, 20, 21, 30): ["on Jan 20th 2027 at 9:30 pm", "20 Jan 2027 9:30 pm"],
    at(2026, 11, 25, 18): ["heute 18 Uhr", "today 6pm"],
    at(2026, 11, 26, 0): ["tomorrow 12am"],
    at(2026, 11, 26, 9): ["morgen 9 Uhr", "tomorrow 9am"],
    at(2026, 11, 26, 9, 15): ["Morgen um 9:15"],
    at(2026, 11, 26, 12): ["tomorrow 12pm"],
    at(2026, 11, 26, 21): ["tomorrow at 9 pm"],
    at(2026, 11, 27, 7, 45): ["day after tomorrow 7:45 a.m."],
    at(2026, 11, 27, 14): ["übermorgen 14:00", "uebermorgen 14 Uhr"],
    at(2026, 12, 1, 18): ["1.12. 18 Uhr", "1. Dez. 18 Uhr", "Dec 1st 6pm"],
    at(2027, 3, 3, 8, 5): ["3. März 2027 8:05"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, moment) for moment, texts in MOMENTS.items() for text in texts],
)
def test_dates_as_people_type_them(text: str, expected: datetime) -> None:
    result = when(text)
    assert result == expected
    assert isinstance(result, datetime) and result.tzinfo is BERLIN


@pytest.mark.parametrize("lang", ["de", "en"])
def test_both_languages_are_understood_whatever_the_setting(lang: Lang) -> None:
    assert when("morgen 9 Uhr", lang=lang) == when("tomorrow 9am", lang=lang)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31.02.", DateProblem.NO_SUCH_DATE),
        ("31.02. 10 Uhr", DateProblem.NO_SUCH_DATE),
        ("30.2.2027 10 Uhr", DateProblem.NO_SUCH_DATE),
        ("29.2.2027 10 Uhr", DateProblem.NO_SUCH_DATE),  # 2027 is no leap year
        ("31.4.2027 10 Uhr", DateProblem.NO_SUCH_DATE),
        ("1.13. 10 Uhr", DateProblem.NO_SUCH_DATE),
        ("0.1.2027 10 Uhr", DateProblem.NO_SUCH_DATE),
        ("2027-02-30T10:00", DateProblem.NO_SUCH_DATE),
        ("Feb 30 2027 10:00", DateProblem.NO_SUCH_DATE),
        ("25:00", DateProblem.NO_SUCH_TIME),
        ("morgen 25:00", DateProblem.NO_SUCH_TIME),
        ("20.1.2027 24:00", DateProblem.NO_SUCH_TIME),
        ("20.1.2027 10:61", DateProblem.NO_SUCH_TIME),
        ("20.1.2027 10:5", DateProblem.NO_SUCH_TIME),
        ("tomorrow 13pm", DateProblem.NO_SUCH_TIME),
        ("tomorrow 0am", DateProblem.NO_SUCH_TIME),
        ("2027-01-20T25:00", DateProblem.NO_SUCH_TIME),
        ("10 Uhr", DateProblem.MISSING_DATE),
        ("1.12.", DateProblem.MISSING_TIME),
        ("morgen", DateProblem.MISSING_TIME),
        ("2027-01-20", DateProblem.MISSING_TIME),
        ("heute 8 Uhr", DateProblem.IN_PAST),
        ("heute 14 Uhr", DateProblem.IN_PAST),  # exactly now is not after now
        ("20.1.2025 10 Uhr", DateProblem.IN_PAST),
        ("2020-01-20T10:00", DateProblem.IN_PAST),
        ("", DateProblem.UNREADABLE),
        ("bald", DateProblem.UNREADABLE),
        ("nächsten Montag", DateProblem.UNREADABLE),
        ("20.1.2027 10 Uhr oder so", DateProblem.UNREADABLE),
        ("morgen 20.1.2027", DateProblem.UNREADABLE),
    ],
)
def test_impossible_or_unclear_texts_are_refused_with_a_reason(
    text: str, reason: DateProblem
) -> None:
    assert when(text) == DateError(reason)


def test_a_date_without_time_takes_the_default_time() -> None:
    assert when("1.12.", default_time=time(9)) == at(2026, 12, 1, 9)
    assert when("morgen", default_time=time(9)) == at(2026, 11, 26, 9)
    assert when("2027-01-20", default_time=time(9)) == at(2027, 1, 20, 9)


def test_a_day_without_year_is_its_next_occurrence() -> None:
    assert when("1.12. 18 Uhr") == at(2026, 12, 1, 18)
    assert when("25.11. 18 Uhr") == at(2026, 11, 25, 18), "later today"
    assert when("25.11. 10 Uhr") == at(2027, 11, 25, 10), "earlier today: next year"
    assert when("1.3. 10 Uhr") == at(2027, 3, 1, 10)
    assert when("29.2. 10 Uhr") == at(2028, 2, 29, 10), "the next leap year"


def test_slash_dates_that_could_be_read_both_ways_are_refused_in_english_only() -> None:
    assert when("5/1/2027 10:00", lang="en") == DateError(DateProblem.AMBIGUOUS)
    assert when("5/1/2027 10:00", lang="de") == at(2027, 1, 5, 10)
    assert when("20/1/2027 10:00", lang="en") == at(2027, 1, 20, 10), "only one reading"
    assert when("5/5/2027 10:00", lang="en") == at(2027, 5, 5, 10)


# Europe/Berlin: clocks spring forward on 29 March 2026 at 02:00 → 03:00 and fall back on
# 25 October 2026 at 03:00 → 02:00.
def test_tomorrow_is_the_calendar_day_across_the_spring_clock_change() -> None:
    evening = at(2026, 3, 28, 20)
    result = when("morgen 9 Uhr", now=evening)
    assert result == at(2026, 3, 29, 9)
    assert isinstance(result, datetime)
    assert result.utcoffset() == timedelta(hours=2), "summer time already"
    elapsed = result.astimezone(UTC) - evening.astimezone(UTC)
    assert elapsed == timedelta(hours=12), "13 hours on the wall, 12 in real time"


def test_tomorrow_is_the_calendar_day_across_the_autumn_clock_change() -> None:
    evening = at(2026, 10, 24, 20)
    result = when("morgen 9 Uhr", now=evening)
    assert isinstance(result, datetime)
    assert result.utcoffset() == timedelta(hours=1)
    assert result.astimezone(UTC) == datetime(2026, 10, 25, 8, tzinfo=UTC)


def test_a_local_time_skipped_by_the_spring_clock_change_is_refused() -> None:
    now = at(2026, 3, 1, 12)
    assert when("29.3.2026 2:30", now=now) == DateError(DateProblem.SKIPPED_HOUR)
    assert when("2026-03-29T02:30", now=now) == DateError(DateProblem.SKIPPED_HOUR)
    assert when("29.3. 2:00", now=now) == DateError(DateProblem.SKIPPED_HOUR)
    assert when("29.3.2026 3:00", now=now) == at(2026, 3, 29, 3)
    assert when("29.3.2026 1:59", now=now) == at(2026, 3, 29, 1, 59)
    # With an explicit offset the moment is unambiguous and simply shown in local time.
    assert when("2026-03-29T01:30Z", now=now) == at(2026, 3, 29, 3, 30)


def test_a_local_time_that_occurs_twice_in_autumn_is_the_first_one() -> None:
    result = when("25.10.2026 2:30", now=at(2026, 10, 1, 12))
    assert isinstance(result, datetime)
    assert result.utcoffset() == timedelta(hours=2), "still summer time"
    assert result.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_now_in_another_zone_is_read_in_the_network_zone() -> None:
    # 23:30 UTC on 25 Nov is already 26 Nov in Berlin: "today" is the 26th there.
    late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    assert when("heute 18 Uhr", now=late) == at(2026, 11, 26, 18)


@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1),
        max_value=datetime(2035, 12, 31),
        timezones=st.just(BERLIN),
    ),
    st.integers(min_value=0, max_value=23),
    st.integers(min_value=0, max_value=59),
)
def test_tomorrow_is_always_the_next_calendar_day_at_that_wall_time(
    now: datetime, hour: int, minute: int
) -> None:
    result = when(f"morgen {hour}:{minute:02d}", now=now)
    expected_day = now.date() + timedelta(days=1)
    if isinstance(result, DateError):
        assert result.reason is DateProblem.SKIPPED_HOUR  # the one hour a year that is not
        return
    assert result.date() == expected_day
    assert (result.hour, result.minute) == (hour, minute)
    assert result > now


@pytest.mark.parametrize(
    "text", ["31.03.", "31.3.", "31.3", "03-31", "31. März", "31. maerz", "March 31", "march 31st"]
)
def test_due_dates_as_people_type_them(text: str) -> None:
    assert parse_due(text) == "03-31"


@pytest.mark.parametrize(
    ("text", "expected"), [("1.1.", "01-01"), ("29.02.", "02-29"), (" 15.06. ", "06-15")]
)
def test_due_dates_of_other_days(text: str, expected: str) -> None:
    assert parse_due(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31.02.", DateProblem.NO_SUCH_DATE),
        ("30.2.", DateProblem.NO_SUCH_DATE),
        ("31.04.", DateProblem.NO_SUCH_DATE),
        ("02-30", DateProblem.NO_SUCH_DATE),
        ("13-01", DateProblem.NO_SUCH_DATE),
        ("1.13.", DateProblem.NO_SUCH_DATE),
        ("0.3.", DateProblem.NO_SUCH_DATE),
        ("31.03.2027", DateProblem.DUE_HAS_YEAR),
        ("2027-03-31", DateProblem.DUE_HAS_YEAR),
        ("31.03.27", DateProblem.DUE_HAS_YEAR),
        ("Ende März", DateProblem.DUE_UNREADABLE),
        ("", DateProblem.DUE_UNREADABLE),
    ],
)
def test_impossible_due_dates_are_refused(text: str, reason: DateProblem) -> None:
    assert parse_due(text) == DateError(reason)


def test_due_labels_read_well_in_a_sentence() -> None:
    assert due_label("03-31", "de") == "31. März"
    assert due_label("03-31", "en") == "31 March"
    assert due_label(str(parse_due("1.12.")), "de") == "1. Dezember"


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_refusal_is_explained_in_both_catalogs(lang: Lang) -> None:
    texts = Texts.load()
    for reason in DateProblem:
        key = DateError(reason).key
        assert key in texts, key
        assert texts.get(lang, key).strip()
