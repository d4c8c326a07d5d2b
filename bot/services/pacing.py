"""Flood-limit pacing shared by interactive replies and bulk delivery, in one process.

Telegram allows about 30 messages a second overall, one a second per private chat and twenty a
minute per group. The pacer hands out evenly spaced sending slots (no bursts) and lets
interactive replies go before bulk messages that are waiting: a broadcast never makes a person
wait for an answer. After a RetryAfter every sender waits as told.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Limits:
    """Messages per second overall (interactive + bulk), bulk pacing, per-chat spacing."""

    overall_per_second: float = 30.0
    bulk_per_second: float = 28.0
    private_chat_interval: float = 1.0
    group_chat_interval: float = 3.0  # 20 per minute


class Pacer:
    """Evenly spaced slots with priority for interactive sends."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_chats: int = 100_000,
    ) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0  # overall
        self._next_bulk = 0.0
        self._paused_until = 0.0
        self._interactive_waiting = 0
        self._chat_next: OrderedDict[int, float] = OrderedDict()
        self._max_chats = max_chats

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (Telegram said RetryAfter)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @property
    def paused_until(self) -> float:
        """Clock time before which nothing is sent."""
        return self._paused_until

    async def acquire(self, *, bulk: bool, chat_id: int | None = None) -> None:
        """Wait for this sender's slot, then return (the caller sends right away)."""
        if not bulk:
            self._interactive_waiting += 1
            try:
                await self._wait_overall()
            finally:
                self._interactive_waiting -= 1
            return
        while True:
            now = self._clock()
            chat_ready = self._chat_ready(chat_id, now)
            start = max(now, self._next_bulk, self._next_slot, self._paused_until, chat_ready)
            if start > now:
                await self._sleep(start - now)
                continue
            if self._interactive_waiting:
                await self._sleep(1 / self.limits.overall_per_second)
                continue
            self._take_overall(now)
            # Keep the cadence: waking up a little late must not push every later slot back.
            interval = 1 / self.limits.bulk_per_second
            self._next_bulk = max(self._next_bulk + interval, now + interval / 2)
            self._remember_chat(chat_id, now)
            return

    async def _wait_overall(self) -> None:
        while True:
            now = self._clock()
            start = max(now, self._next_slot, self._paused_until)
            if start <= now:
                self._take_overall(now)
                return
            await self._sleep(start - now)

    def _take_overall(self, now: float) -> None:
        interval = 1 / self.limits.overall_per_second
        self._next_slot = max(self._next_slot + interval, now + interval / 2)

    def _chat_ready(self, chat_id: int | None, now: float) -> float:
        if chat_id is None:
            return now
        return self._chat_next.get(chat_id, now)

    def _remember_chat(self, chat_id: int | None, now: float) -> None:
        if chat_id is None:
            return
        interval = (
            self.limits.private_chat_interval if chat_id > 0 else self.limits.group_chat_interval
        )
        self._chat_next[chat_id] = now + interval
        self._chat_next.move_to_end(chat_id)
        while len(self._chat_next) > self._max_chats:
            self._chat_next.popitem(last=False)
