"""What every domain service holds: the session factory and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import utcnow

Sessions = async_sessionmaker[AsyncSession]
Clock = Callable[[], datetime]  # now, timezone-aware (UTC)


class Service:
    """A service opens its own sessions (it owns its transactions) and asks one clock for the
    time, so a test can move the time for everything the service decides."""

    def __init__(self, sessions: Sessions, *, clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock
