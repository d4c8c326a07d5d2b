"""Who may do what. Checked on the server side for every privileged update."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import roles
from bot.db.models import AuditEntry, utcnow

# Telegram's "GroupAnonymousBot" (anonymous group admins), the service account that posts
# channel messages into linked groups, and the old "Channel Bot": anyone could be behind them,
# so they are never privileged.
NEVER_PRIVILEGED = frozenset({1087968824, 777000, 136817688})


class Roles:
    """Admins (configuration) and coordinators (configuration plus those an admin added)."""

    def __init__(self, coordinators: Iterable[int], admins: Iterable[int] = ()) -> None:
        self._admins = frozenset(admins) - NEVER_PRIVILEGED
        self._configured = (frozenset(coordinators) | self._admins) - NEVER_PRIVILEGED
        self._added: frozenset[int] = frozenset()

    def is_coordinator(self, user_id: int | None) -> bool:
        """True for a configured or added coordinator or an admin; False for anyone else."""
        return user_id is not None and user_id in self.coordinators

    def is_admin(self, user_id: int | None) -> bool:
        """True for a configured admin."""
        return user_id is not None and user_id in self._admins

    @property
    def coordinators(self) -> frozenset[int]:
        """Every coordinator id (admins included)."""
        return self._configured | self._added

    @property
    def configured(self) -> frozenset[int]:
        """Coordinators from configuration (cannot be removed in the bot)."""
        return self._configured

    @property
    def added(self) -> frozenset[int]:
        """Coordinators added in the bot."""
        return self._added

    async def load(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Refresh the added coordinators from the database (other processes may change them)."""
        async with sessions() as session:
            rows = await roles.added_coordinators(session)
            self._added = frozenset(rows) - NEVER_PRIVILEGED

    async def add(
        self, sessions: async_sessionmaker[AsyncSession], *, user_id: int, by: int
    ) -> bool:
        """Make `user_id` a coordinator; False if not possible or already one."""
        if user_id in NEVER_PRIVILEGED or self.is_coordinator(user_id):
            return False
        async with sessions.begin() as session:
            added = await roles.add_coordinator(session, user_id=user_id, by=by, at=utcnow())
            if added:  # not when another admin (or a double send) added them a moment ago
                session.add(
                    AuditEntry(
                        actor_id=by, action="coordinator_add", subject=str(user_id), at=utcnow()
                    )
                )
        await self.load(sessions)
        return added

    async def remove(
        self, sessions: async_sessionmaker[AsyncSession], *, user_id: int, by: int
    ) -> bool:
        """Remove an added coordinator; configured ones stay (change the configuration)."""
        if user_id not in self._added:
            return False
        async with sessions.begin() as session:
            removed = await roles.remove_coordinator(session, user_id=user_id)
            if removed:
                session.add(
                    AuditEntry(
                        actor_id=by, action="coordinator_remove", subject=str(user_id), at=utcnow()
                    )
                )
        await self.load(sessions)
        return removed
