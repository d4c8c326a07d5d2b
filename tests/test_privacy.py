"""Privacy, roles and log hygiene: what a person and an auditor would check."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import BigInteger, select, text, update

from bot.db.models import (
    AuditEntry,
    Base,
    Chat,
    Handover,
    OnboardingDraft,
    OnboardingRequest,
    OutboxMessage,
    UnansweredQuestion,
    utcnow,
)
from bot.logs import quiet_libraries
from bot.services.privacy import (
    NOT_PERSONAL,
    PERSONAL_COLUMNS,
    REMINDER_KEYS_DAYS,
    PrivacyService,
    Retention,
)
from bot.settings import Settings
from knowledge import SearchEngine
from tests.conftest import (
    COORDINATOR_ID,
    OFFICE_CHAT_ID,
    Harness,
    make_settings,
    running,
    texts_of,
)
from tests.test_onboarding import fill_until_review
from tests.test_reminders import add_partner, new_meeting

PERSON = 8_123_456_789  # a large id, like real Telegram ids


async def busy_person(harness: Harness) -> None:
    """A person who uses every feature that stores something about them."""
    await harness.send("/start", user_id=PERSON)
    await harness.send("/subscribe", user_id=PERSON)
    await harness.press("s:plain", user_id=PERSON)
    calls = await harness.send("Was ist ein Kulturdolmetscher-Zertifikat?", user_id=PERSON)
    [handover] = [d for c in calls for _, d in c.buttons() if d.startswith("ho:")]
    await harness.press(handover, user_id=PERSON)
    for answer in ("/join", "Verein Offen e. V."):
        await harness.send(answer, user_id=PERSON)
    reminders = harness.services.reminders
    start = datetime.now(UTC) + timedelta(days=5)
    meeting = await new_meeting(reminders, start, hours=1, created_by=COORDINATOR_ID)
    await harness.press(f"mt:yes:{meeting.id}", user_id=PERSON)


async def rows_mentioning(harness: Harness, value: int) -> list[str]:
    """Walk every table and every 64-bit integer column (every Telegram id lives in one; they
    do not fit 32 bits): where does `value` still occur?"""
    found = []
    async with harness.services.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, BigInteger):
                    count = await session.scalar(
                        select(text("count(*)")).select_from(table).where(column == value)
                    )
                    if count:
                        found.append(f"{table.name}.{column.name}: {count}")
    return found


def test_every_table_is_classified_for_privacy() -> None:
    personal = {model.__tablename__ for model in PERSONAL_COLUMNS}
    tables = {t.name for t in Base.metadata.sorted_tables}
    assert tables <= personal | NOT_PERSONAL, "a new table must be listed as personal or not"


async def test_privacy_text_names_the_controller_and_periods(harness: Harness) -> None:
    calls = await harness.send("/privacy", user_id=PERSON)
    text_ = texts_of(calls)[0]
    assert "Verantwortlich" in text_ and "noch nicht hinterlegt" in text_
    assert "180 Tage" in text_ and "/deleteme" in text_ and "/mydata" in text_


async def test_mydata_exports_everything_about_the_person(harness: Harness) -> None:
    await busy_person(harness)
    calls = await harness.send("/mydata", user_id=PERSON)
    [document] = [c for c in calls if c.method == "sendDocument"]
    data = json.loads(next(iter(document.files.values())))
    tables = data["tables"]
    assert tables["chats"][0]["chat_id"] == PERSON and tables["chats"][0]["notices"] is True
    assert tables["onboarding_drafts"][0]["data"]["org_name"] == "Verein Offen e. V."
    assert tables["handovers"][0]["question"].startswith("Was ist ein Kulturdolmetscher")
    assert tables["rsvps"][0]["attending"] is True


async def test_mydata_file_is_named_in_the_persons_language(harness: Harness) -> None:
    for user_id, lang, name in ((PERSON, "de", "meine-daten.json"), (7306, "en", "my-data.json")):
        calls = await harness.send("/mydata", user_id=user_id, language_code=lang)
        [document] = [c for c in calls if c.method == "sendDocument"]
        assert list(document.file_names.values()) == [name]


def _mentions(value: object, other: int) -> bool:
    """Whether another person's id occurs anywhere in the exported JSON."""
    if isinstance(value, dict):
        return any(_mentions(v, other) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, other) for v in value)
    pattern = rf"(?<![\d-]){other}(?!\d)"
    return value == other or (isinstance(value, str) and re.search(pattern, value) is not None)


async def test_mydata_leaves_out_other_peoples_ids(harness: Harness) -> None:
    await busy_person(harness)  # a question handed over to the office chat
    roles = harness.services.roles
    roles._admins = frozenset({COORDINATOR_ID})  # the coordinator is this network's admin
    await harness.send(f"/coordinators add {PERSON}", user_id=COORDINATOR_ID)
    roles._admins = frozenset({COORDINATOR_ID, PERSON})  # and the person becomes one, too
    await harness.send("/coordinators add 9300", user_id=PERSON)
    for step in ("/cancel", "/join"):
        await harness.send(step, user_id=PERSON)
    await fill_until_review(harness, PERSON)
    await harness.press("ob:submit", user_id=PERSON)
    async with harness.services.sessions() as session:
        request_id = (await session.scalars(select(OnboardingRequest.id))).one()
    await harness.press(f"rq:no:{request_id}", user_id=COORDINATOR_ID)
    await harness.send("Bitte später noch einmal", user_id=COORDINATOR_ID)
    calls = await harness.send("/mydata", user_id=PERSON)
    [document] = [c for c in calls if c.method == "sendDocument"]
    data = json.loads(next(iter(document.files.values())))
    tables = data["tables"]
    assert tables["handovers"] and tables["onboarding_requests"][0]["status"] == "declined"
    assert tables["coordinators"] and tables["audit_log"], "the person's own rows are there"
    for other in (OFFICE_CHAT_ID, COORDINATOR_ID, 9300):
        assert not _mentions(data, other), f"someone else's id {other} in the export"
    assert data["user_id"] == PERSON


async def test_deleteme_erases_every_row_keyed_by_the_person(harness: Harness) -> None:
    await busy_person(harness)
    assert await rows_mentioning(harness, PERSON), "precondition: there is data"
    calls = await harness.send("/deleteme", user_id=PERSON)
    assert "dm:yes" in [d for c in calls for _, d in c.buttons()]
    cancelled = await harness.press("dm:no", user_id=PERSON)
    assert any("Nichts gelöscht" in c.text for c in cancelled)
    assert await rows_mentioning(harness, PERSON)
    done = await harness.press("dm:yes", user_id=PERSON)
    assert any("gelöscht" in c.text for c in done if c.method == "editMessageText")
    assert await rows_mentioning(harness, PERSON) == []
    # Conversation state in memory is gone too: the next message starts afresh.
    assert PERSON not in harness.app.chat_data or not harness.app.chat_data[PERSON]
    calls = await harness.send("Verein Offen e. V.", user_id=PERSON)
    assert not any("(2/10)" in t for t in texts_of(calls)), "no form is waiting any more"


async def test_deleteme_counts_one_entry_as_one(harness: Harness) -> None:
    await harness.send("/deleteme", user_id=PERSON, language_code="en")  # the chat row alone
    done = await harness.press("dm:yes", user_id=PERSON, language_code="en")
    [text_] = [c.text for c in done if c.method == "editMessageText"]
    assert "(1 entry)" in text_


async def test_privacy_text_says_one_day_for_a_period_of_one(
    settings: Settings, search_engine: SearchEngine
) -> None:
    one_day = make_settings(database_url=settings.database_url, retention_delivered_days=1)
    async with running(one_day, search_engine) as harness:
        calls = await harness.send("/privacy", user_id=PERSON, language_code="en")
    assert "delivered messages 1 day," in texts_of(calls)[0]


async def test_a_second_yes_after_the_erasure_is_already_done_and_creates_nothing(
    harness: Harness,
) -> None:
    english = {"user_id": PERSON, "language_code": "en"}
    already = harness.services.texts.plain("en", "common.already_done")
    await busy_person(harness)
    await harness.send("/deleteme", **english)
    first = await harness.press("dm:yes", **english)
    assert any("gelöscht" in c.text for c in first if c.method == "editMessageText")
    # Yes again: on the same message a moment later, or on an older /deleteme message.
    for _ in range(2):
        again = await harness.press("dm:yes", **english)
        assert [c.params.get("text") for c in again if c.method == "answerCallbackQuery"] == [
            already
        ]
        assert not [c for c in again if c.method in ("editMessageText", "sendMessage")]
        assert await rows_mentioning(harness, PERSON) == []
    # Two taps at once: one erases, the other is told it is done.
    await harness.send("/deleteme", **english)
    before = len(harness.api.calls)
    await asyncio.gather(*(harness.press("dm:yes", **english) for _ in range(2)))
    both = harness.api.calls[before:]  # each press's calls include the other's: take them once
    answers = [c.params.get("text") for c in both if c.method == "answerCallbackQuery"]
    assert len(answers) == 2 and answers.count(already) == 1
    assert await rows_mentioning(harness, PERSON) == []


@pytest.mark.parametrize("days_later", [0, 60])
async def test_the_office_is_told_when_the_asker_has_erased_their_data(
    harness: Harness, days_later: int
) -> None:
    """A reply to the erased person's copy is told that nobody can be answered, not taken for
    a question: at once, and two months later (delivered messages are kept 30 days)."""
    await busy_person(harness)  # their question was handed over to the office chat
    await harness.deliver()
    question = await harness.delivered(OFFICE_CHAT_ID, "Kulturdolmetscher")
    await harness.send("/deleteme", user_id=PERSON)
    await harness.press("dm:yes", user_id=PERSON)
    if days_later:
        async with harness.services.sessions.begin() as session:
            await session.execute(
                update(OutboxMessage).values(created_at=utcnow() - timedelta(days=days_later))
            )
        await harness.services.privacy.apply_retention()
    office = await harness.send(
        "Das Zertifikat gibt es bei der IHK.",
        user_id=COORDINATOR_ID,
        chat_id=OFFICE_CHAT_ID,
        chat_type="supergroup",
        reply_to=question,
    )
    assert texts_of(office) == [harness.services.texts.get("de", "handover.asker_erased")]
    assert [c for c in await harness.deliver() if c.chat_id == PERSON] == []
    assert await rows_mentioning(harness, PERSON) == []
    async with harness.services.sessions() as session:
        kept = (await session.scalars(select(OutboxMessage.text))).all()
    assert not [t for t in kept if "Kulturdolmetscher" in t or "IHK" in t]


async def test_retention_deletes_old_data(harness: Harness) -> None:
    await busy_person(harness)
    future = datetime.now(UTC) + timedelta(days=400)
    privacy = PrivacyService(harness.services.sessions, Retention(), clock=lambda: future)
    removed = await privacy.apply_retention()
    assert removed["drafts"] == 1 and removed["handovers"] == 1 and removed["unanswered"] >= 1
    async with harness.services.sessions() as session:
        assert (await session.scalars(select(OnboardingDraft))).all() == []
        assert (await session.scalars(select(Handover))).all() == []
        assert (await session.scalars(select(UnansweredQuestion))).all() == []
        assert await session.get(Chat, PERSON) is not None, "the chat itself stays until /deleteme"


async def test_delivered_texts_are_kept_as_long_as_privacy_says(harness: Harness) -> None:
    """/privacy promises delivered messages for `delivered` days: a reminder's row stays
    longer (its key keeps it from going out twice), but without its text."""
    reminders = harness.services.reminders
    partner_id = await add_partner(harness, chat_id=PERSON)
    due = reminders.today() + timedelta(days=1)
    await reminders.set_due(partner_id=partner_id, month_day=due.strftime("%m-%d"))
    await reminders.plan_report_reminders()
    async with harness.services.sessions() as session:
        [queued] = (await session.scalars(select(OutboxMessage))).all()
    # Sent at its time (before it: today's sending time; it is void after the day ends).
    due_at = queued.next_attempt_at.replace(tzinfo=queued.next_attempt_at.tzinfo or UTC)
    await harness.deliver(later=max(timedelta(), due_at - harness.services.clock()))
    async with harness.services.sessions() as session:
        [sent] = (await session.scalars(select(OutboxMessage))).all()
    assert sent.status == "sent" and "Stadt Beispiel" in sent.text
    period = harness.services.privacy.retention.delivered
    told = texts_of(await harness.send("/privacy", user_id=PERSON))[0]
    assert f"zugestellte Nachrichten {period} Tage," in told
    assert f"nur der Vermerk, dass sie gesendet wurde ({REMINDER_KEYS_DAYS} Tage)" in told

    async def retention_after(days: int) -> OutboxMessage:
        later = datetime.now(UTC) + timedelta(days=days)
        privacy = PrivacyService(harness.services.sessions, Retention(), clock=lambda: later)
        await privacy.apply_retention()
        async with harness.services.sessions() as session:
            row = await session.get(OutboxMessage, sent.id, populate_existing=True)
        assert row is not None, "the reminder's key stays"
        return row

    assert "Stadt Beispiel" in (await retention_after(period - 2)).text
    kept = await retention_after(period + 30)
    assert (kept.key, kept.text, kept.buttons) == (sent.key, "", None)
    [document] = [
        c for c in await harness.send("/mydata", user_id=PERSON) if c.method == "sendDocument"
    ]
    exported = json.loads(next(iter(document.files.values())))["tables"]["outbox"]
    assert [row["text"] for row in exported] == [""]
    assert await reminders.plan_report_reminders() == 0, "and it is still sent only once"


async def test_a_reminder_that_expired_unsent_keeps_its_text_no_longer_than_a_sent_one(
    harness: Harness,
) -> None:
    """A reminder dropped as stale (the bot was down on its day) is kept as a key like a sent
    one, and like a sent one loses its text after the delivered-messages period."""
    reminders = harness.services.reminders
    partner_id = await add_partner(harness, chat_id=PERSON)
    due = reminders.today() + timedelta(days=1)
    await reminders.set_due(partner_id=partner_id, month_day=due.strftime("%m-%d"))
    await reminders.plan_report_reminders()
    await harness.deliver(later=timedelta(days=3))  # after its day: dropped, not sent
    async with harness.services.sessions() as session:
        [dropped] = (await session.scalars(select(OutboxMessage))).all()
    assert dropped.status == "expired" and "Stadt Beispiel" in dropped.text
    period = harness.services.privacy.retention.delivered
    later = datetime.now(UTC) + timedelta(days=period + 30)
    await PrivacyService(
        harness.services.sessions, Retention(), clock=lambda: later
    ).apply_retention()
    async with harness.services.sessions() as session:
        row = await session.get(OutboxMessage, dropped.id, populate_existing=True)
    assert row is not None and (row.key, row.text, row.buttons) == (dropped.key, "", None)


async def test_admin_adds_and_removes_coordinators_and_it_is_audited(harness: Harness) -> None:
    roles = harness.services.roles
    admin = 9100
    roles._admins = frozenset({admin})  # the configured admin of this network
    roles._configured = roles._configured | {admin}
    newcomer = 9200
    assert texts_of(await harness.send("/unanswered", user_id=newcomer)) == [
        harness.services.texts.get("de", "common.coordinator_only")
    ]
    refused = await harness.send(f"/coordinators add {newcomer}", user_id=COORDINATOR_ID)
    assert "Nur Admins" in texts_of(refused)[0]
    added = await harness.send(f"/coordinators add {newcomer}", user_id=admin)
    assert "Koordinatorin" in texts_of(added)[0]
    assert "unbeantworteten" in texts_of(await harness.send("/unanswered", user_id=newcomer))[0]
    never = await harness.send("/coordinators add 1087968824", user_id=admin)
    assert "ging nicht" in texts_of(never)[0]
    removed = await harness.send(f"/coordinators remove {newcomer}", user_id=admin)
    assert "nicht mehr" in texts_of(removed)[0]
    assert texts_of(await harness.send("/unanswered", user_id=newcomer)) == [
        harness.services.texts.get("de", "common.coordinator_only")
    ]
    async with harness.services.sessions() as session:
        actions = [a.action for a in (await session.scalars(select(AuditEntry))).all()]
    assert actions == ["coordinator_add", "coordinator_remove"]


async def test_no_token_message_text_or_ids_reach_the_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    quiet_libraries()
    caplog.set_level(logging.DEBUG)
    secret_question = "Geheime Frage zur Personalakte Nummer 4242?"
    await harness.send(secret_question, user_id=PERSON)
    await harness.send("/join", user_id=PERSON)
    await harness.send("Organisation Vertraulich GmbH", user_id=PERSON)
    harness.api.fail_next("sendMessage", 400, "Bad Request: something odd")
    await harness.send("/help", user_id=PERSON)  # fails: the error handler logs it
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "logging is on at DEBUG"
    for forbidden in (secret_question, "Vertraulich", str(PERSON), "0:offline"):
        assert forbidden not in logged, forbidden
    assert OFFICE_CHAT_ID  # the office chat id is configuration, not a person


async def test_privacy_commands_only_in_private_chats(harness: Harness) -> None:
    group = {"chat_id": -100888, "chat_type": "supergroup", "user_id": 4711}
    assert not [c for c in await harness.send("/mydata", **group) if c.method == "sendDocument"]
    calls = await harness.press("dm:yes", chat_id=-100888, user_id=4711)
    alerts = [c.params.get("text") for c in calls if c.method == "answerCallbackQuery"]
    assert alerts == [harness.services.texts.plain("de", "common.expired_button")]
