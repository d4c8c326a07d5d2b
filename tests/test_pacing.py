"""Flood-limit pacing with a simulated clock: even spacing, per-chat limits, priority, pauses."""

from __future__ import annotations

import itertools

from bot.services.pacing import Limits, Pacer


class SimulatedTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def pacer(time: SimulatedTime) -> Pacer:
    return Pacer(
        Limits(overall_per_second=30, bulk_per_second=28), clock=time.clock, sleep=time.sleep
    )


async def test_bulk_messages_are_evenly_spaced_at_the_bulk_rate() -> None:
    time = SimulatedTime()
    p = pacer(time)
    stamps = []
    for i in range(281):
        await p.acquire(bulk=True, chat_id=1000 + i)
        stamps.append(time.now)
    assert abs(stamps[-1] - 10.0) < 0.05, "280 intervals at 28/s take 10 s"
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 1 / 30 - 1e-9, "never faster than the overall limit: no bursts"
    window = [s for s in stamps if 3.0 <= s < 4.0]
    assert len(window) <= 30


async def test_one_chat_gets_at_most_one_message_a_second_and_groups_twenty_a_minute() -> None:
    time = SimulatedTime()
    p = pacer(time)
    private, group = [], []
    for _ in range(3):
        await p.acquire(bulk=True, chat_id=42)
        private.append(time.now)
    for _ in range(3):
        await p.acquire(bulk=True, chat_id=-100)
        group.append(time.now)
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(private))
    assert all(b - a >= 3.0 - 1e-9 for a, b in itertools.pairwise(group))


async def test_retry_after_pauses_everyone() -> None:
    time = SimulatedTime()
    p = pacer(time)
    await p.acquire(bulk=False)
    p.pause(5)
    await p.acquire(bulk=False)
    assert time.now >= 5.0
    await p.acquire(bulk=True, chat_id=1)
    assert time.now >= 5.0
