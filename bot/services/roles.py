"""Who may do what. Checked on the server side for every privileged update."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import AuditEntry, Coordinator, utcnow
from bot.db.upsert import insert_missing

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
            rows = await session.scalars(select(Coordinator.user_id))
            self._added = frozenset(rows.all()) - NEVER_PRIVILEGED

    async def add(
        self, sessions: async_sessionmaker[AsyncSession], *, user_id: int, by: int
    ) -> bool:
        """Make `user_id` a coordinator; False if not possible or already one."""
        if user_id in NEVER_PRIVILEGED or self.is_coordinator(user_id):
            return False
        async with sessions.begin() as session:
            added = await insert_missing(
                session,
                Coordinator,
                key=("user_id",),
                values={"user_id": user_id, "added_by": by, "added_at": utcnow()},
            )
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
            result = await session.execute(
                delete(Coordinator).where(Coordinator.user_id == user_id)
            )
            removed = bool(getattr(result, "rowcount", 0))
            if removed:
                session.add(
                    AuditEntry(
                        actor_id=by, action="coordinator_remove", subject=str(user_id), at=utcnow()
                    )
                )
        await self.load(sessions)
        return removed
