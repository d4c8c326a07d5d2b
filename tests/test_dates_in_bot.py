"""Dates as people type them, through the real Application: a partner's due date in /partners
and a meeting's start and end in /newevent; impossible dates refused with the catalog's reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.db.models import Partner
from bot.office import import_partners
from bot.settings import Settings
from tests.conftest import COORDINATOR_ID, Harness, texts_of


async def test_a_due_date_is_read_by_the_date_parser(settings: Settings, harness: Harness) -> None:
    await import_partners(settings, "name;type\nStadt Musterstadt;municipality\n")
    [partner] = await harness.services.partners.active()
    texts = harness.services.texts
    asked = await harness.press(f"pa:due:{partner.id}", user_id=COORDINATOR_ID)
    assert "Neuer Abgabetermin für Stadt Musterstadt" in texts_of(asked)[0]

    refused = texts_of(await harness.send("31.02.", user_id=COORDINATOR_ID))
    assert refused == [texts.get("de", "dates.no_such_date")]
    with_year = texts_of(await harness.send("31.03.2027", user_id=COORDINATOR_ID))
    assert with_year == [texts.get("de", "dates.due_has_year")]
    [done] = texts_of(await harness.send("31. März", user_id=COORDINATOR_ID))
    assert done == "Abgabetermin für Stadt Musterstadt ist jetzt jährlich der 31. März."
    assert ".." not in done
    async with harness.services.sessions() as session:
        stored = await session.scalar(select(Partner.report_due).where(Partner.id == partner.id))
    assert stored == "03-31"
    after = await harness.send("1.4.", user_id=COORDINATOR_ID)
    assert not any("Abgabetermin" in t for t in texts_of(after)), "asked once, answered once"


async def newevent(harness: Harness, start: str, end: str) -> list[str]:
    await harness.send("/newevent", user_id=COORDINATOR_ID)
    await harness.send("Wintertreffen", user_id=COORDINATOR_ID)
    replies = texts_of(await harness.send(start, user_id=COORDINATOR_ID))
    replies += texts_of(await harness.send(end, user_id=COORDINATOR_ID))
    return replies


async def create_after_end(harness: Harness, place: str) -> None:
    """The rest of /newevent after the end: place, no description, partners, "Anlegen"."""
    await harness.send(place, user_id=COORDINATOR_ID)
    await harness.send("-", user_id=COORDINATOR_ID)
    await harness.press("ne:aud:partners", user_id=COORDINATOR_ID)
    await harness.press("ne:create", user_id=COORDINATOR_ID)


async def test_newevent_reads_dates_as_people_type_them(harness: Harness) -> None:
    zone = harness.services.settings.zone
    texts = harness.services.texts
    year = datetime.now(zone).year + 1
    replies = await newevent(harness, f"20.1.{year} 10 Uhr", "12 Uhr")
    assert replies[-1].startswith("(4/6)")
    await create_after_end(harness, "Rathaus")

    replies = await newevent(harness, "morgen 9 Uhr", "11:30")
    assert replies[-1].startswith("(4/6)")
    await create_after_end(harness, "Online")

    tomorrow = (datetime.now(zone) + timedelta(days=1)).date()
    first, second = sorted(await harness.services.reminders.upcoming(), key=lambda m: m.starts_at)
    assert first.starts_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=zone)
    assert first.ends_at == datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, 11, 30, tzinfo=zone
    )
    assert second.starts_at == datetime(year, 1, 20, 10, tzinfo=zone).astimezone(UTC)
    assert second.ends_at == datetime(year, 1, 20, 12, tzinfo=zone).astimezone(UTC)

    await harness.send("/newevent", user_id=COORDINATOR_ID)
    await harness.send("Noch ein Treffen", user_id=COORDINATOR_ID)
    impossible = texts_of(await harness.send(f"31.02.{year} 10 Uhr", user_id=COORDINATOR_ID))
    assert impossible == [texts.get("de", "dates.no_such_date")]
    await harness.send("übermorgen 10 Uhr", user_id=COORDINATOR_ID)
    early = texts_of(await harness.send("9 Uhr", user_id=COORDINATOR_ID))
    assert early == [texts.get("de", "reminders.newevent.bad_end")]


async def test_an_end_without_a_year_is_read_from_the_start_day(harness: Harness) -> None:
    """ "1.12. 17 Uhr" for a meeting that starts on 1.12. at 18:30 is refused (not moved to the
    next year); an end days later without a year belongs to the start's year, or the next one
    across New Year."""
    zone = harness.services.settings.zone
    texts = harness.services.texts
    year = datetime.now(zone).year + 1
    replies = await newevent(harness, f"1.12.{year} 18:30", "1.12. 17 Uhr")
    assert replies[-1] == texts.get("de", "reminders.newevent.bad_end")
    later = texts_of(await harness.send("1.12. 20 Uhr", user_id=COORDINATOR_ID))
    assert later[-1].startswith("(4/6)")
    await create_after_end(harness, "Rathaus")

    replies = await newevent(harness, f"30.12.{year} 18 Uhr", "2.1. 10 Uhr")
    assert replies[-1].startswith("(4/6)")
    await create_after_end(harness, "Online")

    first, second = sorted(await harness.services.reminders.upcoming(), key=lambda m: m.starts_at)
    assert first.ends_at == datetime(year, 12, 1, 20, tzinfo=zone).astimezone(UTC)
    assert second.ends_at == datetime(year + 1, 1, 2, 10, tzinfo=zone).astimezone(UTC)


async def test_an_end_days_before_the_start_is_not_taken_for_next_year(harness: Harness) -> None:
    zone = harness.services.settings.zone
    texts = harness.services.texts
    year = datetime.now(zone).year + 1
    replies = await newevent(harness, f"5.3.{year} 10 Uhr", "4.3. 17 Uhr")
    assert replies[-1] == texts.get("de", "reminders.newevent.end_too_late", days=14)
    later = texts_of(await harness.send("5.3. 17 Uhr", user_id=COORDINATOR_ID))
    assert later[-1].startswith("(4/6)")
