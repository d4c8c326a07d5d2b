"""Flood protection per person, and the next report due date shown to partners."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.dynamic import next_due_date
from bot.services.flood import FloodGuard, Verdict


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def guard(clock: FakeClock) -> FloodGuard:
    return FloodGuard(limit=20, window=60.0, clock=clock)


def test_twenty_allowed_then_warn_then_drop(guard: FloodGuard) -> None:
    verdicts = [guard.check(1) for _ in range(20)]
    assert verdicts == [Verdict.ALLOW] * 20
    assert guard.check(1) is Verdict.WARN
    assert guard.check(1) is Verdict.DROP
    assert guard.check(1) is Verdict.DROP


def test_asking_whether_a_message_would_pass_counts_nothing(
    guard: FloodGuard, clock: FakeClock
) -> None:
    assert guard.allows(1), "someone never seen"
    for _ in range(19):
        guard.check(1)
    assert all(guard.allows(1) for _ in range(50)), "asking is not a message"
    assert guard.check(1) is Verdict.ALLOW  # the 20th
    assert not guard.allows(1)
    assert guard.check(1) is Verdict.WARN
    clock.now += 60.0
    assert guard.allows(1), "the window has passed"


def test_allowed_again_after_the_window(guard: FloodGuard, clock: FakeClock) -> None:
    for _ in range(22):
        guard.check(1)
    clock.now += 59.9
    assert guard.check(1) is Verdict.DROP
    clock.now += 0.1
    assert guard.check(1) is Verdict.ALLOW


def test_warned_again_after_a_new_flood(guard: FloodGuard, clock: FakeClock) -> None:
    for _ in range(21):
        guard.check(1)
    clock.now += 60
    assert [guard.check(1) for _ in range(20)] == [Verdict.ALLOW] * 20
    assert guard.check(1) is Verdict.WARN


def test_window_slides(guard: FloodGuard, clock: FakeClock) -> None:
    for _ in range(10):
        guard.check(1)
    clock.now += 30
    for _ in range(10):
        assert guard.check(1) is Verdict.ALLOW
    assert guard.check(1) is Verdict.WARN
    clock.now += 30  # the first ten are a minute old now
    assert [guard.check(1) for _ in range(10)] == [Verdict.ALLOW] * 10
    assert guard.check(1) is Verdict.WARN


def test_steady_pace_is_never_limited(guard: FloodGuard, clock: FakeClock) -> None:
    for _ in range(200):
        assert guard.check(1) is Verdict.ALLOW
        clock.now += 3.0


def test_users_are_independent(guard: FloodGuard) -> None:
    for _ in range(22):
        guard.check(1)
    assert guard.check(1) is Verdict.DROP
    assert [guard.check(2) for _ in range(20)] == [Verdict.ALLOW] * 20
    assert guard.check(2) is Verdict.WARN
    assert guard.check(3) is Verdict.ALLOW


def test_many_users_do_not_lock_anyone_out(clock: FakeClock) -> None:
    guard = FloodGuard(limit=2, window=60.0, clock=clock, max_users=10)
    for user in range(10):
        guard.check(user)
    clock.now += 61
    for user in range(10, 30):
        assert guard.check(user) is Verdict.ALLOW
    assert guard.check(10) is Verdict.ALLOW
    assert guard.check(10) is Verdict.WARN


# ------------------------------------------------------------------ next_due_date
@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2025, 1, 15), date(2025, 3, 31)),  # before the day: this year
        (date(2025, 3, 31), date(2025, 3, 31)),  # on the day: today
        (date(2025, 4, 1), date(2026, 3, 31)),  # after the day: next year
        (date(2025, 12, 31), date(2026, 3, 31)),
    ],
)
def test_next_due_date(today: date, due: date) -> None:
    assert next_due_date("03-31", today) == due


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2025, 1, 10), date(2025, 2, 28)),  # 2025 has no 29 February
        (date(2025, 3, 1), date(2026, 2, 28)),
        (date(2027, 3, 1), date(2028, 2, 29)),  # 2028 is a leap year
        (date(2024, 2, 29), date(2024, 2, 29)),
    ],
)
def test_next_due_date_29_february(today: date, due: date) -> None:
    assert next_due_date("02-29", today) == due


def test_next_due_date_none_when_not_configured() -> None:
    assert next_due_date("", date(2025, 1, 1)) is None
