"""Two real bot processes behind one webhook, on one PostgreSQL database.

A load balancer may hand each update of one person to either process. Here every update of a
/join form and of a /broadcast goes alternately to process 1 and process 2 over HTTP (the
webhook), each only after the bot answered the one before (as a person waits for the bot).
The flows complete with nothing lost: every step answered, one request, one broadcast, one
notice per subscriber. Needs TEST_DATABASE_URL (SQLite has no second process to speak of).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_URL
from tests.processes import (
    Person,
    Webhooks,
    broadcast_steps,
    join_steps,
    scratch_pg_database,
    webhook_processes,
)

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")

COORDINATOR = 9001
ASKER = 5301
SUBSCRIBERS = (5401, 5402)


@pytest.fixture
def webhooks(tmp_path: Path) -> Iterator[Webhooks]:
    with (
        scratch_pg_database(PG_URL) as url,
        webhook_processes(tmp_path, url, COORDINATOR_IDS=str(COORDINATOR)) as hooks,
    ):
        yield hooks


def test_join_and_broadcast_alternating_between_two_processes(webhooks: Webhooks) -> None:
    hooks = webhooks
    for subscriber in SUBSCRIBERS:
        Person(hooks, subscriber).send("/subscribe", "Hinweise auf Veranstaltungen")
    asker, coordinator = Person(hooks, ASKER), Person(hooks, COORDINATOR)

    # /join: 14 steps, each to the other process than the one before.
    steps = join_steps(asker, "Verein Zwei Prozesse", "Ayşe Yılmaz", "a@zwei.example")
    submitted = [step() for step in steps][-1]
    assert "A-0001" in str(submitted.calls)

    # /broadcast: text in one process, each button in the other, sent once.
    sending = [step() for step in broadcast_steps(coordinator, "Fachtag am Freitag in Köln", 2)]
    assert "Nr. 1" in str(sending[-1].calls)
    # Each subscriber gets the notice exactly once (the two processes' workers share the outbox).
    deadline = time.monotonic() + 30
    while hooks.sent("Fachtag am Freitag", set(SUBSCRIBERS)) != sorted(SUBSCRIBERS):
        assert time.monotonic() < deadline, hooks.sent("Fachtag am Freitag", set(SUBSCRIBERS))
        time.sleep(0.1)
    # An old button, in either process: answered "expired", nothing sent twice. (The worker's
    # final report to the coordinator may arrive meanwhile: it is not an answer to the tap.)
    for _ in range(2):
        late = coordinator.press("bc:send", "abgelaufen").calls
        assert not [c for c in late if "Nr. 2" in str(c.get("text"))], "no second broadcast"
    time.sleep(1.0)  # a duplicate would have arrived by now
    assert hooks.sent("Fachtag am Freitag", set(SUBSCRIBERS)) == sorted(SUBSCRIBERS)
