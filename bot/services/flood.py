"""Per-person flood protection: a sliding window of recent messages per user."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    """What to do with one more message from a person."""

    ALLOW = "allow"
    WARN = "warn"  # over the limit for the first time in this window: say "slow down" once
    DROP = "drop"


class FloodGuard:
    """Allows `limit` messages per `window` seconds per user; other users are never affected."""

    def __init__(
        self,
        limit: int = 20,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 50_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_users = max_users
        self._seen: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}

    def check(self, user_id: int) -> Verdict:
        """Count one message from `user_id` and say whether to handle it."""
        now = self._clock()
        stamps = self._seen.get(user_id)
        if stamps is None:
            if len(self._seen) >= self._max_users:
                self._forget_idle(now)
            stamps = self._seen[user_id] = deque()
        while stamps and now - stamps[0] >= self.window:
            stamps.popleft()
        if len(stamps) < self.limit:
            stamps.append(now)
            self._warned.pop(user_id, None)
            return Verdict.ALLOW
        if user_id in self._warned and now - self._warned[user_id] < self.window:
            return Verdict.DROP
        self._warned[user_id] = now
        return Verdict.WARN

    def allows(self, user_id: int) -> bool:
        """Whether one more message from `user_id` would be handled now (nothing is counted)."""
        stamps = self._seen.get(user_id)
        if stamps is None:
            return True
        now = self._clock()
        return sum(now - stamp < self.window for stamp in stamps) < self.limit

    def _forget_idle(self, now: float) -> None:
        for user_id in [u for u, s in self._seen.items() if not s or now - s[-1] >= self.window]:
            del self._seen[user_id]
            self._warned.pop(user_id, None)
