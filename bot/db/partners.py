"""Query functions for partner organisations, their invite links and linked chats.

The caller owns the transaction. An invite's use is claimed by a conditional UPDATE, so two
chats opening the last use at once cannot both get it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Chat, Invite, Partner, PartnerContact


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


async def active_partners(
    session: AsyncSession, *, partner_ids: Sequence[int] | None = None
) -> list[Partner]:
    """Active partners by name (then id): all, or those with the given ids."""
    query = select(Partner).where(Partner.active.is_(True)).order_by(Partner.name, Partner.id)
    if partner_ids is not None:
        query = query.where(Partner.id.in_(partner_ids))
    return list((await session.scalars(query)).all())


async def reminder_contacts(
    session: AsyncSession, *, partner_id: int
) -> list[tuple[int, str | None]]:
    """Chat ids and languages of the partner's contacts that are reachable and want reminders."""
    rows = await session.execute(
        select(Chat.chat_id, Chat.language)
        .join(PartnerContact, PartnerContact.chat_id == Chat.chat_id)
        .where(
            PartnerContact.partner_id == partner_id,
            Chat.active.is_(True),
            Chat.reminders.is_(True),
        )
    )
    return [(chat_id, language) for chat_id, language in rows.all()]


async def reusable_invite(
    session: AsyncSession, *, partner_id: int, fresh_until: datetime
) -> Invite | None:
    """The partner's invite with uses left that runs longest, if it runs until `fresh_until`."""
    invite: Invite | None = await session.scalar(
        select(Invite)
        .where(
            Invite.partner_id == partner_id,
            Invite.uses < Invite.max_uses,
            Invite.expires_at >= fresh_until,
        )
        .order_by(Invite.expires_at.desc())
        .limit(1)
    )
    return invite


async def contacts(
    session: AsyncSession, *, partner_id: int
) -> list[tuple[int, str | None, datetime]]:
    """Chat id, chat kind (None if the chat is unknown) and link time of the partner's
    contacts, oldest first."""
    rows = await session.execute(
        select(PartnerContact.chat_id, Chat.kind, PartnerContact.added_at)
        .outerjoin(Chat, Chat.chat_id == PartnerContact.chat_id)
        .where(PartnerContact.partner_id == partner_id)
        .order_by(PartnerContact.added_at, PartnerContact.id)
    )
    return [(chat_id, kind, added_at) for chat_id, kind, added_at in rows.all()]


async def unlink_contact(session: AsyncSession, *, partner_id: int, chat_id: int) -> bool:
    """Unlink the chat from the partner; False if it was not linked (any more)."""
    result = await session.execute(
        delete(PartnerContact).where(
            PartnerContact.partner_id == partner_id, PartnerContact.chat_id == chat_id
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def all_partners(session: AsyncSession) -> list[Partner]:
    """Every partner, active or not."""
    return list((await session.scalars(select(Partner))).all())


async def partners_with_contact_counts(session: AsyncSession) -> list[tuple[Partner, int]]:
    """Every partner, active or not, by name, with how many chats are linked to it."""
    rows = await session.execute(
        select(Partner, func.count(PartnerContact.id))
        .outerjoin(PartnerContact, PartnerContact.partner_id == Partner.id)
        .group_by(Partner.id)
        .order_by(Partner.name)
    )
    return [(partner, count) for partner, count in rows.all()]
