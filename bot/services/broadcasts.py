"""Event notices from coordinators: schedule, start (enqueue recipients), cancel, report."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import broadcasts as queries
from bot.db import outbox
from bot.db.models import Audience as Audience  # re-exported: the vocabulary handlers use
from bot.db.models import Broadcast, utcnow
from bot.db.models import BroadcastStatus as BroadcastStatus  # re-exported likewise
from bot.db.outbox import Buttons, Progress
from bot.services.base import Clock, Service, Sessions
from bot.texts import Texts

AUDIENCES: tuple[str, ...] = tuple(Audience)
# Broadcasts that can still be cancelled.
OPEN_STATUSES = (BroadcastStatus.SCHEDULED, BroadcastStatus.RUNNING)
UNSUBSCRIBE = "unsub"
KIND = "broadcast"
# How long "send the rest" stays possible after a cancellation.
UNDO_WINDOW = timedelta(hours=1)
# A notice's length as readers see it (texts.visible_length): leaves room for the unsubscribe
# footer within Telegram's 4,096; /broadcast and `broadcast send` refuse longer ones.
MAX_TEXT = 3800


@dataclass(frozen=True, slots=True)
class AudienceFilter:
    """Who a notice goes to: an audience, narrowed by language, partner type and region
    (None: any). Travels unchanged from the /broadcast draft or the CLI to the query."""

    audience: str
    language: str | None = None
    partner_type: str | None = None
    region: str | None = None

    @classmethod
    def of(cls, broadcast: Broadcast) -> AudienceFilter:
        """The filter a stored broadcast was scheduled with."""
        return cls(broadcast.audience, broadcast.language, broadcast.partner_type, broadcast.region)


class AlreadyScheduled(Exception):
    """A broadcast with this key exists already (the button was pressed twice)."""


@dataclass(frozen=True, slots=True)
class Preview:
    """A notice exactly as one recipient will see it."""

    text: str
    buttons: Buttons


class BroadcastService(Service):
    """Everything about broadcasts that is not Telegram."""

    def __init__(self, sessions: Sessions, texts: Texts, clock: Clock = utcnow) -> None:
        super().__init__(sessions, clock=clock)
        self._texts = texts

    def footer(self, lang: str) -> str:
        """The unsubscribe note under every notice."""
        return "\n\n" + self._texts.get(lang, "broadcast.footer")

    def buttons(self, lang: str) -> Buttons:
        """The unsubscribe button under every notice."""
        return [
            [{"text": self._texts.get(lang, "broadcast.unsubscribe_button"), "data": UNSUBSCRIBE}]
        ]

    def preview(self, text: str, lang: str) -> Preview:
        """The notice with footer and button, as a recipient with language `lang` sees it."""
        return Preview(text=text + self.footer(lang), buttons=self.buttons(lang))

    async def count(self, recipients: AudienceFilter) -> int:
        """Recipients the audience has right now."""
        async with self._sessions() as session:
            return await _count(session, recipients)

    async def schedule(
        self,
        *,
        created_by: int,
        text: str,
        recipients: AudienceFilter,
        send_at: datetime | None = None,
        report_chat_id: int | None = None,
        key: str | None = None,
    ) -> Broadcast:
        """Create a broadcast; the delivery worker starts it at `send_at` (default: now).

        With a `key` (where the request came from, e.g. "meeting:7") a second request raises
        AlreadyScheduled instead of sending the notice twice.
        """
        if recipients.audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}")
        if not text.strip():
            raise ValueError("the notice is empty")
        now = self._clock()
        async with self._sessions.begin() as session:
            broadcast = await queries.create_broadcast(
                session,
                created_by=created_by,
                text=text,
                audience=recipients.audience,
                language=recipients.language,
                partner_type=recipients.partner_type,
                region=recipients.region,
                send_at=send_at or now,
                report_chat_id=report_chat_id,
                now=now,
                key=key,
            )
            if broadcast is None:
                raise AlreadyScheduled(key)
            return broadcast

    async def start_due(self) -> list[Broadcast]:
        """Enqueue the recipients of every broadcast whose time has come; mark them running."""
        now = self._clock()
        started: list[Broadcast] = []
        async with self._sessions.begin() as session:
            for broadcast in await queries.due_broadcasts(session, now=now):
                added = await outbox.enqueue_broadcast(
                    session,
                    broadcast,
                    footer={lang: self.footer(lang) for lang in ("de", "en")},
                    buttons={lang: self.buttons(lang) for lang in ("de", "en")},
                    now=now,
                )
                broadcast.status = BroadcastStatus.RUNNING
                broadcast.recipients = added
                started.append(broadcast)
        return started

    async def _state(self, session: AsyncSession, broadcast: Broadcast) -> Progress:
        """Delivery counts; a broadcast not started yet has no rows: its whole audience as
        it is now is still to be sent (this was the "nicht mehr gesendet: 0" for a notice
        cancelled before the worker started it)."""
        state = await outbox.progress(session, kind=KIND, ref_id=broadcast.id)
        if state.total or broadcast.status != BroadcastStatus.SCHEDULED:
            return state
        audience = await _count(session, AudienceFilter.of(broadcast))
        return Progress(total=audience, pending=audience, sent=0, blocked=0, failed=0, cancelled=0)

    async def outlook(self, *, broadcast_id: int) -> tuple[Broadcast, Progress] | None:
        """A cancellable broadcast and what cancelling it would stop; None if it is not."""
        async with self._sessions() as session:
            broadcast = await queries.get_broadcast(session, broadcast_id=broadcast_id)
            if broadcast is None or broadcast.status not in OPEN_STATUSES:
                return None
            return broadcast, await self._state(session, broadcast)

    async def cancel(self, *, broadcast_id: int) -> Progress | None:
        """Stop a scheduled or running broadcast; None if it was not cancellable. `cancelled`
        counts what will not be sent: the stopped messages, or a scheduled notice's audience."""
        now = self._clock()
        async with self._sessions.begin() as session:
            broadcast = await queries.get_broadcast(session, broadcast_id=broadcast_id)
            if broadcast is None:
                return None
            before = await self._state(session, broadcast)
            changed = await queries.set_status(
                session,
                broadcast_id=broadcast_id,
                status=BroadcastStatus.CANCELLED,
                finished_at=now,
                from_status=OPEN_STATUSES,
            )
            if not changed:
                return None
            stopped = await outbox.cancel_pending(session, kind=KIND, ref_id=broadcast_id)
            state = await outbox.progress(session, kind=KIND, ref_id=broadcast_id)
            if not state.total:  # not started: nothing was queued, its audience is spared
                return replace(before, pending=0, cancelled=before.pending)
            return replace(state, cancelled=stopped)

    async def resume(self, *, broadcast_id: int) -> tuple[Broadcast, int] | None:
        """Undo a cancellation: the messages it stopped are sent after all (a notice that had
        not started waits for its time again, or starts now); the broadcast and how many
        messages are due. None if it is not cancelled (a double tap) or was cancelled longer
        than `UNDO_WINDOW` ago."""
        now = self._clock()
        async with self._sessions.begin() as session:
            broadcast = await queries.get_broadcast(session, broadcast_id=broadcast_id)
            if broadcast is None or self.undo_expired(broadcast):
                return None
            started = (await outbox.progress(session, kind=KIND, ref_id=broadcast_id)).total > 0
            status = BroadcastStatus.RUNNING if started else BroadcastStatus.SCHEDULED
            if not await queries.reopen(session, broadcast_id=broadcast_id, status=status):
                return None
            await session.refresh(broadcast)
            if started:
                due = await outbox.resume_cancelled(
                    session, kind=KIND, ref_id=broadcast_id, now=now
                )
            else:
                due = (await self._state(session, broadcast)).pending
            return broadcast, due

    def undo_expired(self, broadcast: Broadcast) -> bool:
        """Whether a cancellation is too old to undo: a notice held back for longer may be
        out of date (the event moved, the deadline passed); better write it anew. A notice
        planned for a time still ahead can always be put back on its date."""
        now = self._clock()
        cancelled_at = broadcast.finished_at
        return (
            broadcast.status == BroadcastStatus.CANCELLED
            and cancelled_at is not None
            and now - cancelled_at > UNDO_WINDOW
            and broadcast.send_at <= now
        )

    async def progress(self, *, broadcast_id: int) -> Progress:
        """Delivery counts so far (for a notice not started yet: its audience, all pending)."""
        async with self._sessions() as session:
            broadcast = await queries.get_broadcast(session, broadcast_id=broadcast_id)
            if broadcast is None:
                return await outbox.progress(session, kind=KIND, ref_id=broadcast_id)
            return await self._state(session, broadcast)

    async def finish_if_done(self, *, broadcast_id: int) -> bool:
        """Mark a running broadcast done when nothing is left to send; True the one time it is."""
        async with self._sessions.begin() as session:
            state = await outbox.progress(session, kind=KIND, ref_id=broadcast_id)
            if not state.done:
                return False
            return await queries.set_status(
                session,
                broadcast_id=broadcast_id,
                status=BroadcastStatus.DONE,
                finished_at=self._clock(),
                from_status=(BroadcastStatus.RUNNING,),
            )

    async def get(self, *, broadcast_id: int) -> Broadcast | None:
        """One broadcast."""
        async with self._sessions() as session:
            return await queries.get_broadcast(session, broadcast_id=broadcast_id)

    async def recent(self, *, limit: int = 10) -> list[Broadcast]:
        """The newest broadcasts."""
        async with self._sessions() as session:
            return list(await queries.recent_broadcasts(session, limit=limit))

    async def running(self) -> list[Broadcast]:
        """Broadcasts being delivered."""
        async with self._sessions() as session:
            return list(await queries.running_broadcasts(session))

    async def remember_progress_message(
        self, *, broadcast_id: int, chat_id: int, message_id: int
    ) -> None:
        """Where to show progress."""
        async with self._sessions.begin() as session:
            await queries.set_progress_message(
                session, broadcast_id=broadcast_id, chat_id=chat_id, message_id=message_id
            )


async def _count(session: AsyncSession, recipients: AudienceFilter) -> int:
    """How many chats the filter reaches now."""
    return await outbox.count_audience(
        session,
        audience=recipients.audience,
        language=recipients.language,
        partner_type=recipients.partner_type,
        region=recipients.region,
    )
