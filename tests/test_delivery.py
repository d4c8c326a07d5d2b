"""The delivery outbox and its worker against a fake Bot API that fails the way Telegram does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.error import TimedOut

from bot.app import build_application, build_services
from bot.db import outbox
from bot.db.engine import create_engine, create_sessionmaker, dispose
from bot.db.models import Chat, DeliveryWorkerBeat, OutboxMessage, PartnerContact
from bot.delivery import DeliveryWorker, WorkerConfig
from bot.offline import OfflineBotApi
from bot.services.broadcasts import AudienceFilter, BroadcastService
from bot.services.container import Services
from bot.settings import Settings
from bot.texts import Texts
from knowledge import SearchEngine
from tests.conftest import Harness

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the worker."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


def make_worker(
    harness: Harness, clock: Callable[[], datetime], **config: object
) -> DeliveryWorker:
    options: dict[str, object] = {"name": "w1", "backoff_seconds": 10.0, "max_attempts": 3}
    options.update(config)
    return DeliveryWorker(
        harness.app.bot,
        harness.services.sessions,
        harness.services.broadcasts,
        harness.services.texts,
        WorkerConfig(**options),  # type: ignore[arg-type]
        clock=clock,
    )


async def add_chats(
    sessions: async_sessionmaker[AsyncSession], *chat_ids: int, notices: bool = True
) -> None:
    async with sessions.begin() as session:
        for chat_id in chat_ids:
            session.add(Chat(chat_id=chat_id, user_id=chat_id, kind="private", notices=notices))


async def enqueue(
    harness: Harness, key: str, chat_id: int, text: str = "Hallo", now: datetime = T0
) -> bool:
    async with harness.services.sessions.begin() as session:
        return await outbox.enqueue(
            session, key=key, chat_id=chat_id, kind="notification", text=text, now=now
        )


async def enqueue_invitation(
    session: AsyncSession, *, key: str, chat_id: int, text: str, now: datetime
) -> None:
    """A meeting reminder with its calendar file, as the reminder service queues one."""
    await outbox.enqueue(
        session,
        key=key,
        chat_id=chat_id,
        kind="reminder",
        text=text,
        attachment_name="treffen.ics",
        attachment="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        now=now,
    )


async def statuses(harness: Harness) -> dict[str, str]:
    async with harness.services.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return {row.key: row.status for row in rows}


async def test_enqueueing_the_same_key_twice_adds_one_row(harness: Harness) -> None:
    assert await enqueue(harness, "reminder:report:1:2026:28:501", 501) is True
    assert await enqueue(harness, "reminder:report:1:2026:28:501", 501) is False
    async with harness.services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_worker_delivers_due_rows_and_marks_them_sent(harness: Harness) -> None:
    clock = Clock()
    await enqueue(harness, "a", 501, "Erste <b>Nachricht</b>")
    await enqueue(harness, "b", 502, "Später", now=T0 + timedelta(hours=1))
    worker = make_worker(harness, clock)
    assert await worker.run_once() == 1
    [sent] = harness.api.sent("sendMessage")
    assert (sent.chat_id, sent.text, sent.params["parse_mode"]) == (
        501,
        "Erste <b>Nachricht</b>",
        "HTML",
    )
    assert await statuses(harness) == {"a": "sent", "b": "pending"}
    clock.advance(3600)
    assert await worker.run_once() == 1
    assert await statuses(harness) == {"a": "sent", "b": "sent"}


async def test_retry_after_waits_as_told_then_sends(harness: Harness) -> None:
    clock = Clock()
    await enqueue(harness, "a", 501)
    harness.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    worker = make_worker(harness, clock)
    await worker.run_once()
    assert await statuses(harness) == {"a": "pending"}
    clock.advance(6)
    assert await worker.run_once() == 0, "not before the time Telegram asked for"
    clock.advance(1)
    assert await worker.run_once() == 1
    assert await statuses(harness) == {"a": "sent"}


async def test_blocked_bot_marks_chat_inactive_and_stops_its_messages(harness: Harness) -> None:
    await add_chats(harness.services.sessions, 501)
    await enqueue(harness, "a", 501)
    await enqueue(harness, "b", 501, now=T0 + timedelta(minutes=5))
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    worker = make_worker(harness, Clock())
    await worker.run_once()
    assert await statuses(harness) == {"a": "blocked", "b": "blocked"}
    async with harness.services.sessions() as session:
        chat = await session.get(Chat, 501)
    assert chat is not None
    assert (chat.active, chat.notices) == (False, False)


async def test_migrated_group_moves_the_chat_id_and_retries(harness: Harness) -> None:
    async with harness.services.sessions.begin() as session:
        session.add(Chat(chat_id=-501, kind="group", notices=True))
    await enqueue(harness, "a", -501)
    harness.api.fail_next(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-100501,
    )
    clock = Clock()
    worker = make_worker(harness, clock)
    await worker.run_once()
    await worker.run_once()
    assert [c.chat_id for c in harness.api.sent("sendMessage")] == [-501, -100501]
    assert await statuses(harness) == {"a": "sent"}
    async with harness.services.sessions() as session:
        assert await session.get(Chat, -100501) is not None
        assert await session.get(Chat, -501) is None


async def test_other_bad_request_fails_with_the_reason(harness: Harness) -> None:
    await enqueue(harness, "a", 501)
    harness.api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    await make_worker(harness, Clock()).run_once()
    async with harness.services.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage))).all()
    assert row.status == "failed"
    assert "chat not found" in (row.last_error or "").lower()


async def test_timeouts_are_retried_with_backoff_then_fail(harness: Harness) -> None:
    clock = Clock()
    await enqueue(harness, "a", 501)
    worker = make_worker(harness, clock, backoff_seconds=10.0, max_attempts=3)
    for _ in range(3):
        harness.api.raise_next("sendMessage", TimedOut("timed out"))
    await worker.run_once()  # attempt 1 -> retry in 10 s
    clock.advance(9)
    assert await worker.run_once() == 0
    clock.advance(1)
    await worker.run_once()  # attempt 2 -> retry in 20 s
    clock.advance(19)
    assert await worker.run_once() == 0
    clock.advance(1)
    await worker.run_once()  # attempt 3 -> give up
    async with harness.services.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage))).all()
    assert (row.status, row.attempts) == ("failed", 3)
    assert "TimedOut" in (row.last_error or "")


@pytest.mark.parametrize(("policy", "expected"), [("resend", "sent"), ("unknown", "unknown")])
async def test_rows_left_in_flight_by_a_crash_follow_the_policy(
    harness: Harness, policy: str, expected: str
) -> None:
    clock = Clock()
    await enqueue(harness, "a", 501)
    async with harness.services.sessions.begin() as session:  # a worker claims, then "dies"
        await outbox.claim_due(session, worker="dead", now=T0, limit=10, lease=timedelta(minutes=2))
    worker = make_worker(harness, clock, crash_policy=policy)
    assert await worker.release_expired() == 0, "the lease is still running"
    assert await worker.run_once() == 0
    clock.advance(121)
    assert await worker.release_expired() == 1
    await worker.run_once()
    assert await statuses(harness) == {"a": expected}


async def _two_with_one_on_the_way(harness: Harness) -> OutboxMessage:
    """Two notices of broadcast 7; the one to 501 is being sent by worker w1 when the
    coordinator cancels."""
    async with harness.services.sessions.begin() as session:
        for chat_id in (501, 502):
            await outbox.enqueue(
                session, key=f"n:{chat_id}", chat_id=chat_id, kind="broadcast", ref_id=7,
                text="Fachtag", now=T0,
            )  # fmt: skip
    async with harness.services.sessions.begin() as session:
        [on_the_way] = await outbox.claim_due(
            session, worker="w1", now=T0, limit=1, lease=timedelta(minutes=2)
        )
    async with harness.services.sessions.begin() as session:
        assert await outbox.cancel_pending(session, kind="broadcast", ref_id=7) == 2
    return on_the_way


async def test_a_row_cancelled_while_its_send_was_on_the_way_is_not_sent_again(
    harness: Harness,
) -> None:
    """The coordinator cancels a notice while one message of it is being sent; that one does
    go out. "Send the rest" must then send only what was really held back."""
    on_the_way = await _two_with_one_on_the_way(harness)
    async with harness.services.sessions.begin() as session:  # the send came back: delivered
        await outbox.mark_sent(session, message_id=on_the_way.id, now=T0, worker="w1")
    async with harness.services.sessions.begin() as session:
        assert await outbox.resume_cancelled(session, kind="broadcast", ref_id=7, now=T0) == 1
    assert await make_worker(harness, Clock()).run_once() == 1
    assert await statuses(harness) == {"n:501": "sent", "n:502": "sent"}
    assert [c.chat_id for c in harness.api.sent("sendMessage")] == [502]


async def test_send_the_rest_while_a_cancelled_send_is_still_on_the_way(
    harness: Harness,
) -> None:
    """ "Send the rest" tapped before the send that was on the way came back: that message is
    not sent a second time; the rest goes out."""
    on_the_way = await _two_with_one_on_the_way(harness)
    async with harness.services.sessions.begin() as session:
        assert await outbox.resume_cancelled(session, kind="broadcast", ref_id=7, now=T0) == 1
    async with harness.services.sessions.begin() as session:  # now the send comes back
        await outbox.mark_sent(session, message_id=on_the_way.id, now=T0, worker="w1")
    while await make_worker(harness, Clock()).run_once():
        pass
    assert await statuses(harness) == {"n:501": "sent", "n:502": "sent"}
    assert [c.chat_id for c in harness.api.sent("sendMessage")] == [502]


async def test_a_cancelled_send_that_failed_is_sent_with_the_rest(harness: Harness) -> None:
    """The message on the way when the notice was cancelled did not go out (Telegram
    failed): it is not retried while cancelled, and "send the rest" sends it with the rest."""
    on_the_way = await _two_with_one_on_the_way(harness)
    async with harness.services.sessions.begin() as session:
        await outbox.mark_retry(
            session, message_id=on_the_way.id, at=T0, error="timed out", worker="w1"
        )
    assert await statuses(harness) == {"n:501": "cancelled", "n:502": "cancelled"}
    async with harness.services.sessions.begin() as session:
        assert await outbox.resume_cancelled(session, kind="broadcast", ref_id=7, now=T0) == 2
    while await make_worker(harness, Clock()).run_once():
        pass
    assert {c.chat_id for c in harness.api.sent("sendMessage")} == {501, 502}


async def test_attachments_are_sent_as_documents(harness: Harness) -> None:
    async with harness.services.sessions.begin() as session:
        await enqueue_invitation(session, key="ics", chat_id=501, text="Treffen", now=T0)
    await make_worker(harness, Clock()).run_once()
    [document] = harness.api.sent("sendDocument")
    assert document.params["caption"] == "Treffen"
    assert b"BEGIN:VCALENDAR" in next(iter(document.files.values()))


async def delivered_row(harness: Harness, key: str) -> OutboxMessage:
    async with harness.services.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    assert row is not None
    return row


LONG_INVITATION = "Programm: " + "Vortrag und Austausch. " * 60  # over a caption's 1,024


@pytest.mark.parametrize("failure", ["429", "timeout"])
async def test_a_long_invitation_whose_file_fails_sends_its_text_once(
    harness: Harness, failure: str
) -> None:
    """Text and file go as two messages; when only the file fails, the retry sends only the
    file: the person gets the text once, and a reply to it still finds the row."""
    async with harness.services.sessions.begin() as session:
        await enqueue_invitation(session, key="ics", chat_id=501, text=LONG_INVITATION, now=T0)
    if failure == "429":
        harness.api.fail_next(
            "sendDocument", 429, "Too Many Requests: retry after 5", retry_after=5
        )
    else:
        harness.api.raise_next("sendDocument", TimedOut("timed out"))
    clock = Clock()
    worker = make_worker(harness, clock)
    await worker.run_once()
    text_id = (await delivered_row(harness, "ics")).delivered_message_id
    for _ in range(6):
        clock.advance(10)
        await worker.run_once()
    assert [c.text for c in harness.api.sent("sendMessage", chat_id=501)] == [LONG_INVITATION]
    _refused, delivered = harness.api.sent("sendDocument", chat_id=501)
    assert b"BEGIN:VCALENDAR" in next(iter(delivered.files.values()))
    row = await delivered_row(harness, "ics")
    assert text_id is not None, "the text's message id is kept while the file waits"
    assert (row.status, row.delivered_message_id) == ("sent", text_id)


async def test_a_file_that_never_goes_out_leaves_its_text_delivered_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness.services.sessions.begin() as session:
        await enqueue_invitation(session, key="ics", chat_id=501, text=LONG_INVITATION, now=T0)
    for _ in range(3):
        harness.api.raise_next("sendDocument", TimedOut("timed out"))
    clock = Clock()
    worker = make_worker(harness, clock, max_attempts=3)
    for _ in range(10):
        await worker.run_once()
        clock.advance(60)
    assert [c.text for c in harness.api.sent("sendMessage", chat_id=501)] == [LONG_INVITATION]
    assert len(harness.api.sent("sendDocument", chat_id=501)) == 3
    row = await delivered_row(harness, "ics")
    assert row.status == "sent" and row.delivered_message_id is not None
    assert any("its file did not" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "as_caption"),
    [
        ("🎉" * 600, False),  # 600 characters, 1,200 as Telegram counts them
        ("a &amp; b " * 110, True),  # 1,100 characters of HTML, 770 once it is read
    ],
)
async def test_a_caption_is_measured_as_telegram_counts_it(
    harness: Harness, text: str, as_caption: bool
) -> None:
    async with harness.services.sessions.begin() as session:
        await enqueue_invitation(session, key="ics", chat_id=501, text=text, now=T0)
    await make_worker(harness, Clock()).run_once()
    [document] = harness.api.sent("sendDocument")
    assert ("caption" in document.params) is as_caption
    assert [c.text for c in harness.api.sent("sendMessage")] == ([] if as_caption else [text])


async def postgres_with_due_rows(
    settings: Settings, search: SearchEngine, count: int, *, first_chat: int
) -> Services:
    """The services on PostgreSQL (the test is skipped on SQLite, where workers do not run side
    by side) with `count` notifications due to chats from `first_chat` on."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    services = build_services(settings, search=search)
    async with services.sessions.begin() as session:
        for i in range(count):
            await outbox.enqueue(
                session, key=f"k{i}", chat_id=first_chat + i, kind="notification", text="x", now=T0
            )
    return services


@pytest.mark.postgres
async def test_two_workers_on_postgresql_never_send_a_row_twice(
    settings: Settings, search_engine: SearchEngine
) -> None:
    services = await postgres_with_due_rows(settings, search_engine, 300, first_chat=10_000)
    apis = [OfflineBotApi(), OfflineBotApi()]

    apps = [build_application(services, request=api, rate_limit=False) for api in apis]
    workers = []
    for index, app in enumerate(apps):
        await app.initialize()
        workers.append(
            DeliveryWorker(
                app.bot,
                services.sessions,
                services.broadcasts,
                services.texts,
                WorkerConfig(name=f"w{index}", batch_size=7),
                clock=lambda: T0,
            )
        )

    async def drain(worker: DeliveryWorker) -> None:
        for _ in range(1_000):
            if not await worker.run_once():
                return

    await asyncio.gather(*(drain(w) for w in workers))
    sent = [c.chat_id for api in apis for c in api.sent("sendMessage")]
    assert len(sent) == 300
    assert len(set(sent)) == 300, "no chat got its message twice"
    assert all(api.sent("sendMessage") for api in apis), "both workers took part"
    for app in apps:
        await app.shutdown()
    await dispose(services.sessions, services.readers)


async def test_broadcast_audiences_and_idempotent_enqueue(harness: Harness) -> None:
    sessions = harness.services.sessions
    await add_chats(sessions, 601, 602)  # subscribers
    await add_chats(sessions, 603, notices=False)  # partner contact, not subscribed
    await add_chats(sessions, 604, notices=False)  # neither
    async with sessions.begin() as session:
        from bot.db.models import Partner

        partner = Partner(name="Stadt Musterhausen", org_type="municipality")
        session.add(partner)
        await session.flush()
        session.add(PartnerContact(partner_id=partner.id, chat_id=603))
        session.add(PartnerContact(partner_id=partner.id, chat_id=601))
    service: BroadcastService = harness.services.broadcasts
    assert await service.count(AudienceFilter("subscribers")) == 2
    assert await service.count(AudienceFilter("partners")) == 2
    assert await service.count(AudienceFilter("all")) == 3
    broadcast = await service.schedule(
        created_by=1, text="Fachtag", recipients=AudienceFilter("all")
    )
    [started] = await service.start_due()
    assert started.recipients == 3
    assert await service.start_due() == [], "started once"
    async with sessions.begin() as session:
        again = await outbox.enqueue_broadcast(
            session, broadcast, footer={"de": "", "en": ""}, buttons={"de": [], "en": []}, now=T0
        )
    assert again == 0, "the same recipients are not added twice"


async def test_enqueue_recipients_in_sql_scales(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        session.add_all(
            Chat(chat_id=100_000 + i, kind="private", notices=True) for i in range(2_000)
        )
    service = BroadcastService(sessions, Texts.load(), clock=lambda: T0)
    await service.schedule(created_by=1, text="Hinweis", recipients=AudienceFilter("subscribers"))
    [started] = await service.start_due()
    assert started.recipients == 2_000
    async with sessions() as session:
        english = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert english == 2_000


async def test_rows_of_a_worker_whose_heartbeat_stopped_are_reclaimed_within_seconds(
    harness: Harness,
) -> None:
    """Two workers (SQLite and PostgreSQL): A claims and dies mid-batch; B takes A's rows over
    three heartbeats later, long before A's lease (60 s) runs out; A, only stalled and back,
    sends none of them."""
    clock = Clock()
    for i in range(5):
        await enqueue(harness, f"m{i}", 600 + i)
    a = make_worker(harness, clock, name="a", lease=timedelta(seconds=60))
    b = make_worker(harness, clock, name="b", lease=timedelta(seconds=60))
    await a.beat()
    await b.beat()
    async with harness.services.sessions.begin() as session:
        held = await outbox.claim_due(
            session, worker="a", now=clock(), limit=10, lease=timedelta(seconds=60)
        )
    assert len(held) == 5
    clock.advance(2)
    await a.beat()  # alive: nothing of it is taken
    assert await b.reclaim_orphaned() == 0
    clock.advance(5)  # A's last beat is 5 s old: not yet three heartbeats (6 s)
    await b.beat()
    assert await b.reclaim_orphaned() == 0
    clock.advance(2)  # 7 s: A is silent, B reclaims its rows; A's lease has 51 s left
    await b.beat()
    assert await b.reclaim_orphaned() == 5
    assert await b.run_once() == 5
    assert set((await statuses(harness)).values()) == {"sent"}
    assert len(harness.api.sent("sendMessage")) == 5

    await a.beat()  # A was only stalled: it comes back and checks before sending
    assert not any([await a.still_mine(row) for row in held])


async def test_a_worker_whose_own_beat_is_late_keeps_its_rows(harness: Harness) -> None:
    """On a loaded machine a worker's own heartbeat can be late; it must not declare itself
    dead and send its rows a second time (seen as 64 sends for 60 rows under load)."""
    clock = Clock()
    for i in range(3):
        await enqueue(harness, f"late{i}", 650 + i)
    b = make_worker(harness, clock, name="b", lease=timedelta(seconds=60))
    await b.beat()
    async with harness.services.sessions.begin() as session:
        held = await outbox.claim_due(
            session, worker="b", now=clock(), limit=10, lease=timedelta(seconds=60)
        )
    clock.advance(30)  # B's own beat is ten heartbeats late, but B is the one asking
    assert await b.reclaim_orphaned() == 0
    assert all([await b.still_mine(row) for row in held])
    other = make_worker(harness, clock, name="c", lease=timedelta(seconds=60))
    await other.beat()
    assert await other.reclaim_orphaned() == 3  # to anyone else, B is silent


async def test_rows_of_a_worker_that_never_beat_wait_for_their_lease(harness: Harness) -> None:
    clock = Clock()
    await enqueue(harness, "old", 700)
    async with harness.services.sessions.begin() as session:  # a worker of an older version
        await outbox.claim_due(session, worker="old", now=T0, limit=1, lease=timedelta(minutes=1))
    worker = make_worker(harness, clock)
    await worker.beat()
    clock.advance(30)
    assert await worker.reclaim_orphaned() == 0
    clock.advance(31)
    assert await worker.release_expired() == 1


async def test_a_worker_that_stops_cleanly_forgets_its_heartbeat(harness: Harness) -> None:
    stop = asyncio.Event()
    stop.set()
    worker = make_worker(harness, Clock())
    await worker.run(stop)
    async with harness.services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DeliveryWorkerBeat)) == 0


@pytest.mark.postgres
async def test_two_running_workers_on_postgresql_one_killed_the_other_finishes_its_rows(
    settings: Settings, search_engine: SearchEngine
) -> None:
    """Both run their real loops; A's sends hang (a frozen process) and then A is killed
    (its heartbeat ends, nothing is cleaned up); B delivers everything, A's rows included,
    within seconds although A's lease runs for five minutes."""
    services = await postgres_with_due_rows(settings, search_engine, 60, first_chat=20_000)

    frozen, healthy = HangingBotApi(), OfflineBotApi()
    apps = [build_application(services, request=api, rate_limit=False) for api in (frozen, healthy)]
    for app in apps:
        await app.initialize()
    a, b = (
        DeliveryWorker(
            app.bot,
            services.sessions,
            services.broadcasts,
            services.texts,
            WorkerConfig(
                name=name,
                batch_size=10,
                lease=timedelta(minutes=5),
                heartbeat=timedelta(seconds=0.1),
                stale_after=timedelta(seconds=0.5),
            ),
        )
        for name, app in zip(("a", "b"), apps, strict=True)
    )
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    run_a = asyncio.create_task(a.run(stop_a))
    await asyncio.wait_for(frozen.first_send.wait(), 10)  # A holds a batch, sends hang
    run_a.cancel()  # kill -9: no clean stop, A's rows stay "sending" under a 5-minute lease
    for task in list(a._tasks):
        task.cancel()
    await asyncio.gather(run_a, *a._tasks, return_exceptions=True)
    async with services.sessions() as session:
        held = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.worker == "a")
        )
    assert held == 10, "A died holding a batch"
    run_b = asyncio.create_task(b.run(stop_b))
    async with asyncio.timeout(20):
        while True:
            async with services.sessions() as session:
                left = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status != "sent")
                )
            if not left:
                break
            await asyncio.sleep(0.1)
    stop_b.set()
    await run_b
    sent = [int(c.params["chat_id"]) for c in healthy.sent("sendMessage")]
    assert sorted(set(sent)) == [20_000 + i for i in range(60)], "nothing lost"
    assert len(sent) == 60
    for app in apps:
        await app.shutdown()
    await dispose(services.sessions, services.readers)


class HangingBotApi(OfflineBotApi):
    """A Bot API whose sendMessage never answers (the process froze mid-send)."""

    def __init__(self) -> None:
        super().__init__()
        self.first_send = asyncio.Event()

    async def before(self, method: str) -> None:
        """Hang on sendMessage; answer everything else."""
        if method == "sendMessage":
            self.first_send.set()
            await asyncio.Event().wait()


class MeanwhileBotApi(OfflineBotApi):
    """A Bot API that runs `meanwhile` once, while the first sendMessage is on its way."""

    def __init__(self, meanwhile: Callable[[], Awaitable[None]]) -> None:
        super().__init__()
        self._meanwhile: Callable[[], Awaitable[None]] | None = meanwhile

    async def before(self, method: str) -> None:
        """The first sendMessage waits for `meanwhile`."""
        if method == "sendMessage" and self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            await meanwhile()


async def test_a_row_cancelled_while_it_waits_in_its_batch_is_not_sent(harness: Harness) -> None:
    async with harness.services.sessions.begin() as session:
        session.add_all(Chat(chat_id=chat, kind="private", notices=True) for chat in (501, 502))
    broadcasts = harness.services.broadcasts
    broadcast = await broadcasts.schedule(
        created_by=1, text="x", recipients=AudienceFilter("subscribers")
    )
    await broadcasts.start_due()
    now = [datetime.now(UTC)]

    async def cancel_and_stall() -> None:
        await broadcasts.cancel(broadcast_id=broadcast.id)
        now[0] += timedelta(seconds=60)  # the other row waits longer than a third of the lease

    api = MeanwhileBotApi(cancel_and_stall)
    # One message at a time: the second row of the batch waits while the first is sent.
    config = WorkerConfig(name="w", in_flight=1, lease=timedelta(minutes=2))
    async with build_application(harness.services, request=api, rate_limit=False) as app:
        worker = DeliveryWorker(
            app.bot,
            harness.services.sessions,
            broadcasts,
            harness.services.texts,
            config,
            clock=lambda: now[0],
        )
        assert await worker.run_once() == 2
        now[0] += timedelta(seconds=5)
        assert await worker.run_once() == 0, "not retried either"
    [first] = [c.chat_id for c in api.sent("sendMessage")]
    [waiting] = {501, 502} - {first}
    async with harness.services.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.chat_id == waiting))
    assert row is not None and row.status == "cancelled"
