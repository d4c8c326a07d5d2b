"""Report reminders and meetings with an injected clock: exactly once, on time, across DST."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from alembic import command
from sqlalchemy import select, text

from bot.db import outbox
from bot.db import partners as db_partners
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import alembic_config, upgrade_async
from bot.db.models import (
    Chat,
    Meeting,
    OutboxMessage,
    Partner,
    PartnerContact,
    ReportSubmission,
)
from bot.delivery import DeliveryWorker, WorkerConfig
from bot.office import import_partners, parse_partners_csv
from bot.offline import Call
from bot.services.reminders import (
    MeetingPlan,
    ReminderRules,
    ReminderService,
    Snooze,
    local_instant,
)
from bot.settings import Settings
from knowledge import SearchEngine
from tests.conftest import COORDINATOR_ID, Harness, make_settings, running, texts_of

BERLIN = ZoneInfo("Europe/Berlin")
CONTACT = 7101


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


# The partners' spring meeting as a coordinator plans it: `new_meeting(..., **SPRING_MEETING)`.
SPRING_MEETING: dict[str, Any] = {
    "hours": 5,
    "title": "Netzwerktreffen Frühjahr",
    "place": "Düsseldorf, Ministerium",
    "audience": "partners",
    "created_by": COORDINATOR_ID,
}


async def new_meeting(
    reminders: ReminderService,
    starts_at: datetime,
    *,
    hours: float = 2,
    created_by: int | None = None,
    **fields: Any,
) -> Meeting:
    """A meeting created as /newevent does: in Köln for everyone unless `fields` say otherwise."""
    plan = MeetingPlan(
        title="Treffen",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        place="Köln",
        online_url=None,
        description=None,
        audience="all",
    )
    return await reminders.create_meeting(replace(plan, **fields), created_by=created_by)


def service(harness: Harness, clock: Clock, due: str = "03-31") -> ReminderService:
    rules = ReminderRules(
        zone=BERLIN,
        at=time(9, 0),
        default_due=due,
        offsets=(28, 7, 1),
        overdue_every_days=7,
        overdue_count=2,
    )
    return ReminderService(harness.services.sessions, harness.services.texts, rules, clock=clock)


async def add_partner(
    harness: Harness, *, chat_id: int = CONTACT, since: date = date(2020, 1, 1)
) -> int:
    async with harness.services.sessions.begin() as session:
        if await session.get(Chat, chat_id) is None:
            session.add(Chat(chat_id=chat_id, user_id=chat_id, kind="private", language="de"))
        partner = Partner(name="Stadt Beispiel", org_type="municipality", agreement_date=since)
        session.add(partner)
        await session.flush()
        session.add(PartnerContact(partner_id=partner.id, chat_id=chat_id))
        return partner.id


async def queued(harness: Harness) -> list[tuple[str, datetime, str]]:
    async with harness.services.sessions() as session:
        rows = (
            await session.scalars(select(OutboxMessage).order_by(OutboxMessage.next_attempt_at))
        ).all()
    return [(r.key, r.next_attempt_at, r.status) for r in rows]


def test_reminders_keep_their_local_time_across_both_clock_changes() -> None:
    # Due 31 March 2027: the clocks go forward on 28 March.
    instants = {
        i.label: i.at
        for i in ReminderRules(
            zone=BERLIN, at=time(9), offsets=(28, 7, 1), overdue_every_days=7, overdue_count=1
        ).report_instants(date(2027, 3, 31))
    }
    assert instants["28"] == datetime(2027, 3, 3, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert instants["7"] == datetime(2027, 3, 24, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert instants["1"] == datetime(2027, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST
    # Due 1 November 2026: the clocks go back on 25 October.
    before, after = (
        local_instant(date(2026, 10, 24), time(9), BERLIN),
        local_instant(date(2026, 10, 26), time(9), BERLIN),
    )
    assert (before.hour, after.hour) == (7, 8)
    for moment in (*instants.values(), before, after):
        assert moment.astimezone(BERLIN).time() == time(9, 0)


async def test_each_reminder_is_queued_once_and_sent_at_its_time(harness: Harness) -> None:
    partner_id = await add_partner(harness)
    clock = Clock(berlin(2027, 3, 2, 12, 0))  # the day before the 28-day reminder
    reminders = service(harness, clock)
    assert await reminders.plan_report_reminders() == 1
    assert await reminders.plan_report_reminders() == 0, "planning again adds nothing"
    [(key, at, status)] = await queued(harness)
    assert key == f"reminder:report:{partner_id}:2027-03-31:28:{CONTACT}"
    assert at == datetime(2027, 3, 3, 8, 0, tzinfo=UTC) and status == "pending"
    # A second bot process planning at the same moment changes nothing either.
    other = service(harness, clock)
    results = await asyncio.gather(reminders.plan_report_reminders(), other.plan_report_reminders())
    assert list(results) == [0, 0]


async def test_after_downtime_only_the_latest_due_reminder_is_sent(harness: Harness) -> None:
    partner_id = await add_partner(harness)
    clock = Clock(berlin(2027, 3, 26, 10, 0))  # down since February: 28- and 7-day reminders missed
    reminders = service(harness, clock)
    await reminders.plan_report_reminders()
    keys = [k for k, _, _ in await queued(harness)]
    assert keys == [f"reminder:report:{partner_id}:2027-03-31:7:{CONTACT}"]


async def test_before_due_reminders_are_dropped_once_the_date_passed_then_overdue_ones_come(
    harness: Harness,
) -> None:
    partner_id = await add_partner(harness)
    clock = Clock(berlin(2027, 4, 2, 10, 0))
    reminders = service(harness, clock)
    assert await reminders.plan_report_reminders() == 0, "the 1-day reminder is no use now"
    clock.now = berlin(2027, 4, 6, 12, 0)
    await reminders.plan_report_reminders()  # overdue1 (7 April 09:00) is within a day
    keys = [k for k, _, _ in await queued(harness)]
    assert keys == [f"reminder:report:{partner_id}:2027-03-31:overdue1:{CONTACT}"]
    clock.now = berlin(2027, 4, 14, 12, 0)
    await reminders.plan_report_reminders()
    keys = [k for k, _, _ in await queued(harness)]
    assert keys[-1].endswith(f":overdue2:{CONTACT}") and len(keys) == 2
    clock.now = berlin(2027, 5, 1, 12, 0)
    assert await reminders.plan_report_reminders() == 0, "the series has its limit"


async def test_submission_stops_reminders_and_snooze_works_once(harness: Harness) -> None:
    partner_id = await add_partner(harness)
    clock = Clock(berlin(2027, 3, 23, 12, 0))
    reminders = service(harness, clock)
    await reminders.plan_report_reminders()

    async def snooze() -> Snooze:
        return await reminders.snooze(
            partner_id=partner_id, due=date(2027, 3, 31), chat_id=CONTACT, lang="de"
        )

    assert await snooze() is Snooze.SNOOZED
    assert await snooze() is Snooze.USED
    assert await reminders.mark_submitted(partner_id=partner_id, due=date(2027, 3, 31), by=CONTACT)
    # After the report is in, "Später erinnern" says so (no more reminders come).
    assert await snooze() is Snooze.SUBMITTED
    assert not await reminders.mark_submitted(
        partner_id=partner_id, due=date(2027, 3, 31), by=CONTACT
    )
    assert {s for _, _, s in await queued(harness)} == {"cancelled"}
    clock.now = berlin(2027, 3, 29, 12, 0)
    assert await reminders.plan_report_reminders() == 0


async def test_partners_who_joined_after_a_due_date_are_not_reminded_of_it(
    harness: Harness,
) -> None:
    await add_partner(harness, since=date(2027, 4, 5))
    reminders = service(harness, Clock(berlin(2027, 4, 6, 12, 0)))
    assert await reminders.plan_report_reminders() == 0
    [deadline] = await reminders.deadlines_for_chat(chat_id=CONTACT)
    assert deadline.due == date(2028, 3, 31) and deadline.state(date(2027, 4, 6)) == "due"


async def test_one_day_is_one_day_in_reminders_and_deadlines(harness: Harness) -> None:
    reminders = harness.services.reminders
    today = reminders.today()
    async with harness.services.sessions.begin() as session:
        session.add(Chat(chat_id=4711, user_id=4711, kind="private", language="en"))
    partner_id = await add_partner(harness, chat_id=4711, since=today - timedelta(days=400))
    async with harness.services.sessions() as session:
        partner = await session.get(Partner, partner_id)
    assert partner is not None
    tomorrow = today + timedelta(days=1)
    for lang, one, other in (
        ("de", "(noch 1 Tag)", "(noch 2 Tage)"),
        ("en", "(1 day left)", "(2 days left)"),
    ):
        text = reminders.report_text(lang, partner, tomorrow, overdue=False, today=today)
        assert one in text
        text = reminders.report_text(
            lang, partner, tomorrow, overdue=False, today=today - timedelta(days=1)
        )
        assert other in text
    await reminders.set_due(partner_id=partner_id, month_day=tomorrow.strftime("%m-%d"))
    assert "due in 1 day\n" in texts_of(await harness.send("/deadlines", user_id=4711))[0] + "\n"
    yesterday = today - timedelta(days=1)
    await reminders.set_due(partner_id=partner_id, month_day=yesterday.strftime("%m-%d"))
    assert (
        "overdue for 1 day\n" in texts_of(await harness.send("/deadlines", user_id=4711))[0] + "\n"
    )


async def test_report_buttons_deadlines_and_partners_in_the_bot(harness: Harness) -> None:
    reminders = harness.services.reminders
    today = reminders.today()
    partner_id = await add_partner(harness, chat_id=4711, since=today)
    due = reminders.today() + timedelta(days=10)
    await reminders.set_due(partner_id=partner_id, month_day=due.strftime("%m-%d"))
    calls = await harness.send("/deadlines", user_id=4711)
    assert "Stadt Beispiel" in texts_of(calls)[0] and "fällig in 10 Tagen" in texts_of(calls)[0]
    stamp = due.strftime("%Y%m%d")
    denied = await harness.press(f"rp:done:{partner_id}:{stamp}", user_id=4712)
    assert any("nicht mit dieser Partnerorganisation" in c.text for c in denied)
    calls = await harness.press(f"rp:done:{partner_id}:{stamp}", user_id=4711)
    assert any("eingereicht" in c.text for c in calls if c.method == "answerCallbackQuery")
    async with harness.services.sessions() as session:
        assert await session.get(ReportSubmission, (partner_id, due)) is not None
    calls = await harness.send("/deadlines", user_id=4711)
    assert "eingereicht" in texts_of(calls)[0]
    assert texts_of(await harness.send("/partners", user_id=4711)) == [
        harness.services.texts.get("de", "common.coordinator_only")
    ]
    overview = await harness.send("/partners", user_id=COORDINATOR_ID)
    assert "Stadt Beispiel" in texts_of(overview)[0]
    await harness.press(f"pa:due:{partner_id}", user_id=COORDINATOR_ID)
    assert (
        "nicht als jährlichen Termin"
        in texts_of(await harness.send("im Frühling", user_id=COORDINATOR_ID))[0]
    )
    assert "15. Juni." in texts_of(await harness.send("15.06.", user_id=COORDINATOR_ID))[0]
    async with harness.services.sessions() as session:
        partner = await session.get(Partner, partner_id)
    assert partner is not None and partner.report_due == "06-15"
    assert today <= due


async def test_meetings_rsvp_ics_and_reminders(harness: Harness) -> None:
    await add_partner(harness, chat_id=4711)
    clock = Clock(berlin(2027, 3, 20, 12, 0))
    reminders = service(harness, clock)
    start = berlin(2027, 3, 30, 10, 0)
    meeting = await new_meeting(
        reminders, start, description="Austausch & Workshops", **SPRING_MEETING
    )
    calendar = icalendar.Calendar.from_ical(reminders.ics(meeting))
    [event] = [c for c in calendar.walk() if c.name == "VEVENT"]
    assert str(event["summary"]) == "Netzwerktreffen Frühjahr"
    assert event.decoded("dtstart") == datetime(2027, 3, 30, 8, 0, tzinfo=UTC)  # 10:00 CEST
    assert str(event["location"]) == "Düsseldorf, Ministerium"

    clock.now = berlin(2027, 3, 22, 12, 0)  # the 7-day reminder (23 March 09:00) is within a day
    assert await reminders.plan_meeting_reminders() == 1
    assert await reminders.plan_meeting_reminders() == 0
    async with harness.services.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage))).all()
    assert row.attachment_name == f"treffen-{meeting.id}.ics" and "BEGIN:VCALENDAR" in (
        row.attachment or ""
    )
    assert row.next_attempt_at == datetime(2027, 3, 23, 8, 0, tzinfo=UTC)
    clock.now = berlin(2027, 3, 30, 11, 0)  # the meeting has begun: nothing more
    assert await reminders.plan_meeting_reminders() == 0

    assert await reminders.rsvp(meeting_id=meeting.id, chat_id=4711, attending=True)
    assert await reminders.rsvp(meeting_id=meeting.id, chat_id=4712, attending=False)
    assert await reminders.rsvp(meeting_id=meeting.id, chat_id=4712, attending=True)
    assert await reminders.rsvp_counts(meeting_id=meeting.id) == (2, 0)


async def test_events_command_and_rsvp_buttons(harness: Harness) -> None:
    reminders = harness.services.reminders
    meeting = await new_meeting(
        reminders,
        datetime.now(UTC) + timedelta(days=3),
        title="Online-Fachtag",
        place=None,
        online_url="https://example.org/fachtag",
    )
    calls = await harness.send("/events", user_id=4711)
    [document] = [c for c in calls if c.method == "sendDocument"]
    assert (
        "Online-Fachtag" in document.text and 'href="https://example.org/fachtag"' in document.text
    )
    assert f"mt:yes:{meeting.id}" in [d for _, d in document.buttons()]
    calls = await harness.press(f"mt:yes:{meeting.id}", user_id=4711)
    assert any("Teilnehmer" in c.text for c in calls if c.method == "answerCallbackQuery")
    coordinator_view = await harness.send("/events", user_id=COORDINATOR_ID)
    assert "1 zugesagt" in next(c for c in coordinator_view if c.method == "sendDocument").text
    assert any("mt:" in d for _, d in document.buttons())
    # The calendar file is named in the person's language.
    assert list(document.file_names.values()) == [f"treffen-{meeting.id}.ics"]
    calls = await harness.send("/events", user_id=4713, language_code="en")
    [english] = [c for c in calls if c.method == "sendDocument"]
    assert list(english.file_names.values()) == [f"meeting-{meeting.id}.ics"]


async def test_a_meeting_too_long_for_a_caption_comes_whole_as_a_message(
    harness: Harness,
) -> None:
    """Telegram counts a caption's 1,024 characters after reading its HTML: a description
    full of "&" (five characters each in HTML) is neither cut short nor cut inside "&amp;"."""
    description = ("Kaffee & Kuchen " * 100)[:1400]
    await new_meeting(
        harness.services.reminders,
        datetime.now(UTC) + timedelta(days=3),
        description=description,
    )
    calls = await harness.send("/events", user_id=4711)
    [message] = [c for c in calls if c.method == "sendMessage"]
    [document] = [c for c in calls if c.method == "sendDocument"]
    assert html.escape(description, quote=False) in message.text
    assert any(d.startswith("mt:yes:") for _, d in message.buttons())
    assert "caption" not in document.params

    await new_meeting(harness.services.reminders, datetime.now(UTC) + timedelta(days=4))
    calls = await harness.send("/events", user_id=4711)
    assert [c.method for c in calls] == ["sendMessage", "sendDocument", "sendDocument"]
    assert "Köln" in calls[-1].params["caption"]


async def test_newevent_conversation_creates_and_announces(harness: Harness) -> None:
    zone = harness.services.settings.zone
    start = (datetime.now(zone) + timedelta(days=20)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    await harness.send("/newevent", user_id=COORDINATOR_ID)
    await harness.send("Herbsttreffen", user_id=COORDINATOR_ID)
    assert "Um wie viel Uhr" in texts_of(await harness.send("morgen", user_id=COORDINATOR_ID))[0]
    await harness.send(start.strftime("%d.%m.%Y %H:%M"), user_id=COORDINATOR_ID)
    assert "nach dem Beginn" in texts_of(await harness.send("09:00", user_id=COORDINATOR_ID))[0]
    await harness.send("16:00", user_id=COORDINATOR_ID)
    await harness.send("Essen, Zeche Zollverein", user_id=COORDINATOR_ID)
    await harness.send("-", user_id=COORDINATOR_ID)
    calls = await harness.press("ne:aud:partners", user_id=COORDINATOR_ID)
    # A summary to check first: nothing is created before "Anlegen".
    [summary] = [c for c in calls if c.method == "editMessageText"]
    assert "Herbsttreffen" in summary.text and "Essen, Zeche Zollverein" in summary.text
    assert [d for _, d in summary.buttons()] == ["ne:create", "ne:abort"]
    assert await harness.services.reminders.upcoming() == []
    calls = await harness.press("ne:create", user_id=COORDINATOR_ID)
    assert any("ist angelegt. Erinnerungen gehen 7 Tage und 1 Tag vorher" in c.text for c in calls)
    again = await harness.press("ne:create", user_id=COORDINATOR_ID)  # an old summary's button
    expired = harness.services.texts.plain("de", "common.expired_button")
    assert [c.text for c in again if c.method == "answerCallbackQuery"] == [expired]
    [meeting] = await harness.services.reminders.upcoming()
    assert meeting.starts_at == start.astimezone(UTC) and meeting.place == "Essen, Zeche Zollverein"
    calls = await harness.press(f"ne:announce:{meeting.id}", user_id=COORDINATOR_ID)
    assert any("Hinweis Nr." in t for t in texts_of(calls))
    stranger = await harness.send("/newevent", user_id=4711)
    assert texts_of(stranger) == [harness.services.texts.get("de", "common.coordinator_only")]


@pytest.mark.parametrize(
    ("offsets", "said"),
    [
        ((14, 3, 1), "Erinnerungen gehen 14 Tage, 3 Tage und 1 Tag vorher an die Zielgruppe."),
        ((), "Erinnerungen vor Treffen sind in dieser Installation ausgeschaltet."),
    ],
)
async def test_a_new_meeting_names_the_reminders_this_installation_sends(
    database_url: str, search_engine: SearchEngine, offsets: tuple[int, ...], said: str
) -> None:
    """The confirmation says when reminders go out as MEETING_OFFSETS_DAYS sets it."""
    settings = make_settings(database_url=database_url, meeting_offsets_days=offsets)
    async with running(settings, search_engine) as harness:
        start = f"20.1.{datetime.now(UTC).year + 1} 10 Uhr"
        for step in ("/newevent", "Netzwerktreffen", start, "12 Uhr", "Köln", "-"):
            await harness.send(step, user_id=COORDINATOR_ID)
        await harness.press("ne:aud:partners", user_id=COORDINATOR_ID)
        created = [c.text for c in await harness.press("ne:create", user_id=COORDINATOR_ID)]
    assert any(said in text for text in created), created


async def test_an_announced_meeting_reaches_each_subscriber_in_their_language(
    harness: Harness,
) -> None:
    await harness.send("/subscribe", user_id=601, language_code="de")
    await harness.send("/subscribe", user_id=602, language_code="en")
    link = "https://meet.example.org/netzwerk"
    start = f"20.1.{datetime.now(UTC).year + 1} 10 Uhr"
    for step in ("/newevent", "Netzwerktreffen", start, "12 Uhr", link, "-"):
        await harness.send(step, user_id=COORDINATOR_ID)
    await harness.press("ne:aud:subscribers", user_id=COORDINATOR_ID)
    await harness.press("ne:create", user_id=COORDINATOR_ID)
    [meeting] = await harness.services.reminders.upcoming()
    first, second = await asyncio.gather(
        harness.press(f"ne:announce:{meeting.id}", user_id=COORDINATOR_ID),
        harness.press(f"ne:announce:{meeting.id}", user_id=COORDINATOR_ID),
    )
    done = harness.services.texts.plain("de", "common.already_done")
    answers = [c.text for c in first + second if c.method == "answerCallbackQuery"]
    assert done in answers, "a double tap is answered, not announced twice"
    await harness.services.broadcasts.start_due()
    delivered = {c.chat_id: c.text for c in await harness.deliver() if c.chat_id in (601, 602)}
    texts = harness.services.texts
    assert texts.plain("de", "reminders.online_link") in delivered[601]
    assert texts.plain("en", "reminders.online_link") in delivered[602]
    assert texts.plain("de", "reminders.online_link") not in delivered[602]
    assert len(await harness.services.broadcasts.recent()) == 2  # one per language, once


def test_partner_csv_reports_bad_rows_with_line_numbers() -> None:
    text = (
        "name;type;region;agreement_date;email;report_due\n"
        "Stadt A;municipality;Kreis X;2024-05-01;info@a.example;03-31\n"
        "B;company;;2024-13-01;kein-mail;13-40\n"
        "Verband C;unknowntype;;;;\n"
    )
    _, errors = parse_partners_csv(text)
    assert len(errors) == 2
    assert (
        errors[0].startswith("line 3:") and "agreement_date" in errors[0] and "email" in errors[0]
    )
    assert errors[1].startswith("line 4:") and "type" in errors[1]
    _, header_errors = parse_partners_csv("name,colour\nA,blue\n")
    assert header_errors and "colour" in header_errors[0]


def test_partner_csv_line_numbers_count_blank_lines_and_multi_line_fields() -> None:
    text = (
        "name;type;region;agreement_date;email;report_due\n"
        "Alpha GmbH;company;Köln;2024-01-01;a@example.org;03-31\n"
        "\n"
        "Beta e.V.;association;Bonn;2024-02-30;b@example.org;03-31\n"
        'Gamma AG;company;"Köln\nPorz";2024-01-01;g@example.org;03-31\n'
        "Delta;company;;2024-13-01;;\n"
        '"alpha  gmbh";company;"Bonn\n\nBeuel";;;\n'
    )
    _, errors = parse_partners_csv(text)
    assert errors == [
        "line 4: agreement_date must be YYYY-MM-DD",
        "line 7: agreement_date must be YYYY-MM-DD",
        "line 8: the same name as line 2",
    ]


async def test_partner_import_is_all_or_nothing(settings: Settings, harness: Harness) -> None:
    bad = "name;type\nStadt Gut;municipality\nX;company\n"
    report = await import_partners(settings, bad)
    assert report.imported == 0 and report.errors
    good = (
        "\ufeffname,type,region,report_due\n"
        "Stadt Gut,municipality,Kreis Y,04-30\nFirma Fein,company,,\n"
    )
    report = await import_partners(settings, good)
    assert report.imported == 2 and not report.errors
    async with harness.services.sessions() as session:
        names = sorted(p.name for p in (await session.scalars(select(Partner))).all())
    assert names == ["Firma Fein", "Stadt Gut"]


async def test_reminder_rows_are_delivered_with_their_buttons(harness: Harness) -> None:
    partner_id = await add_partner(harness, chat_id=4711)
    clock = Clock(berlin(2027, 3, 30, 8, 0))
    assert await service(harness, clock).plan_report_reminders() == 1, "not the missed 7-day one"
    async with harness.services.sessions.begin() as session:
        rows = await outbox.claim_due(
            session, worker="t", now=berlin(2027, 3, 30, 9, 1), limit=5, lease=timedelta(minutes=1)
        )
    [row] = rows
    assert f"rp:done:{partner_id}:20270331" in (row.buttons or "")
    assert "31.03.2027" in row.text and "Stadt Beispiel" in row.text


async def test_cancel_clears_a_waiting_due_date_prompt(harness: Harness) -> None:
    async with harness.services.sessions.begin() as session:
        session.add(Partner(name="Kreis Z", org_type="municipality"))
    await harness.press("pa:due:1", user_id=COORDINATOR_ID)
    cancelled = await harness.send("/cancel", user_id=COORDINATOR_ID)
    assert texts_of(cancelled) == [harness.services.texts.get("de", "common.cancelled")]
    # The next text is a question again, not a due date that cannot be read.
    calls = await harness.send("Was ist KAUSA?", user_id=COORDINATOR_ID)
    assert texts_of(calls)
    assert harness.services.texts.get("de", "dates.due_unreadable") not in texts_of(calls)


async def deliver_at(harness: Harness, now: datetime) -> list[Call]:
    """What a delivery worker sends when it runs at `now` (a fresh one: as after a restart)."""
    before = len(harness.api.calls)
    worker = DeliveryWorker(
        harness.app.bot,
        harness.services.sessions,
        harness.services.broadcasts,
        harness.services.texts,
        WorkerConfig(name="reminders"),
        clock=lambda: now,
    )
    await worker.release_expired()
    while await worker.run_once():
        pass
    return harness.api.calls[before:]


async def test_reminders_that_went_stale_during_downtime_are_dropped_not_sent(
    settings: Settings,
    search_engine: SearchEngine,
    harness: Harness,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Planned on 29 March for the 30th (report due 31 March, meeting 31 March 10:00), the bot
    is down until 1 April: neither "1 days left" nor the reminder of a meeting that is over
    arrives; the rows are marked expired and block planning them again."""
    partner_id = await add_partner(harness)
    clock = Clock(berlin(2027, 3, 29, 12, 0))
    reminders = service(harness, clock)
    meeting = await new_meeting(reminders, berlin(2027, 3, 31, 10, 0), audience="partners")
    assert await reminders.plan_report_reminders() == 1
    assert await reminders.plan_meeting_reminders() == 1
    async with harness.services.sessions() as session:
        rows = {r.key: r for r in (await session.scalars(select(OutboxMessage))).all()}
    report_key = f"reminder:report:{partner_id}:2027-03-31:1:{CONTACT}"
    meeting_key = f"reminder:meeting:{meeting.id}:1:{CONTACT}"
    assert rows[report_key].expires_at == berlin(2027, 3, 31, 0, 0), "its day is the 30th"
    assert rows[meeting_key].expires_at == meeting.starts_at

    # The bot stops before 30 March 09:00 and starts again on 1 April 10:00.
    async with running(settings, search_engine) as restarted:
        clock.now = berlin(2027, 4, 1, 10, 0)
        again = service(restarted, clock)
        assert await again.plan_report_reminders() == 0
        assert await again.plan_meeting_reminders() == 0
        caplog.clear()
        calls = await deliver_at(restarted, clock.now)
        assert [c for c in calls if c.chat_id == CONTACT] == []
        assert {k: s for k, _, s in await queued(restarted)} == {
            report_key: "expired",
            meeting_key: "expired",
        }
        assert any(
            r.levelname == "INFO" and "dropped 2" in r.getMessage() for r in caplog.records
        ), "the operator sees how many were dropped"
        # Exactly once: a later planner run does not queue them again.
        clock.now = berlin(2027, 4, 1, 10, 10)
        assert await again.plan_report_reminders() == 0
        assert await again.plan_meeting_reminders() == 0


async def test_a_reminder_goes_out_until_its_day_ends_and_a_meeting_reminder_until_it_starts(
    harness: Harness,
) -> None:
    partner_id = await add_partner(harness)
    clock = Clock(berlin(2027, 3, 29, 12, 0))
    reminders = service(harness, clock)
    await new_meeting(reminders, berlin(2027, 3, 31, 10, 0), audience="partners")
    await reminders.plan_report_reminders()
    await reminders.plan_meeting_reminders()
    # Late, but still true: 30 March 23:59 for the report ("1 days left" is right that day).
    calls = await deliver_at(harness, berlin(2027, 3, 30, 23, 59))
    assert len([c for c in calls if c.chat_id == CONTACT]) == 2
    # A snooze is true on its own day only.
    clock.now = berlin(2027, 4, 2, 12, 0)
    assert (
        await reminders.snooze(
            partner_id=partner_id, due=date(2027, 3, 31), chat_id=CONTACT, lang="de"
        )
        is Snooze.SNOOZED
    )
    snooze_key = f"reminder:report:{partner_id}:2027-03-31:snooze:{CONTACT}"
    async with harness.services.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == snooze_key))
    assert row is not None and row.expires_at == berlin(2027, 4, 6, 0, 0)
    assert await deliver_at(harness, berlin(2027, 4, 6, 0, 0)) == []
    assert {k: s for k, _, s in await queued(harness)}[snooze_key] == "expired"


async def test_a_reminder_left_in_flight_by_a_crash_is_dropped_once_stale(
    harness: Harness,
) -> None:
    """A worker claimed the 1-day reminder on 30 March 23:59 and crashed; its row is released
    after the lease, on 31 March, when "1 days left" is no longer true."""
    await add_partner(harness)
    clock = Clock(berlin(2027, 3, 29, 12, 0))
    await service(harness, clock).plan_report_reminders()
    async with harness.services.sessions.begin() as session:
        assert await outbox.claim_due(
            session, worker="dead", now=berlin(2027, 3, 30, 23, 59), limit=5,
            lease=timedelta(minutes=2),
        )  # fmt: skip
    assert await deliver_at(harness, berlin(2027, 3, 31, 0, 5)) == []
    assert [s for _, _, s in await queued(harness)] == ["expired"]


async def test_rows_without_an_expiry_are_sent_however_late(harness: Harness) -> None:
    async with harness.services.sessions.begin() as session:
        await outbox.enqueue(
            session, key="broadcast:1:4711", chat_id=4711, kind="broadcast", text="Fachtag",
            now=berlin(2027, 3, 1, 9, 0),
        )  # fmt: skip
    calls = await deliver_at(harness, berlin(2027, 6, 1, 9, 0))
    assert [c.text for c in calls] == ["Fachtag"]


async def test_the_expiry_migration_goes_back_and_forth_keeping_the_rows(
    database_url: str,
) -> None:
    """Down to 0014, an expired row becomes cancelled (the older code knows no "expired" but
    still keeps its key); up again, every row is there without an expiry."""
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions.begin() as session:
            for key, expires_at in (("reminder:old", berlin(2027, 3, 31, 0, 0)), ("notice", None)):
                await outbox.enqueue(
                    session, key=key, chat_id=1, kind="reminder", text="x",
                    expires_at=expires_at, now=berlin(2027, 3, 29, 12, 0),
                )  # fmt: skip
            assert await outbox.expire_stale(session, now=berlin(2027, 4, 1, 10, 0)) == 1
        await engine.dispose()
        config = alembic_config(database_url)
        await asyncio.to_thread(command.downgrade, config, "0014")
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT key, status FROM outbox"))).all()
        assert sorted(tuple(r) for r in rows) == [
            ("notice", "pending"),
            ("reminder:old", "cancelled"),
        ]
        await engine.dispose()
        await upgrade_async(database_url)
        async with sessions() as session:
            stored = (await session.scalars(select(OutboxMessage))).all()
        assert sorted((r.key, r.expires_at) for r in stored) == [
            ("notice", None),
            ("reminder:old", None),
        ]
    finally:
        await engine.dispose()


async def statuses_of(harness: Harness) -> dict[str, str]:
    """Each reminder row's status by its kind and label ("report:1", "meeting:7")."""
    return {
        f"{key.split(':')[1]}:{key.split(':')[-2]}": status
        for key, _, status in await queued(harness)
    }


async def test_reminders_off_stops_queued_ones_and_on_lets_them_be_planned_again(
    harness: Harness,
) -> None:
    """Each switch is tapped twice at once (a double tap): it works once, both taps are
    answered, and nothing is queued twice."""
    partner_id = await add_partner(harness)
    clock = Clock(berlin(2027, 3, 29, 12, 0))
    reminders = service(harness, clock)
    await new_meeting(reminders, berlin(2027, 3, 31, 10, 0), audience="partners")
    assert await reminders.plan_report_reminders() + await reminders.plan_meeting_reminders() == 2
    due = date(2027, 3, 31)
    snoozed = await reminders.snooze(partner_id=partner_id, due=due, chat_id=CONTACT, lang="de")
    assert snoozed is Snooze.SNOOZED  # one more on 1 April

    async def double_tap(data: str) -> list[Call]:
        before = len(harness.api.calls)
        await asyncio.gather(
            harness.press(data, user_id=CONTACT), harness.press(data, user_id=CONTACT)
        )
        calls = harness.api.calls[before:]
        answered = [
            c.params["callback_query_id"] for c in calls if c.method == "answerCallbackQuery"
        ]
        assert len(answered) == len(set(answered)) == 2, "each tap is answered once"
        return calls

    calls = await double_tap("s:reminders:0")
    assert harness.services.texts.get("de", "common.error") not in [c.text for c in calls]
    assert await statuses_of(harness) == {
        "report:1": "cancelled",
        "meeting:1": "cancelled",
        "report:snooze": "cancelled",
    }
    clock.now = berlin(2027, 3, 29, 18, 0)
    assert await reminders.plan_report_reminders() + await reminders.plan_meeting_reminders() == 0
    assert await deliver_at(harness, berlin(2027, 3, 30, 9, 5)) == []

    # On again before the reminders' time: the planner queues them again, the snooze waits.
    clock.now = berlin(2027, 3, 30, 8, 0)
    await double_tap("s:reminders:1")
    assert await statuses_of(harness) == {"report:snooze": "pending"}
    assert await reminders.plan_report_reminders() + await reminders.plan_meeting_reminders() == 2
    assert await reminders.plan_report_reminders() + await reminders.plan_meeting_reminders() == 0
    sent = await deliver_at(harness, berlin(2027, 3, 30, 9, 5))
    assert len([c for c in sent if c.chat_id == CONTACT]) == 2
    sent = await deliver_at(harness, berlin(2027, 4, 1, 9, 5))
    assert ["überfällig" in c.text or "war am" in c.text for c in sent] == [True]


async def test_reminders_on_again_does_not_revive_a_reminder_of_a_submitted_report(
    harness: Harness,
) -> None:
    partner_id = await add_partner(harness)
    clock = Clock(berlin(2027, 3, 29, 12, 0))
    reminders = service(harness, clock)
    due = date(2027, 3, 31)
    await reminders.plan_report_reminders()
    await reminders.snooze(partner_id=partner_id, due=due, chat_id=CONTACT, lang="de")
    await harness.press("s:reminders:0", user_id=CONTACT)
    assert await reminders.mark_submitted(partner_id=partner_id, due=due, by=CONTACT)
    await harness.press("s:reminders:1", user_id=CONTACT)
    assert await reminders.plan_report_reminders() == 0
    assert "pending" not in (await statuses_of(harness)).values()
    assert await deliver_at(harness, berlin(2027, 4, 1, 9, 5)) == []


async def test_queued_reminders_arrive_in_the_language_chosen_after_planning(
    harness: Harness,
) -> None:
    """Planned in German, the person switches to English (a double tap): the report reminder,
    the meeting reminder (its calendar file too) and a "remind me later" arrive in English."""
    partner_id = await add_partner(harness)
    clock = Clock(berlin(2027, 3, 29, 12, 0))
    reminders = service(harness, clock)
    meeting = await new_meeting(reminders, berlin(2027, 3, 31, 10, 0), audience="partners")
    await reminders.plan_report_reminders()
    await reminders.plan_meeting_reminders()
    due = date(2027, 3, 31)
    await reminders.snooze(partner_id=partner_id, due=due, chat_id=CONTACT, lang="de")
    await asyncio.gather(
        harness.press("s:lang:en", user_id=CONTACT), harness.press("s:lang:en", user_id=CONTACT)
    )
    clock.now = berlin(2027, 3, 29, 12, 10)
    assert await reminders.plan_report_reminders() + await reminders.plan_meeting_reminders() == 0
    async with harness.services.sessions() as session:
        partner = await session.get(Partner, partner_id)
    assert partner is not None
    texts = harness.services.texts
    english_buttons = [
        texts.plain("en", "reminders.fill_button"),
        texts.plain("en", "reminders.submitted_button"),
        texts.plain("en", "reminders.later_button"),
    ]

    sent = [c for c in await deliver_at(harness, berlin(2027, 3, 30, 9, 5)) if c.chat_id == CONTACT]
    [report] = [c for c in sent if c.method == "sendMessage"]
    assert report.text == reminders.report_text(
        "en", partner, due, overdue=False, today=date(2027, 3, 30)
    )
    assert [label for label, _ in report.buttons()] == english_buttons
    [invitation] = [c for c in sent if c.method == "sendDocument"]
    assert invitation.params["caption"] == reminders.meeting_text("en", meeting, reminder=True)
    assert [label for label, _ in invitation.buttons()] == [
        texts.plain("en", "reminders.attend"),
        texts.plain("en", "reminders.not_attend"),
    ]
    assert list(invitation.file_names.values()) == [f"meeting-{meeting.id}.ics"]

    [later] = await deliver_at(harness, berlin(2027, 4, 1, 9, 5))
    assert later.text == reminders.report_text(
        "en", partner, due, overdue=True, today=date(2027, 4, 1)
    )
    assert [label for label, _ in later.buttons()] == english_buttons


async def test_a_reminder_on_its_way_during_a_language_change_is_sent_once(
    harness: Harness,
) -> None:
    await add_partner(harness)
    clock = Clock(berlin(2027, 3, 29, 12, 0))
    await service(harness, clock).plan_report_reminders()
    async with harness.services.sessions.begin() as session:
        [on_its_way] = await outbox.claim_due(
            session, worker="busy", now=berlin(2027, 3, 30, 9, 0), limit=5,
            lease=timedelta(minutes=2),
        )  # fmt: skip
    await harness.press("s:lang:en", user_id=CONTACT)
    async with harness.services.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage))).all()
    # The worker sends what it claimed; the row is neither changed under it nor queued again.
    assert (row.id, row.status, row.text) == (on_its_way.id, "sending", on_its_way.text)
    assert "Erinnerung" in row.text


async def while_the_planner_runs(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, change: Awaitable[Any]
) -> int:
    """Run `change` while a report planner run has read the contacts and not yet queued its
    rows (given time to commit, if nothing holds it); then let the planner go on. The rows
    the planner queued."""
    reminders = service(harness, Clock(berlin(2027, 3, 29, 12, 0)))
    contacts_read, go_on = asyncio.Event(), asyncio.Event()
    read_contacts = db_partners.reminder_contacts

    async def slow_contacts(session: Any, *, partner_id: int) -> Any:
        rows = await read_contacts(session, partner_id=partner_id)
        contacts_read.set()
        await go_on.wait()
        return rows

    monkeypatch.setattr(db_partners, "reminder_contacts", slow_contacts)
    planning = asyncio.create_task(reminders.plan_report_reminders())
    await asyncio.wait_for(contacts_read.wait(), 10)
    changing = asyncio.ensure_future(change)
    await asyncio.sleep(0.5)
    go_on.set()
    queued = await asyncio.wait_for(planning, 30)
    await asyncio.wait_for(changing, 30)
    return queued


@pytest.mark.parametrize("switch", ["s:reminders:0", "s:lang:en"])
async def test_a_switch_while_the_planner_runs_still_reaches_what_it_queues(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    """The planner has read the contact (reminders on, German) and not yet queued its row when
    the person turns reminders off, or switches to English: the row it queues is cancelled, or
    goes out in English. (On PostgreSQL the two ran at once, and the switch did not see the
    planner's row; on SQLite they take turns on the one writing connection.)"""
    await add_partner(harness)
    press = harness.press(switch, user_id=CONTACT)
    assert await while_the_planner_runs(harness, monkeypatch, press) == 1
    async with harness.services.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage))).all()
    if switch == "s:reminders:0":
        assert row.status == "cancelled"
    else:
        assert row.status == "pending"
        assert "Reminder:" in row.text and "Erinnerung" not in row.text


async def test_a_person_erased_while_the_planner_runs_gets_no_reminder(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planner has read the contact when the person erases their data (/deleteme): the
    reminder it was about to queue is not queued to them afterwards."""
    await add_partner(harness)
    erasure = harness.services.privacy.erase(user_id=CONTACT, chat_id=CONTACT)
    await while_the_planner_runs(harness, monkeypatch, erasure)
    async with harness.services.sessions() as session:
        rows = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == CONTACT))
        ).all()
    assert rows == []
