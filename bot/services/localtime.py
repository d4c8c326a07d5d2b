"""Moments as people in the network read them: local time in the network's zone, one format.

Every message that shows a date and time ("31.03.2027 14:30") uses these; what people type back
is read by `bot.services.dates`, which takes this format too.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

DATE = "%d.%m.%Y"
DATE_TIME = f"{DATE} %H:%M"
TIME = "%H:%M"


def local(moment: datetime, zone: tzinfo, *, with_time: bool = True) -> str:
    """`moment` in `zone` as "TT.MM.JJJJ HH:MM" (or only the date)."""
    return moment.astimezone(zone).strftime(DATE_TIME if with_time else DATE)


def existing(moment: datetime) -> datetime:
    """`moment`, if its wall-clock time exists in its zone; ValueError for one the clocks
    skip (2:30 on the last Sunday of March in Germany), which would otherwise be taken as an
    hour later without a word."""
    zone = moment.tzinfo
    if zone is not None:
        back = moment.astimezone(UTC).astimezone(zone)
        if back.replace(tzinfo=None) != moment.replace(tzinfo=None):
            raise ValueError(f"{moment:%Y-%m-%d %H:%M} does not exist in {zone} (clocks skip it)")
    return moment


def parse_iso(text: str, zone: tzinfo) -> datetime:
    """An ISO time as the office's command line takes it; without an offset it is read in
    `zone`. ValueError when it is not one."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else existing(moment.replace(tzinfo=zone))
