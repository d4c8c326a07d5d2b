"""Query functions for network meetings and the answers to their invitations.

The caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Meeting, Rsvp
from bot.db.upsert import upsert


async def upcoming_meetings(session: AsyncSession, *, now: datetime, limit: int) -> list[Meeting]:
    """Meetings not cancelled that have not ended by `now`, soonest first."""
    rows = await session.scalars(
        select(Meeting)
        .where(Meeting.ends_at > now, Meeting.cancelled.is_(False))
        .order_by(Meeting.starts_at)
        .limit(limit)
    )
    return list(rows.all())


async def meetings_starting(
    session: AsyncSession, *, after: datetime, until: datetime
) -> list[Meeting]:
    """Meetings not cancelled that start after `after` and no later than `until`."""
    rows = await session.scalars(
        select(Meeting).where(
            Meeting.cancelled.is_(False),
            Meeting.starts_at > after,
            Meeting.starts_at <= until,
        )
    )
    return list(rows.all())


async def put_rsvp(
    session: AsyncSession, *, meeting_id: int, chat_id: int, attending: bool, now: datetime
) -> None:
    """Record the chat's answer to the meeting, replacing an earlier one."""
    await upsert(
        session,
        Rsvp,
        key=("meeting_id", "chat_id"),
        values={
            "meeting_id": meeting_id,
            "chat_id": chat_id,
            "attending": attending,
            "updated_at": now,
        },
    )


async def rsvp_counts(session: AsyncSession, *, meeting_id: int) -> dict[bool, int]:
    """How many chats said they attend (True) and do not (False)."""
    rows = await session.execute(
        select(Rsvp.attending, func.count())
        .where(Rsvp.meeting_id == meeting_id)
        .group_by(Rsvp.attending)
    )
    return {bool(a): int(n) for a, n in rows.all()}
