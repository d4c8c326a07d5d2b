"""Regressions found in review: races, scoping of pending input, cancellation during sending."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.db import outbox
from bot.db.models import Chat, OnboardingRequest, OutboxMessage, Partner, PartnerContact
from bot.delivery import DeliveryWorker, WorkerConfig
from tests.conftest import COORDINATOR_ID, OFFICE_CHAT_ID, Harness, texts_of
from tests.test_onboarding import ASKER, fill_until_review, press, submitted_request


async def test_two_concurrent_approvals_create_one_partner(harness: Harness) -> None:
    await submitted_request(harness)
    await asyncio.gather(
        harness.press("rq:ok:1", user_id=COORDINATOR_ID),
        harness.press("rq:ok:1", user_id=COORDINATOR_ID),
    )
    async with harness.services.sessions() as session:
        partners = (await session.scalars(select(Partner))).all()
        contacts = (await session.scalars(select(PartnerContact))).all()
    assert len(partners) == 1 and len(contacts) == 1


async def test_double_submit_creates_one_request(harness: Harness) -> None:
    await fill_until_review(harness)
    await asyncio.gather(press(harness, "ob:submit"), press(harness, "ob:submit"))
    async with harness.services.sessions() as session:
        assert len((await session.scalars(select(OnboardingRequest))).all()) == 1


async def test_a_decline_reason_is_only_taken_from_the_chat_where_it_was_asked(
    harness: Harness,
) -> None:
    await submitted_request(harness)
    await harness.press("rq:no:1", user_id=COORDINATOR_ID, chat_id=OFFICE_CHAT_ID)
    # Chatting elsewhere does not decline anything.
    await harness.send(
        "Guten Morgen zusammen!", user_id=COORDINATOR_ID, chat_id=-7777, chat_type="supergroup"
    )
    await harness.send("Was ist KAUSA?", user_id=COORDINATOR_ID)
    async with harness.services.sessions() as session:
        [request] = (await session.scalars(select(OnboardingRequest))).all()
    assert request.status == "submitted"
    await harness.send(
        "Bitte erst Integrationsrat fragen",
        user_id=COORDINATOR_ID,
        chat_id=OFFICE_CHAT_ID,
        chat_type="supergroup",
    )
    async with harness.services.sessions() as session:
        [request] = (await session.scalars(select(OnboardingRequest))).all()
    assert request.status == "declined"


async def test_cancel_clears_a_waiting_due_date_prompt(harness: Harness) -> None:
    async with harness.services.sessions.begin() as session:
        session.add(Partner(name="Kreis Z", org_type="municipality"))
    await harness.press("pa:due:1", user_id=COORDINATOR_ID)
    assert "Abgebrochen" in texts_of(await harness.send("/cancel", user_id=COORDINATOR_ID))[0]
    calls = await harness.send("Was ist KAUSA?", user_id=COORDINATOR_ID)
    assert "nicht als Datum" not in "\n".join(texts_of(calls))


async def test_privacy_commands_only_in_private_chats(harness: Harness) -> None:
    group = {"chat_id": -100888, "chat_type": "supergroup", "user_id": 4711}
    assert not [c for c in await harness.send("/mydata", **group) if c.method == "sendDocument"]
    calls = await harness.press("dm:yes", chat_id=-100888, user_id=4711)
    assert [c for c in calls if c.method == "answerCallbackQuery" and c.params.get("show_alert")]


async def test_join_in_a_group_points_to_the_private_chat(harness: Harness) -> None:
    calls = await harness.send("/join", user_id=ASKER, chat_id=-100889, chat_type="supergroup")
    assert "privaten Chat" in texts_of(calls)[0]


async def test_a_row_cancelled_while_being_sent_is_not_retried(harness: Harness) -> None:
    async with harness.services.sessions.begin() as session:
        session.add(Chat(chat_id=501, kind="private", notices=True))
    broadcast = await harness.services.broadcasts.schedule(
        created_by=1, text="x", audience="subscribers"
    )
    await harness.services.broadcasts.start_due()
    harness.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    now = [datetime.now(UTC)]
    worker = DeliveryWorker(
        harness.app.bot,
        harness.services.sessions,
        harness.services.broadcasts,
        harness.services.texts,
        WorkerConfig(name="w"),
        clock=lambda: now[0],
    )
    async with harness.services.sessions.begin() as session:
        rows = await outbox.claim_due(
            session, worker="w", now=now[0], limit=10, lease=timedelta(minutes=1)
        )
    await harness.services.broadcasts.cancel(broadcast_id=broadcast.id)  # while it waits
    now[0] += timedelta(seconds=60)  # waited in its batch longer than a third of the lease
    await worker._deliver(rows[0])
    now[0] += timedelta(seconds=5)
    assert await worker.run_once() == 0
    async with harness.services.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage))).all()
    assert row.status == "cancelled"
    assert not harness.api.sent("sendMessage", chat_id=501), "never sent"
