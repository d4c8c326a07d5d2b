"""Query functions for the coordinators added in the bot (configured ones are not stored).

The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Coordinator
from bot.db.upsert import insert_missing


async def added_coordinators(session: AsyncSession) -> Sequence[int]:
    """The user ids of every added coordinator."""
    return (await session.scalars(select(Coordinator.user_id))).all()


async def add_coordinator(session: AsyncSession, *, user_id: int, by: int, at: datetime) -> bool:
    """Store `user_id` as a coordinator added by `by`; False if already stored (another admin,
    or a double send, was first)."""
    return await insert_missing(
        session,
        Coordinator,
        key=("user_id",),
        values={"user_id": user_id, "added_by": by, "added_at": at},
    )


async def remove_coordinator(session: AsyncSession, *, user_id: int) -> bool:
    """Delete the added coordinator; False if there was none."""
    result = await session.execute(delete(Coordinator).where(Coordinator.user_id == user_id))
    return bool(getattr(result, "rowcount", 0))
