"""Partner organisations' contacts: invite links for any partner, the linked chats, removal."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.db import outbox, partners
from bot.db.models import Invite, utcnow
from bot.db.models import Partner as Partner  # re-exported for handlers
from bot.db.upsert import lock_rows
from bot.services.base import Clock, Service, Sessions

INVITE_PREFIX = "inv_"  # /start payload of an invite link


def invite_link(username: str | None, token: str) -> str:
    """The deep link that starts the bot with the invite payload."""
    return f"https://t.me/{username or 'bot'}?start={INVITE_PREFIX}{token}"


@dataclass(frozen=True, slots=True)
class InviteTerms:
    """How often and how long a new invite link works (the same for every way a link is made)."""

    uses: int = 5
    days: int = 30

    def new(self, *, partner_id: int, created_by: int | None, now: datetime) -> Invite:
        """A fresh invite with a random token (not yet added to a session)."""
        return Invite(
            token=secrets.token_urlsafe(16),
            partner_id=partner_id,
            created_by=created_by,
            max_uses=self.uses,
            uses=0,
            expires_at=now + timedelta(days=self.days),
            created_at=now,
        )


DEFAULT_INVITES = InviteTerms()


@dataclass(frozen=True, slots=True)
class Contact:
    """A chat linked to a partner."""

    chat_id: int
    kind: str
    added_at: datetime


class PartnerService(Service):
    """Invites and contacts of partner organisations, wherever the partner came from."""

    def __init__(
        self, sessions: Sessions, *, invites: InviteTerms = DEFAULT_INVITES, clock: Clock = utcnow
    ) -> None:
        super().__init__(sessions, clock=clock)
        self.invites = invites

    async def get(self, *, partner_id: int) -> Partner | None:
        """One partner."""
        async with self._sessions() as session:
            return await session.get(Partner, partner_id)

    async def active(self, *, partner_ids: Sequence[int] | None = None) -> list[Partner]:
        """Active partners by name: all, or those with the given ids."""
        async with self._sessions() as session:
            return await partners.active_partners(session, partner_ids=partner_ids)

    async def invite(self, *, partner_id: int, created_by: int | None) -> Invite | None:
        """A link that still has uses and at least half its time left, else a new one.

        Asking twice (a double tap, the export run again for the mail merge) gives the same
        link instead of a pile of them; the partner's row is locked while deciding, so two
        requests at once do not both create one. None for an unknown or inactive partner.
        """
        now = self._clock()
        fresh_until = now + timedelta(days=self.invites.days / 2)
        async with self._sessions.begin() as session:
            await lock_rows(session, Partner, Partner.id == partner_id)
            partner = await session.get(Partner, partner_id)
            if partner is None or not partner.active:
                return None
            reusable = await partners.reusable_invite(
                session, partner_id=partner_id, fresh_until=fresh_until
            )
            if reusable is not None:
                return reusable
            invite = self.invites.new(partner_id=partner_id, created_by=created_by, now=now)
            session.add(invite)
        return invite

    async def contacts(self, *, partner_id: int) -> list[Contact]:
        """The chats linked to the partner, oldest first."""
        async with self._sessions() as session:
            rows = await partners.contacts(session, partner_id=partner_id)
        return [
            Contact(chat_id=chat_id, kind=kind or "private", added_at=added_at)
            for chat_id, kind, added_at in rows
        ]

    async def remove_contact(self, *, partner_id: int, chat_id: int) -> bool:
        """Unlink a chat from the partner and drop its waiting report reminders; False if it
        was not linked (any more)."""
        async with self._sessions.begin() as session:
            await outbox.hold_reminder_plans(session)
            if not await partners.unlink_contact(session, partner_id=partner_id, chat_id=chat_id):
                return False
            await outbox.cancel_keyed(
                session, key_prefix=f"reminder:report:{partner_id}:", chat_id=chat_id
            )
        return True
