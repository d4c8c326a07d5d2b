"""Broadcasts and subscriptions as coordinators and recipients use them in the bot."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.db.models import Broadcast, Chat, OutboxMessage, utcnow
from bot.delivery import DeliveryWorker, WorkerConfig
from bot.services.broadcasts import AudienceFilter
from bot.services.localtime import local
from bot.settings import Settings
from bot.worker_cli import BAR_WIDTH, broadcast_status
from tests.conftest import COORDINATOR_ID, OFFICE_CHAT_ID, Harness, next_spring_forward, texts_of

STRANGER = 4711


def worker_for(harness: Harness, now: datetime | None = None) -> DeliveryWorker:
    return DeliveryWorker(
        harness.app.bot,
        harness.services.sessions,
        harness.services.broadcasts,
        harness.services.texts,
        WorkerConfig(name="test", progress_every_seconds=0.0),
        clock=(lambda: now) if now else utcnow,
    )


async def subscribe(harness: Harness, *user_ids: int, language: str = "de") -> None:
    for user_id in user_ids:
        calls = await harness.send("/subscribe", user_id=user_id, language_code=language)
        assert "Hinweise" in texts_of(calls)[0] or "notices" in texts_of(calls)[0]


async def write_notice(harness: Harness) -> list[str]:
    """The coordinator goes through /broadcast up to the confirmation; returns its texts."""
    await harness.send("/broadcast", user_id=COORDINATOR_ID)
    bold = {"entities": [{"type": "bold", "offset": 11, "length": 6}]}
    await harness.send("Fachtag am Montag <3", user_id=COORDINATOR_ID, extra=bold)
    await harness.press("bc:aud:subscribers", user_id=COORDINATOR_ID)
    calls = await harness.press("bc:lang:any", user_id=COORDINATOR_ID)
    return texts_of(calls)


async def test_subscribe_and_unsubscribe_change_what_is_stored(harness: Harness) -> None:
    await subscribe(harness, 601)
    async with harness.services.sessions() as session:
        chat = await session.get(Chat, 601)
    assert chat is not None and chat.notices and not chat.opted_out
    calls = await harness.send("/unsubscribe", user_id=601)
    assert "keine Hinweise" in texts_of(calls)[0]
    async with harness.services.sessions() as session:
        chat = await session.get(Chat, 601)
    assert chat is not None and not chat.notices and chat.opted_out


async def test_coordinator_broadcast_with_preview_count_delivery_and_report(
    harness: Harness,
) -> None:
    await subscribe(harness, 601, 602)
    await subscribe(harness, 603, language="en")
    texts = await write_notice(harness)
    intro, preview, confirm = texts[0], texts[1], texts[2]
    assert "Vorschau" in intro
    assert preview.startswith("Fachtag am <b>Montag</b> &lt;3"), "formatting kept, text escaped"
    assert "/unsubscribe" in preview, "the preview shows the unsubscribe note recipients get"
    assert "<b>3</b>" in confirm
    calls = await harness.press("bc:send", user_id=COORDINATOR_ID)
    assert any("wird gesendet" in t for t in texts_of(calls))

    harness.api.clear()
    worker = worker_for(harness)
    await harness.services.broadcasts.start_due()
    await worker.run_once()
    await worker.report_progress(force=True)
    await worker.run_once()  # the final report travels through the outbox too
    delivered = {
        c.chat_id: c for c in harness.api.sent("sendMessage") if c.chat_id in (601, 602, 603)
    }
    assert set(delivered) == {601, 602, 603}
    assert "Abbestellen" in delivered[601].buttons()[0][0]
    assert "Unsubscribe" in delivered[603].buttons()[0][0], "English recipients get English"
    reports = [c.text for c in harness.api.sent("sendMessage", chat_id=COORDINATOR_ID)]
    assert any("Bericht" in r and "Gesendet: 3" in r for r in reports)

    # The unsubscribe button under the notice works at once.
    calls = await harness.press("unsub", user_id=602)
    assert any(c.method == "answerCallbackQuery" for c in calls)
    assert await harness.services.broadcasts.count(AudienceFilter("subscribers")) == 2


async def test_a_notice_is_as_long_as_its_readers_see_it(harness: Harness) -> None:
    """The limit counts what recipients read: "&" and bold text are one character each, not
    their HTML ("&amp;", "<b>")."""
    texts = harness.services.texts
    await harness.send("/broadcast", user_id=COORDINATOR_ID)
    fits = ("Kaffee & Kuchen " * 300)[:3700]
    bold = {"entities": [{"type": "bold", "offset": 0, "length": 3700}]}
    calls = await harness.send(fits, user_id=COORDINATOR_ID, extra=bold)
    assert texts_of(calls) == [texts.get("de", "broadcast.ask_audience")]

    await harness.send("/broadcast", user_id=COORDINATOR_ID)
    too_long = ("Kaffee & Kuchen " * 300)[:3801]
    calls = await harness.send(too_long, user_id=COORDINATOR_ID)
    assert texts_of(calls) == [texts.get("de", "broadcast.too_long", length=3801, limit=3800)]


async def test_blocked_recipients_are_counted_in_the_report(harness: Harness) -> None:
    await subscribe(harness, 601, 602)
    await write_notice(harness)
    await harness.press("bc:send", user_id=COORDINATOR_ID)
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    worker = worker_for(harness)
    await harness.services.broadcasts.start_due()
    await worker.run_once()
    await worker.report_progress(force=True)
    await worker.run_once()  # the final report travels through the outbox too
    reports = [c.text for c in harness.api.sent("sendMessage", chat_id=COORDINATOR_ID)]
    assert any("Blockiert (Bot gesperrt): 1" in r and "Gesendet: 1" in r for r in reports)


async def test_schedule_for_later_and_cancel(harness: Harness) -> None:
    await subscribe(harness, 601)
    await write_notice(harness)
    await harness.press("bc:later", user_id=COORDINATOR_ID)
    texts = harness.services.texts
    calls = await harness.send("irgendwann nächste Woche", user_id=COORDINATOR_ID)
    assert texts_of(calls) == [texts.get("de", "dates.unreadable")], "asked for again"
    calls = await harness.send("1.1.2020 10 Uhr", user_id=COORDINATOR_ID)
    assert texts_of(calls) == [texts.get("de", "dates.in_past")]
    skipped = next_spring_forward()
    calls = await harness.send(f"{skipped:%d.%m.%Y} 2:30", user_id=COORDINATOR_ID)
    assert texts_of(calls) == [texts.get("de", "dates.skipped_hour")], "the hour that is not"
    zone = harness.services.settings.zone
    when = (datetime.now(zone) + timedelta(days=2)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )
    calls = await harness.send(when.strftime("%d.%m.%Y %H:%M"), user_id=COORDINATOR_ID)
    assert "Geplant als Nr." in texts_of(calls)[0]
    async with harness.services.sessions() as session:
        [broadcast] = (await session.scalars(select(Broadcast))).all()
    assert broadcast.send_at == when.astimezone(UTC)
    assert await harness.services.broadcasts.start_due() == [], "not before its time"

    calls = await harness.send("/broadcasts", user_id=COORDINATOR_ID)
    cancel = [d for c in calls for _, d in c.buttons() if d.startswith("bcx:")]
    assert cancel == [f"bcx:{broadcast.id}"]
    # The cancel button asks first, saying what would not be sent: its one recipient.
    calls = await harness.press(cancel[0], user_id=COORDINATOR_ID)
    [question] = [c for c in calls if c.method == "sendMessage"]
    number = broadcast.id
    assert question.text == texts.get(
        "de", "broadcast.confirm_cancel", number=number, pending=1, total=1
    )
    assert [d for _, d in question.buttons()] == [f"bcx:y:{number}", f"bcx:n:{number}"]
    assert await _status(harness, number) == "scheduled", "nothing happened yet"
    calls = await harness.press(f"bcx:y:{number}", user_id=COORDINATOR_ID)
    [report] = [c for c in calls if c.method in ("editMessageText", "sendMessage")]
    # Was "nicht mehr gesendet: 0": a notice not started yet has no outbox rows to count.
    assert report.text == texts.get("de", "broadcast.cancelled", number=number, sent=0, cancelled=1)
    assert await _status(harness, number) == "cancelled"
    again = await harness.press(f"bcx:y:{number}", user_id=COORDINATOR_ID)
    assert [c.text for c in again if c.method == "answerCallbackQuery"] == [
        texts.get("de", "common.already_done")
    ]
    # Undo, even hours later (its time is still ahead): planned again for its time.
    async with harness.services.sessions.begin() as session:
        found = await session.get(Broadcast, number)
        assert found is not None and found.finished_at is not None
        found.finished_at -= timedelta(hours=3)
    assert [d for _, d in report.buttons()] == [f"bcx:r:{number}"]
    calls = await harness.press(f"bcx:r:{number}", user_id=COORDINATOR_ID)
    when_text = local(broadcast.send_at, zone)
    assert texts.get(
        "de", "broadcast.resumed_scheduled", number=number, when=when_text
    ) in texts_of(calls)
    assert await _status(harness, number) == "scheduled"
    again = await harness.press(f"bcx:r:{number}", user_id=COORDINATOR_ID)
    assert [c.text for c in again if c.method == "answerCallbackQuery"] == [
        texts.get("de", "common.already_done")
    ]


async def _status(harness: Harness, broadcast_id: int) -> str | None:
    found = await harness.services.broadcasts.get(broadcast_id=broadcast_id)
    return found.status if found else None


async def test_cancel_a_running_broadcast_and_undo_sends_the_rest(harness: Harness) -> None:
    await subscribe(harness, 601, 602, 603)
    await write_notice(harness)
    await harness.press("bc:send", user_id=COORDINATOR_ID)
    [started] = await harness.services.broadcasts.start_due()
    worker = DeliveryWorker(
        harness.app.bot,
        harness.services.sessions,
        harness.services.broadcasts,
        harness.services.texts,
        WorkerConfig(name="one-at-a-time", batch_size=1, progress_every_seconds=0.0),
    )
    assert await worker.run_once() == 1  # one of three got it
    texts = harness.services.texts
    number = started.id
    calls = await harness.press(f"bcx:{number}", user_id=COORDINATOR_ID)
    expected = texts.get("de", "broadcast.confirm_cancel", number=number, pending=2, total=3)
    assert expected in texts_of(calls)
    # "No": it keeps going.
    kept = texts.get("de", "broadcast.cancel_kept", number=number)
    calls = await harness.press(f"bcx:n:{number}", user_id=COORDINATOR_ID)
    assert texts_of(calls, "editMessageText") == [kept]
    calls = await harness.press(f"bcx:n:{number}", user_id=COORDINATOR_ID)
    assert kept not in texts_of(calls) and len(texts_of(calls, "answerCallbackQuery")) == 1
    assert await _status(harness, number) == "running"
    calls = await harness.press(f"bcx:y:{number}", user_id=COORDINATOR_ID)
    report = texts.get("de", "broadcast.cancelled", number=number, sent=1, cancelled=2)
    assert report in [c.text for c in calls]
    assert await worker_for(harness).run_once() == 0, "the rest stays unsent"
    calls = await harness.press(f"bcx:r:{number}", user_id=COORDINATOR_ID)
    assert texts.get("de", "broadcast.resumed", number=number, count=2) in texts_of(calls)
    delivered = await harness.deliver()
    notices = [c.chat_id for c in delivered if "Fachtag" in c.text]
    assert len(notices) == 2 and len(set(notices)) == 2, "the two others, once each"
    state = await harness.services.broadcasts.progress(broadcast_id=number)
    assert (state.sent, state.pending, state.cancelled) == (3, 0, 0)


async def test_a_cancellation_older_than_an_hour_cannot_be_undone(harness: Harness) -> None:
    """A notice held back for hours may be out of date: "send the rest" says so, sends nothing
    and the button goes; the coordinator writes the notice anew."""
    await subscribe(harness, 601, 602)
    await write_notice(harness)
    await harness.press("bc:send", user_id=COORDINATOR_ID)
    [started] = await harness.services.broadcasts.start_due()
    number = started.id
    await harness.press(f"bcx:y:{number}", user_id=COORDINATOR_ID)
    async with harness.services.sessions.begin() as session:  # two hours pass
        broadcast = await session.get(Broadcast, number)
        assert broadcast is not None and broadcast.finished_at is not None
        broadcast.finished_at -= timedelta(hours=2)
    calls = await harness.press(f"bcx:r:{number}", user_id=COORDINATOR_ID)
    texts = harness.services.texts
    [alert] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert alert.params["text"] == texts.plain("de", "broadcast.undo_expired")
    assert [c.method for c in calls if c.method == "editMessageReplyMarkup"]
    assert await _status(harness, number) == "cancelled"
    assert [c for c in await harness.deliver() if "Fachtag" in c.text] == []


async def test_cancel_a_running_broadcast_stops_pending_messages(harness: Harness) -> None:
    await subscribe(harness, 601, 602, 603)
    await write_notice(harness)
    await harness.press("bc:send", user_id=COORDINATOR_ID)
    [started] = await harness.services.broadcasts.start_due()
    state = await harness.services.broadcasts.cancel(broadcast_id=started.id)
    assert state is not None and state.cancelled == 3 and state.sent == 0
    assert await worker_for(harness).run_once() == 0


async def test_strangers_cannot_start_preview_send_or_cancel(harness: Harness) -> None:
    await subscribe(harness, 601)
    calls = await harness.send("/broadcast", user_id=STRANGER)
    assert texts_of(calls) == [harness.services.texts.get("de", "common.coordinator_only")]
    # Forged buttons of every step, and a forged cancel of a real broadcast.
    broadcast = await harness.services.broadcasts.schedule(
        created_by=COORDINATOR_ID, text="x", recipients=AudienceFilter("subscribers")
    )
    for data in ("bc:aud:all", "bc:lang:any", "bc:send", f"bcx:{broadcast.id}"):
        calls = await harness.press(data, user_id=STRANGER)
        assert [c for c in calls if c.method == "answerCallbackQuery"], data
        assert not [c for c in calls if c.method == "sendMessage"], data
    calls = await harness.send("/broadcasts", user_id=STRANGER)
    assert texts_of(calls) == [harness.services.texts.get("de", "common.coordinator_only")]
    async with harness.services.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
        refreshed = await session.get(Broadcast, broadcast.id)
    assert rows == [] and refreshed is not None and refreshed.status == "scheduled"


async def test_empty_audience_is_not_scheduled(harness: Harness) -> None:
    texts = await write_notice(harness)
    assert any("keine Empfänger" in t for t in texts)
    async with harness.services.sessions() as session:
        assert (await session.scalars(select(Broadcast))).all() == []


async def test_blocking_the_bot_updates_the_chat(harness: Harness) -> None:
    await subscribe(harness, 601)
    update = {
        "update_id": 99_001,
        "my_chat_member": {
            "chat": {"id": 601, "type": "private"},
            "from": {"id": 601, "is_bot": False, "first_name": "A"},
            "date": 0,
            "old_chat_member": {
                "user": {"id": 4242, "is_bot": True, "first_name": "B"},
                "status": "member",
            },
            "new_chat_member": {
                "user": {"id": 4242, "is_bot": True, "first_name": "B"},
                "status": "kicked",
                "until_date": 0,
            },
        },
    }
    await harness.push(update)
    async with harness.services.sessions() as session:
        chat = await session.get(Chat, 601)
    assert chat is not None and not chat.active and not chat.notices


async def test_partner_audience_filtered_by_type_and_region(harness: Harness) -> None:
    from bot.db.models import Partner, PartnerContact

    async with harness.services.sessions.begin() as session:
        for chat_id, org_type, region in (
            (801, "municipality", "Kreis Münster"),
            (802, "municipality", "Kreis Soest"),
            (803, "company", "Münster"),
        ):
            session.add(Chat(chat_id=chat_id, kind="private", language="de"))
            partner = Partner(name=f"P{chat_id}", org_type=org_type, region=region)
            session.add(partner)
            await session.flush()
            session.add(PartnerContact(partner_id=partner.id, chat_id=chat_id))
    await harness.send("/broadcast", user_id=COORDINATOR_ID)
    await harness.send("Treffen der Kommunen im Münsterland", user_id=COORDINATOR_ID)
    await harness.press("bc:aud:partners", user_id=COORDINATOR_ID)
    await harness.press("bc:lang:any", user_id=COORDINATOR_ID)
    await harness.press("bc:pt:municipality", user_id=COORDINATOR_ID)
    calls = await harness.send("münster", user_id=COORDINATOR_ID)
    assert any("<b>1</b>" in t for t in texts_of(calls)), "only the municipality in Münster"
    await harness.press("bc:send", user_id=COORDINATOR_ID)
    [started] = await harness.services.broadcasts.start_due()
    assert (started.recipients, started.partner_type, started.region) == (
        1,
        "municipality",
        "münster",
    )


async def test_broadcast_status_of_a_notice_not_started_shows_its_audience_pending(
    harness: Harness, settings: Settings
) -> None:
    """`broadcast status ID` for a notice scheduled for later: nothing sent, all of its
    recipients still to come (it showed a full bar "0/0" before any message row existed)."""
    await subscribe(harness, 601, 602, 603)
    broadcast = await harness.services.broadcasts.schedule(
        created_by=COORDINATOR_ID,
        text="Fachtag im Mai",
        recipients=AudienceFilter("subscribers"),
        send_at=utcnow() + timedelta(days=3),
    )
    out = io.StringIO()
    assert await broadcast_status(settings, broadcast.id, out) == 0
    line = out.getvalue().splitlines()[1]
    assert line.startswith("[" + "." * BAR_WIDTH + "] 0/3") and "3 pending" in line


async def test_broadcast_and_newevent_in_the_office_group_point_to_the_private_chat(
    harness: Harness,
) -> None:
    texts = harness.services.texts
    for command in ("/broadcast", "/newevent"):
        group = {"chat_id": OFFICE_CHAT_ID, "chat_type": "supergroup"}
        calls = await harness.send(command, user_id=COORDINATOR_ID, **group)
        expected = texts.get(
            "de", "common.private_chat_only", command=command, bot="vielfalt_lotse_bot"
        )
        assert texts_of(calls) == [expected]
        calls = await harness.send(command, user_id=4711, **group)
        assert texts_of(calls) == [texts.get("de", "common.coordinator_only")]


async def test_an_english_coordinators_preview_for_all_languages_is_in_english(
    harness: Harness,
) -> None:
    await subscribe(harness, 601)
    await harness.send("/broadcast", user_id=COORDINATOR_ID, language_code="en")
    await harness.send("Hello everyone", user_id=COORDINATOR_ID, language_code="en")
    await harness.press("bc:aud:subscribers", user_id=COORDINATOR_ID, language_code="en")
    calls = await harness.press("bc:lang:any", user_id=COORDINATOR_ID, language_code="en")
    [preview] = [c for c in calls if c.method == "sendMessage" and "Hello everyone" in c.text]
    assert "Unsubscribe" in preview.buttons()[0][0], preview.buttons()
