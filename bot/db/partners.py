"""Query functions for partner organisations, their invite links and linked chats.

The caller owns the transaction. An invite's use is claimed by a conditional UPDATE, so two
chats opening the last use at once cannot both get it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Invite


async def claim_invite_use(session: AsyncSession, *, token: str, now: datetime) -> bool:
    """Count one use of the invite if it has uses and time left (and lock it); False if not."""
    result = await session.execute(
        update(Invite)
        .where(Invite.token == token, Invite.uses < Invite.max_uses, Invite.expires_at >= now)
        .values(uses=Invite.uses + 1)
    )
    return bool(getattr(result, "rowcount", 0))


async def give_back_invite_use(session: AsyncSession, *, token: str) -> None:
    """Undo `claim_invite_use` (the chat turned out to be linked already)."""
    await session.execute(update(Invite).where(Invite.token == token).values(uses=Invite.uses - 1))
