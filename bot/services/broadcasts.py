"""Event notices from coordinators: schedule, start (enqueue recipients), cancel, report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import broadcasts as queries
from bot.db import outbox
from bot.db.models import Audience as Audience  # re-exported: the vocabulary handlers use
from bot.db.models import Broadcast, utcnow
from bot.db.models import BroadcastStatus as BroadcastStatus  # re-exported likewise
from bot.db.outbox import Buttons, Progress
from bot.texts import Texts

AUDIENCES: tuple[str, ...] = tuple(Audience)
# Broadcasts that can still be cancelled.
OPEN_STATUSES = (BroadcastStatus.SCHEDULED, BroadcastStatus.RUNNING)
UNSUBSCRIBE = "unsub"
KIND = "broadcast"


class AlreadyScheduled(Exception):
    """A broadcast with this key exists already (the button was pressed twice)."""


@dataclass(frozen=True, slots=True)
class Preview:
    """A notice exactly as one recipient will see it."""

    text: str
    buttons: Buttons


class BroadcastService:
    """Everything about broadcasts that is not Telegram."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        texts: Texts,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._texts = texts
        self._clock = clock

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

    async def count(
        self,
        *,
        audience: str,
        language: str | None = None,
        partner_type: str | None = None,
        region: str | None = None,
    ) -> int:
        """Recipients the audience has right now."""
        async with self._sessions() as session:
            return await outbox.count_audience(
                session,
                audience=audience,
                language=language,
                partner_type=partner_type,
                region=region,
            )

    async def schedule(
        self,
        *,
        created_by: int,
        text: str,
        audience: str,
        language: str | None = None,
        partner_type: str | None = None,
        region: str | None = None,
        send_at: datetime | None = None,
        report_chat_id: int | None = None,
        key: str | None = None,
    ) -> Broadcast:
        """Create a broadcast; the delivery worker starts it at `send_at` (default: now).

        With a `key` (where the request came from, e.g. "meeting:7") a second request raises
        AlreadyScheduled instead of sending the notice twice.
        """
        if audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}")
        if not text.strip():
            raise ValueError("the notice is empty")
        now = self._clock()
        async with self._sessions.begin() as session:
            broadcast = await queries.create_broadcast(
                session,
                created_by=created_by,
                text=text,
                audience=audience,
                language=language,
                partner_type=partner_type,
                region=region,
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

    async def cancel(self, *, broadcast_id: int) -> Progress | None:
        """Stop a scheduled or running broadcast; None if it was not cancellable."""
        now = self._clock()
        async with self._sessions.begin() as session:
            changed = await queries.set_status(
                session,
                broadcast_id=broadcast_id,
                status=BroadcastStatus.CANCELLED,
                finished_at=now,
                from_status=OPEN_STATUSES,
            )
            if not changed:
                return None
            await outbox.cancel_pending(session, kind=KIND, ref_id=broadcast_id)
            return await outbox.progress(session, kind=KIND, ref_id=broadcast_id)

    async def progress(self, *, broadcast_id: int) -> Progress:
        """Delivery counts so far."""
        async with self._sessions() as session:
            return await outbox.progress(session, kind=KIND, ref_id=broadcast_id)

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
