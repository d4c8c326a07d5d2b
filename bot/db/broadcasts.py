"""Query functions for broadcasts (the notices themselves; recipients live in the outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Broadcast, BroadcastStatus
from bot.db.upsert import insert_missing


async def create_broadcast(
    session: AsyncSession,
    *,
    created_by: int,
    text: str,
    audience: str,
    language: str | None,
    partner_type: str | None = None,
    region: str | None = None,
    send_at: datetime,
    report_chat_id: int | None,
    now: datetime,
    key: str | None = None,
) -> Broadcast | None:
    """A scheduled broadcast; the worker starts it at `send_at`. With a `key`: None if a
    broadcast with that key exists already (the request came twice)."""
    values = {
        "key": key,
        "created_by": created_by,
        "text": text,
        "audience": audience,
        "language": language,
        "partner_type": partner_type,
        "region": region,
        "status": BroadcastStatus.SCHEDULED,
        "send_at": send_at,
        "report_chat_id": report_chat_id,
        "created_at": now,
    }
    if key is None:
        broadcast = Broadcast(**values)
        session.add(broadcast)
        await session.flush()
        return broadcast
    if not await insert_missing(session, Broadcast, key=("key",), values=values):
        return None
    return await session.scalar(select(Broadcast).where(Broadcast.key == key))


async def get_broadcast(session: AsyncSession, *, broadcast_id: int) -> Broadcast | None:
    """One broadcast."""
    return await session.get(Broadcast, broadcast_id)


async def recent_broadcasts(session: AsyncSession, *, limit: int = 10) -> Sequence[Broadcast]:
    """Newest first."""
    rows = await session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit))
    return rows.all()


async def due_broadcasts(session: AsyncSession, *, now: datetime) -> Sequence[Broadcast]:
    """Scheduled broadcasts whose time has come, locked for this worker on PostgreSQL."""
    rows = await session.scalars(
        select(Broadcast)
        .where(Broadcast.status == BroadcastStatus.SCHEDULED, Broadcast.send_at <= now)
        .order_by(Broadcast.send_at)
        .with_for_update(skip_locked=True)
    )
    return rows.all()


async def running_broadcasts(session: AsyncSession) -> Sequence[Broadcast]:
    """Broadcasts being delivered."""
    rows = await session.scalars(
        select(Broadcast).where(Broadcast.status == BroadcastStatus.RUNNING)
    )
    return rows.all()


async def set_status(
    session: AsyncSession,
    *,
    broadcast_id: int,
    status: str,
    finished_at: datetime | None = None,
    from_status: tuple[str, ...] | None = None,
) -> bool:
    """Change the status (only from `from_status`, when given); False if nothing changed."""
    statement = update(Broadcast).where(Broadcast.id == broadcast_id)
    if from_status:
        statement = statement.where(Broadcast.status.in_(from_status))
    values: dict[str, object] = {"status": status}
    if finished_at is not None:
        values["finished_at"] = finished_at
    result = await session.execute(statement.values(**values))
    return bool(getattr(result, "rowcount", 0))


async def reopen(session: AsyncSession, *, broadcast_id: int, status: str) -> bool:
    """A cancelled broadcast runs (or waits for its time) again; False if it was not
    cancelled (a double tap, or never cancelled)."""
    result = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.CANCELLED)
        .values(status=status, finished_at=None)
    )
    return bool(getattr(result, "rowcount", 0))


async def set_progress_message(
    session: AsyncSession, *, broadcast_id: int, chat_id: int, message_id: int
) -> None:
    """Where the coordinator's progress message is."""
    await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .values(report_chat_id=chat_id, progress_message_id=message_id)
    )
