"""The delivery worker: the one place that sends proactive messages (outbox → Telegram).

It claims due outbox rows in batches, sends them within the flood limits (through the pacer
that interactive replies share, with priority for those), and records every outcome:
RetryAfter → everyone waits as told, then the row is retried; Forbidden → the chat is marked
inactive and gets nothing more; ChatMigrated → the stored chat id moves and the row is retried;
any other BadRequest → failed with the reason; timeouts and network errors → retried with
exponential backoff up to a limit, then failed. A text too long for its file's caption goes
as two messages; once the text is out, retries send only the file, and a file that fails for
good leaves the row delivered (the text's id; a warning is logged). A row past its
`expires_at` (a reminder no longer true, e.g. after downtime) is never sent: it is marked
expired, and the count is logged.

Crash policy: rows a crashed worker left in `sending` are released — "resend" (default: due
again, so only messages that were in flight can arrive twice) or "unknown" (a coordinator
decides). Every worker writes a heartbeat every `heartbeat` (2 s); the rows of a worker that has
not beaten for `stale_after` (6 s) are released by any other worker, or by the restarted one,
without waiting for their lease; rows of a worker that never beat wait for their lease.
A worker whose own heartbeat lapsed re-checks each row it still holds before sending it, so a
worker that was only stalled never sends a row that was handed to another meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.db import outbox
from bot.db.models import OutboxMessage, utcnow
from bot.services.broadcasts import BroadcastService
from bot.services.pacing import Pacer
from bot.texts import CAPTION_LIMIT, Texts, visible_length

logger = logging.getLogger(__name__)

_PACED_PREFIXES = ("send", "edit", "copyMessage", "forwardMessage")


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter's wait in seconds (an int or a timedelta, depending on the PTB version)."""
    with warnings.catch_warnings():
        # PTB 22 announces that this becomes a timedelta; we accept both already.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PacedRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """python-telegram-bot's rate-limiter hook, backed by our Pacer.

    Calls made with `rate_limit_args={"bulk": True}` are bulk (the worker); everything else is
    interactive and goes first.
    """

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for a slot, send, and on RetryAfter make every sender wait."""
        if not endpoint.startswith(_PACED_PREFIXES):
            return await callback(*args, **kwargs)
        bulk = bool(rate_limit_args and rate_limit_args.get("bulk"))
        chat = data.get("chat_id")
        chat_id = (
            int(chat) if isinstance(chat, int | str) and str(chat).lstrip("-").isdigit() else None
        )
        await self.pacer.acquire(bulk=bulk, chat_id=chat_id)
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as error:
            self.pacer.pause(retry_seconds(error))
            if bulk:
                raise  # the worker reschedules the row
            await self.pacer.acquire(bulk=False)
            return await callback(*args, **kwargs)


def keyboard(buttons: str | list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """Inline buttons from the outbox's form (its JSON text, or the list itself)."""
    if not buttons:
        return None
    rows = json.loads(buttons) if isinstance(buttons, str) else buttons
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b["text"], url=b["url"])
                if "url" in b
                else InlineKeyboardButton(b["text"], callback_data=b["data"])
                for b in row
            ]
            for row in rows
        ]
    )


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How the worker claims and retries."""

    name: str = field(default_factory=lambda: f"worker-{uuid.uuid4().hex[:8]}")
    batch_size: int = 100
    in_flight: int = 8
    lease: timedelta = timedelta(minutes=2)
    max_attempts: int = 5
    backoff_seconds: float = 5.0
    idle_poll_seconds: float = 1.0
    crash_policy: str = "resend"  # or "unknown"
    shared_budget: bool = False  # PostgreSQL: one flood budget across worker processes
    budget_per_second: float = 28.0
    progress_every_seconds: float = 3.0
    heartbeat: timedelta = timedelta(seconds=2)
    stale_after: timedelta = timedelta(seconds=6)  # no heartbeat for this long: crashed


class DeliveryWorker:
    """Claims due outbox rows and delivers them; also starts due broadcasts and reports."""

    def __init__(
        self,
        bot: Bot,
        sessions: async_sessionmaker[AsyncSession],
        broadcasts: BroadcastService,
        texts: Texts,
        config: WorkerConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.broadcasts = broadcasts
        self.texts = texts
        self.config = config or WorkerConfig()
        self.clock = clock
        self._last_progress: dict[int, float] = {}
        self._in_flight = asyncio.Semaphore(self.config.in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self.wake = wake or asyncio.Event()
        # Bulk sends go behind interactive replies when the bot has our rate limiter.
        self._bulk: dict[str, Any] = (
            {"rate_limit_args": {"bulk": True}} if getattr(bot, "rate_limiter", None) else {}
        )
        self._last_beat: datetime | None = None
        # Rows claimed before this moment were held across a lapse of our own heartbeat.
        self._lapse_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; rows of a crashed predecessor are released first."""
        await self.beat()  # registered before the first claim
        await self.release_expired()
        await self.reclaim_orphaned()
        beating = asyncio.create_task(self._beat_until(stop), name="delivery-heartbeat")
        logger.info("delivery worker %s started", self.config.name)
        try:
            await self._deliver_until(stop)
        finally:
            # Also when cancelled: a worker that is gone must stop saying it is alive.
            beating.cancel()
        await self.drain()
        async with self.sessions.begin() as session:
            await outbox.forget_worker(session, worker=self.config.name)
        logger.info("delivery worker %s stopped", self.config.name)

    async def _deliver_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.broadcasts.start_due()
                handled = await self.run_once(wait=False)
                await self.report_progress()
                if handled:
                    continue
                await self.drain()
                await self.release_expired()
            except Exception:
                logger.exception("delivery worker %s: error in the loop", self.config.name)
            self.wake.clear()
            waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self.wake.wait())]
            await asyncio.wait(
                waiters, timeout=self.config.idle_poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()

    async def _beat_until(self, stop: asyncio.Event) -> None:
        """Heartbeat, and release the rows of silent workers, until `stop` is set. Runs beside
        the delivery loop, so a long batch or a flood-control wait never looks like a crash."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.heartbeat.total_seconds())
            if stop.is_set():
                return
            try:
                await self.beat()
                if await self.reclaim_orphaned():
                    self.wake.set()
            except Exception:
                logger.exception("delivery worker %s: heartbeat failed", self.config.name)

    async def beat(self) -> None:
        """Tell the other workers this one is alive."""
        async with self.sessions.begin() as session:
            await outbox.heartbeat(session, worker=self.config.name, now=self.clock())
        now = self.clock()
        if self._last_beat is None or now - self._last_beat >= self.config.stale_after / 2:
            self._lapse_at = now
        self._last_beat = now

    async def reclaim_orphaned(self) -> int:
        """Apply the crash policy to the rows of workers whose heartbeat stopped."""
        async with self.sessions.begin() as session:
            released = await outbox.release_orphaned(
                session,
                now=self.clock(),
                stale_after=self.config.stale_after,
                caller=self.config.name,
                policy=self.config.crash_policy,
            )
        if released:
            logger.warning(
                "released %d outbox rows of a worker whose heartbeat stopped (%s)",
                released,
                self.config.crash_policy,
            )
        return released

    async def release_expired(self) -> int:
        """Apply the crash policy to rows whose lease ran out."""
        async with self.sessions.begin() as session:
            released = await outbox.release_expired(
                session, now=self.clock(), policy=self.config.crash_policy
            )
        if released:
            logger.warning(
                "released %d outbox rows left in flight (%s)", released, self.config.crash_policy
            )
        return released

    async def run_once(self, *, wait: bool = True) -> int:
        """Claim one batch and deliver it; returns how many rows were claimed.

        With `wait=False` it returns as soon as the batch's last message has started, so the
        next batch is claimed while the last answers are still on their way (no gap in pacing);
        `drain()` waits for those.
        """
        now = self.clock()
        async with self.sessions.begin() as session:
            expired = await outbox.expire_stale(session, now=now)
            rows = await outbox.claim_due(
                session,
                worker=self.config.name,
                now=now,
                limit=self.config.batch_size,
                lease=self.config.lease,
            )
        if expired:
            self._log_dropped(expired)
        if not rows:
            return 0
        for row in rows:
            await self._in_flight.acquire()
            task = asyncio.create_task(self._deliver_released(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if wait:
            await self.drain()
        return len(rows)

    async def _deliver_released(self, row: OutboxMessage) -> None:
        try:
            await self._deliver(row)
        finally:
            self._in_flight.release()

    async def drain(self) -> None:
        """Wait until every message that was started has its outcome recorded."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _wait_for_budget(self) -> None:
        if not self.config.shared_budget:
            return
        now = self.clock()
        async with self.sessions.begin() as session:
            start = await outbox.reserve_slots(
                session,
                name="default",
                count=1,
                interval=1 / self.config.budget_per_second,
                now=now,
            )
        delay = (start - now).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _send(self, row: OutboxMessage) -> int:
        """Send the row; Telegram's id of its (first) message, which a reply names.

        A text too long for its file's caption goes first, on its own; its id is stored at
        once (`row.delivered_message_id`), so a retry after the file failed sends only the
        file: a person gets each row once."""
        markup = keyboard(row.buttons)
        bulk = self._bulk
        if row.attachment is not None and visible_length(row.text) <= CAPTION_LIMIT:
            document = await self.bot.send_document(
                row.chat_id,
                InputFile(row.attachment.encode(), filename=row.attachment_name or "file.txt"),
                caption=row.text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                **bulk,
            )
            return document.message_id
        if row.delivered_message_id is None:
            sent = await self.bot.send_message(
                row.chat_id,
                row.text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                disable_web_page_preview=True,
                **bulk,
            )
            row.delivered_message_id = sent.message_id
            if row.attachment is not None:
                async with self.sessions.begin() as session:
                    await outbox.mark_text_sent(
                        session,
                        message_id=row.id,
                        delivered_message_id=sent.message_id,
                        worker=self.config.name,
                    )
        if row.attachment is not None:
            await self.bot.send_document(
                row.chat_id,
                InputFile(row.attachment.encode(), filename=row.attachment_name or "file.txt"),
                **bulk,
            )
        return row.delivered_message_id

    async def _deliver(self, row: OutboxMessage) -> None:
        me = self.config.name
        try:
            await self._wait_for_budget()
            if not await self.still_mine(row):
                return  # cancelled meanwhile, or another worker took it over after a stall
            if row.expires_at is not None and self.clock() >= row.expires_at:
                await self._drop(row)  # its moment passed while it waited in the batch
                return
            delivered = await self._send(row)
        except RetryAfter as error:
            wait = retry_seconds(error)
            until = self.clock() + timedelta(seconds=wait)
            async with self.sessions.begin() as session:
                if self.config.shared_budget:
                    await outbox.pause_budget(session, name="default", until=until)
                await outbox.mark_retry(
                    session,
                    message_id=row.id,
                    at=until,
                    error=f"RetryAfter {wait:g}s",
                    worker=me,
                    count_attempt=False,
                )
            return
        except Forbidden as error:
            async with self.sessions.begin() as session:
                # Every answer of the office still on its way to this person stops here: each
                # of those hand-overs' offices learns it (read before the rows are stopped).
                stopped = await outbox.open_refs(
                    session, chat_id=row.chat_id, kind=outbox.RELAY_KIND
                )
                if row.kind == outbox.RELAY_KIND and row.ref_id is not None:
                    stopped = sorted({*stopped, row.ref_id})
                await outbox.mark_chat_blocked(session, chat_id=row.chat_id, error=error.message)
                for handover_id in stopped:
                    await self._reply_undeliverable(session, handover_id=handover_id)
            return
        except ChatMigrated as error:
            async with self.sessions.begin() as session:
                await outbox.move_chat(
                    session, old_chat_id=row.chat_id, new_chat_id=error.new_chat_id
                )
                await outbox.mark_retry(
                    session, message_id=row.id, at=self.clock(), error="chat migrated", worker=me
                )
            return
        except BadRequest as error:
            await self._give_up(row, error.message)
            return
        except (NetworkError, TelegramError) as error:
            await self._retry_later(row, error.__class__.__name__)
            return
        async with self.sessions.begin() as session:
            await outbox.mark_sent(
                session,
                message_id=row.id,
                now=self.clock(),
                worker=me,
                delivered_message_id=delivered,
            )

    async def _drop(self, row: OutboxMessage) -> None:
        """A claimed row that is no longer true: expired, never sent."""
        async with self.sessions.begin() as session:
            dropped = await outbox.mark_expired(session, message_id=row.id, worker=self.config.name)
        if dropped:
            self._log_dropped(1)

    def _log_dropped(self, count: int) -> None:
        logger.info(
            "dropped %d outbox messages no longer true when due (a reminder's day or its "
            "meeting's start had passed, e.g. after downtime)",
            count,
        )

    async def _reply_undeliverable(self, session: AsyncSession, *, handover_id: int) -> None:
        """The office answered a handed-over question, but the asker has blocked the bot (or
        left Telegram) since: the chats that received the question learn it, so nobody thinks
        the answer arrived. Sent as an addition to the hand-over (a reply to it is routed like
        one)."""
        await outbox.enqueue_each(
            session,
            key=f"handover:{handover_id}:undeliverable",
            chat_ids=await outbox.recipients(
                session, kind=outbox.HANDOVER_KIND, ref_id=handover_id
            ),
            kind=outbox.FOLLOWUP_KIND,
            ref_id=handover_id,
            text=self.texts.get("de", "handover.reply_undeliverable", number=handover_id),
            priority=2,
            now=self.clock(),
        )

    async def still_mine(self, row: OutboxMessage) -> bool:
        """Whether this worker may still send the row. A row claimed moments ago is (no query:
        that keeps the hot path to one write per message); one that waited in the batch for a
        third of the lease or longer, or that was held while this worker's heartbeat lapsed
        (others may have taken it over), is re-checked and its lease extended, so a long stall
        never leads two workers to send it, and a row cancelled meanwhile is not sent."""
        now = self.clock()
        claimed_at = (row.lease_until or now) - self.config.lease
        beating = self._last_beat is None or (
            now - self._last_beat < self.config.stale_after / 2
            and (self._lapse_at is None or claimed_at >= self._lapse_at)
        )
        if now - claimed_at < self.config.lease / 3 and beating:
            return True
        async with self.sessions.begin() as session:
            return await outbox.touch_lease(
                session, message_id=row.id, worker=self.config.name, until=now + self.config.lease
            )

    async def _give_up(self, row: OutboxMessage, reason: str) -> None:
        """Failed for good; but a row whose text went out before its file failed is delivered
        (the text is what a reply names; sending it again would repeat it)."""
        async with self.sessions.begin() as session:
            if row.delivered_message_id is None:
                await outbox.mark_failed(
                    session, message_id=row.id, error=reason, worker=self.config.name
                )
                return
            await outbox.mark_sent(
                session,
                message_id=row.id,
                now=self.clock(),
                worker=self.config.name,
                delivered_message_id=row.delivered_message_id,
            )
        logger.warning(
            "outbox row %d: its text went out, its file did not (%s); counted as delivered",
            row.id,
            reason,
        )

    async def _retry_later(self, row: OutboxMessage, reason: str) -> None:
        if row.attempts >= self.config.max_attempts:
            await self._give_up(row, f"{reason} after {row.attempts} attempts")
            return
        async with self.sessions.begin() as session:
            delay = self.config.backoff_seconds * 2 ** (row.attempts - 1)
            await outbox.mark_retry(
                session,
                message_id=row.id,
                at=self.clock() + timedelta(seconds=delay),
                error=reason,
                worker=self.config.name,
            )

    async def report_progress(self, *, force: bool = False) -> None:
        """Update each running broadcast's progress message; send the final report when done."""
        loop_time = asyncio.get_running_loop().time()
        for broadcast in await self.broadcasts.running():
            finished = await self.broadcasts.finish_if_done(broadcast_id=broadcast.id)
            last = self._last_progress.get(broadcast.id, 0.0)
            if not finished and not force and loop_time - last < self.config.progress_every_seconds:
                continue
            self._last_progress[broadcast.id] = loop_time
            state = await self.broadcasts.progress(broadcast_id=broadcast.id)
            if broadcast.report_chat_id is None:
                continue
            text = self.texts.get(
                "de",
                "broadcast.report" if finished else "broadcast.progress",
                number=broadcast.id,
                sent=state.sent,
                pending=state.pending,
                blocked=state.blocked,
                failed=state.failed,
                total=state.total,
            )
            if finished:
                # The report goes through the outbox: sent once, even if editing fails below.
                async with self.sessions.begin() as session:
                    await outbox.enqueue(
                        session,
                        key=f"broadcast:{broadcast.id}:report",
                        chat_id=broadcast.report_chat_id,
                        kind="notification",
                        text=text,
                        priority=2,
                        now=self.clock(),
                    )
                self.wake.set()
            try:
                if broadcast.progress_message_id is not None:
                    await self.bot.edit_message_text(
                        text,
                        chat_id=broadcast.report_chat_id,
                        message_id=broadcast.progress_message_id,
                        parse_mode=ParseMode.HTML,
                    )
            except TelegramError as error:
                # "message is not modified" and the like: progress is cosmetic.
                logger.debug(
                    "progress update for broadcast %s: %s", broadcast.id, error.__class__.__name__
                )
