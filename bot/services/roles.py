"""Who may do what. Checked on the server side for every privileged update."""

from __future__ import annotations

from collections.abc import Iterable

# Telegram's "GroupAnonymousBot" (anonymous group admins) and the service account that posts
# channel messages into linked groups: anyone could be behind them, so they are never privileged.
NEVER_PRIVILEGED = frozenset({1087968824, 777000, 136817688})


class Roles:
    """Coordinators and admins from configuration."""

    def __init__(self, coordinators: Iterable[int], admins: Iterable[int] = ()) -> None:
        self._admins = frozenset(admins) - NEVER_PRIVILEGED
        self._coordinators = (frozenset(coordinators) | self._admins) - NEVER_PRIVILEGED

    def is_coordinator(self, user_id: int | None) -> bool:
        """True for a configured coordinator or admin; False for anyone else or nobody."""
        return user_id is not None and user_id in self._coordinators

    def is_admin(self, user_id: int | None) -> bool:
        """True for a configured admin."""
        return user_id is not None and user_id in self._admins

    @property
    def coordinators(self) -> frozenset[int]:
        """Every coordinator id (admins included)."""
        return self._coordinators
