"""Dates and times as people type them, in German and English; impossible ones refused.

Pure functions (no Telegram, no database), for whoever asks a coordinator for a moment or a due
date. The contracts:

`parse_when(text, *, now, zone, lang, default_time=None)` → an aware `datetime` in `zone`, or a
`DateError`. It understands, in either language whatever `lang` is:

- dates: `20.1.2027`, `20.01.27`, `1.12.` (no year: the next occurrence after `now`),
  `2027-01-20` (ISO, also `2027-01-20T10:00`, with seconds, and with an offset or `Z`, which is
  converted to `zone`), `20. Januar 2027`, `1. Dez.`, `Jan 20 2027`, `January 20, 2027`,
  `20 Jan 2027`, `Jan 20`, `20/1/2027` (day/month; for `lang="en"` a slash date whose day and
  month could be swapped is refused as ambiguous), and `heute`/`today`, `morgen`/`tomorrow`,
  `übermorgen`/`day after tomorrow` (calendar days in `zone`, so a clock change between now and
  then shifts nothing);
- times: `10 Uhr`, `10:30`, `10.30 Uhr`, `18h`, `9am`, `9:30 pm`, `9` (an hour alone, after a
  date); filler words (`am`, `um`, `at`, `on`, `den`, commas) are ignored;
- without a time, `default_time` is used; when that is None the text is refused with
  `missing_time` (a meeting needs its hour).

Refusals carry a reason whose `key` is a text in the locale catalogs (`dates.<reason>`):
`unreadable`, `missing_date` (a time alone), `missing_time`, `no_such_date` (`31.02.`,
`30.2.2027`, `1.13.`), `no_such_time` (`25:00`, `10:61`, `13pm`), `skipped_hour` (a local time
that does not exist because the clocks spring forward, e.g. 29.03.2026 02:30 in Europe/Berlin),
`ambiguous`, and `in_past` (the moment is not after `now`). A local time that occurs twice
(the night the clocks fall back) is the first of the two, still in summer time.

`parse_due(text)` → a yearly due date as `"MM-DD"` (the form settings and partner records keep),
or a `DateError`: `31.03.`, `31.3`, `03-31`, `31. März`, `March 31`. `29.02.` is allowed (in
other years the reminders use the 28th); `31.02.` is refused with `no_such_date`, a date with a
year with `due_has_year`, anything else with `due_unreadable`.
`due_label(month_day, lang)` renders one for a sentence without a trailing period ("31. März",
"31 March"), so "… ist jetzt jährlich der 31. März." reads right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Literal

from bot.services.localtime import existing

Lang = Literal["de", "en"]


class DateProblem(StrEnum):
    """Why a text is not a usable date or time."""

    UNREADABLE = "unreadable"
    MISSING_DATE = "missing_date"
    MISSING_TIME = "missing_time"
    NO_SUCH_DATE = "no_such_date"
    NO_SUCH_TIME = "no_such_time"
    SKIPPED_HOUR = "skipped_hour"
    AMBIGUOUS = "ambiguous"
    IN_PAST = "in_past"
    DUE_UNREADABLE = "due_unreadable"
    DUE_HAS_YEAR = "due_has_year"


@dataclass(frozen=True, slots=True)
class DateError:
    """A refused text and why; `key` is its text in the locale catalogs."""

    reason: DateProblem

    @property
    def key(self) -> str:
        """The locale catalog key that explains the refusal to the person."""
        return f"dates.{self.reason.value}"


MONTHS: dict[str, int] = {
    # German
    "januar": 1, "jänner": 1, "jaenner": 1, "februar": 2, "märz": 3, "maerz": 3, "marz": 3,
    "mär": 3, "mrz": 3, "mai": 5, "juni": 6, "juli": 7, "oktober": 10, "okt": 10,
    "dezember": 12, "dez": 12,
    # English
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
MONTH_NAMES: dict[Lang, tuple[str, ...]] = {
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip
RELATIVE_DAYS = {
    "day after tomorrow": 2,
    "übermorgen": 2,
    "uebermorgen": 2,
    "ubermorgen": 2,
    "tomorrow": 1,
    "morgen": 1,
    "today": 0,
    "heute": 0,
}
FILLERS = frozenset({"am", "um", "at", "on", "den", "der", "the", "ab", "from", "of"})

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_RELATIVE = "|".join(re.escape(word) for word in RELATIVE_DAYS)
_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[t ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(z|[+-]\d{2}:?\d{2})?$"
)
# Each finds the date part anywhere in the text: (pattern, order of the groups).
_DATES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})?(?![\d.:])"), "dmy"),
    (re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])"), "dm/"),
    (re.compile(rf"(?<!\d)(\d{{1,2}})\.?\s*({_MONTH})\b\.?(?:\s*(\d{{4}}))?(?!\d)"), "dmy"),
    (
        re.compile(
            rf"\b({_MONTH})\b\.?\s*(\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:,?\s*(\d{{4}})(?![\d:]))?"
        ),
        "mdy",
    ),
)
_RELATIVE_WORD = re.compile(rf"(?<!\w)({_RELATIVE})(?!\w)")
_CLOCK = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?(?::(\d{2}))?\s*(uhr|h)?$")
_AM_PM_WORD = re.compile(r"(\d)\s+(a\.?m\.?|p\.?m\.?)(?!\w)")
_AM_PM = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)$")


class _Refused(Exception):
    def __init__(self, reason: DateProblem) -> None:
        self.reason = reason


def parse_when(
    text: str,
    *,
    now: datetime,
    zone: tzinfo,
    lang: Lang,
    default_time: time | None = None,
) -> datetime | DateError:
    """The moment `text` names, after `now`, as an aware datetime in `zone` (see the module
    docstring for what is understood), or why it cannot be used."""
    try:
        return _parse_when(text, now=now, zone=zone, lang=lang, default_time=default_time)
    except _Refused as refused:
        return DateError(refused.reason)


def _parse_when(
    text: str, *, now: datetime, zone: tzinfo, lang: Lang, default_time: time | None
) -> datetime:
    cleaned = " ".join(text.strip().lower().replace(",", " ").split())
    # "9 am" is a time, not the German filler "am": keep it with its number.
    cleaned = _AM_PM_WORD.sub(r"\1\2", cleaned)
    if not cleaned:
        raise _Refused(DateProblem.UNREADABLE)
    today = now.astimezone(zone).date()
    iso = _ISO.match(cleaned)
    if iso is not None:
        return _from_iso(iso, now=now, zone=zone, default_time=default_time)
    day: date | None = None
    year_given = True
    month_day: tuple[int, int] | None = None
    rest = cleaned
    relative = _RELATIVE_WORD.search(rest)
    if relative is not None:
        day = today + timedelta(days=RELATIVE_DAYS[relative.group(1)])
        rest = _cut(rest, relative)
    else:
        for pattern, order in _DATES:
            found = pattern.search(rest)
            if found is None:
                continue
            month_day, year = _numbers(found, order, lang)
            rest = _cut(rest, found)
            year_given = year is not None
            if year is not None:
                day = _date(year, *month_day)
            break
    clock = _time(rest)
    if day is None and month_day is None:
        raise _Refused(DateProblem.MISSING_DATE if clock is not None else DateProblem.UNREADABLE)
    if month_day is not None and not year_given:
        _date(2024, *month_day)  # a leap year: only days that exist in no year are refused
    clock = clock or default_time
    if clock is None:
        raise _Refused(DateProblem.MISSING_TIME)
    if day is None:
        assert month_day is not None
        return _next_occurrence(month_day, clock, now=now, zone=zone)
    moment = _local(day, clock, zone)
    if moment <= now:
        raise _Refused(DateProblem.IN_PAST)
    return moment


def _cut(text: str, found: re.Match[str]) -> str:
    """The text without the matched part and without filler words."""
    rest = (text[: found.start()] + " " + text[found.end() :]).split()
    return " ".join(word for word in rest if word not in FILLERS)


def _numbers(found: re.Match[str], order: str, lang: Lang) -> tuple[tuple[int, int], int | None]:
    """((month, day), year or None) from a date match."""
    first, second, third = found.group(1), found.group(2), found.group(3)
    if order == "mdy":
        month, day = MONTHS[first], int(second)
    elif first.isdigit() and not second.isdigit():
        day, month = int(first), MONTHS[second]
    else:
        day, month = int(first), int(second)
        if order == "dm/" and lang == "en" and day <= 12 and month <= 12 and day != month:
            raise _Refused(DateProblem.AMBIGUOUS)  # 5/1: 5 January or May 1?
    year = None if third is None else int(third) + (2000 if len(third) == 2 else 0)
    return (month, day), year


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _Refused(DateProblem.NO_SUCH_DATE) from None


def _time(rest: str) -> time | None:
    """The time of day in what is left after the date, None when nothing is left."""
    rest = " ".join(word for word in rest.split() if word not in FILLERS)
    if not rest:
        return None
    clock = _CLOCK.match(rest)
    if clock is not None:
        hour, minute, second = (int(g) if g else 0 for g in clock.groups()[:3])
        if hour > 23 or minute > 59 or second > 59:
            raise _Refused(DateProblem.NO_SUCH_TIME)
        return time(hour, minute, second)
    am_pm = _AM_PM.match(rest)
    if am_pm is not None:
        hour, minute = int(am_pm.group(1)), int(am_pm.group(2) or 0)
        if not 1 <= hour <= 12 or minute > 59:
            raise _Refused(DateProblem.NO_SUCH_TIME)
        afternoon = am_pm.group(3).startswith("p")
        return time(hour % 12 + (12 if afternoon else 0), minute)
    if re.fullmatch(r"\d{1,2}[:.]\d{1,2}(?::\d{1,2})?\s*(uhr|h)?", rest):
        raise _Refused(DateProblem.NO_SUCH_TIME)  # 10:5, 10:611
    raise _Refused(DateProblem.UNREADABLE)


def _local(day: date, clock: time, zone: tzinfo) -> datetime:
    """`day` at `clock` in `zone`; the first of a repeated hour, refused in a skipped one."""
    try:
        return existing(datetime.combine(day, clock, tzinfo=zone))
    except ValueError:
        raise _Refused(DateProblem.SKIPPED_HOUR) from None


def _next_occurrence(
    month_day: tuple[int, int], clock: time, *, now: datetime, zone: tzinfo
) -> datetime:
    """The first time the day (without a year) comes after `now`; 29.2. in the next leap year."""
    month, day = month_day
    year = now.astimezone(zone).year
    for candidate_year in range(year, year + 9):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        moment = _local(candidate, clock, zone)
        if moment > now:
            return moment
    raise _Refused(DateProblem.NO_SUCH_DATE)


def _from_iso(
    found: re.Match[str], *, now: datetime, zone: tzinfo, default_time: time | None
) -> datetime:
    year, month, day = (int(found.group(i)) for i in (1, 2, 3))
    on = _date(year, month, day)
    if found.group(4) is None:
        clock = default_time
        if clock is None:
            raise _Refused(DateProblem.MISSING_TIME)
    else:
        hour, minute, second = (int(found.group(i) or 0) for i in (4, 5, 6))
        if hour > 23 or minute > 59 or second > 59:
            raise _Refused(DateProblem.NO_SUCH_TIME)
        clock = time(hour, minute, second)
    offset = found.group(7)
    if offset is None:
        moment = _local(on, clock, zone)
    else:
        moment = datetime.combine(on, clock, tzinfo=_offset(offset)).astimezone(zone)
    if moment <= now:
        raise _Refused(DateProblem.IN_PAST)
    return moment


def _offset(text: str) -> tzinfo:
    if text == "z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise _Refused(DateProblem.NO_SUCH_TIME)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


_DUE_NUMERIC = re.compile(r"^(\d{1,2})\.(\d{1,2})\.?$")
_DUE_ISO = re.compile(r"^(\d{2})-(\d{2})$")


def parse_due(text: str) -> str | DateError:
    """A yearly due date ("31.03.", "03-31", "31. März", "March 31") as "MM-DD", or why not."""
    cleaned = " ".join(text.strip().lower().replace(",", " ").split())
    numeric = _DUE_NUMERIC.match(cleaned)
    iso = _DUE_ISO.match(cleaned)
    if numeric is not None:
        day, month = int(numeric.group(1)), int(numeric.group(2))
    elif iso is not None:
        month, day = int(iso.group(1)), int(iso.group(2))
    else:
        named = _named_due(cleaned)
        if named is None:
            if re.search(r"\d{4}|\d{1,2}\.\d{1,2}\.\d{2}", cleaned):
                return DateError(DateProblem.DUE_HAS_YEAR)
            return DateError(DateProblem.DUE_UNREADABLE)
        month, day = named
    try:
        date(2024, month, day)  # a leap year: 29.02. is a due date, 31.02. is none
    except ValueError:
        return DateError(DateProblem.NO_SUCH_DATE)
    return f"{month:02d}-{day:02d}"


def _named_due(cleaned: str) -> tuple[int, int] | None:
    """(month, day) of "31. März" or "March 31" (nothing else in the text)."""
    words = cleaned.replace(".", " ").split()
    if len(words) != 2:
        return None
    first, second = words
    if first.isdigit() and second in MONTHS:
        return MONTHS[second], int(first)
    if first in MONTHS and second.rstrip("stndrh").isdigit():
        return MONTHS[first], int(second.rstrip("stndrh"))
    return None


def due_label(month_day: str, lang: Lang) -> str:
    """ "03-31" as a person reads it in a sentence: "31. März" / "31 March"."""
    month, day = (int(part) for part in month_day.split("-"))
    name = MONTH_NAMES[lang][month - 1]
    return f"{day}. {name}" if lang == "de" else f"{day} {name}"
