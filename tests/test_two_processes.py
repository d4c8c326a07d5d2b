"""Two real bot processes behind one webhook, on one PostgreSQL database.

A load balancer may hand each update of one person to either process. Here every update of a
/join form and of a /broadcast goes alternately to process 1 and process 2 over HTTP (the
webhook), each only after the bot answered the one before (as a person waits for the bot).
The flows complete with nothing lost: every step answered, one request, one broadcast, one
notice per subscriber. Needs TEST_DATABASE_URL (SQLite has no second process to speak of).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.db.migrate import upgrade_async
from bot.offline import callback_update, message_update
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database
from tests.fake_bot_api import FakeBotApi
from tests.test_process import TOKEN, _free_port, _start, _stop

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")

COORDINATOR = 9001
ASKER = 5301
SUBSCRIBERS = (5401, 5402)
SECRET = "two-processes-Secret_1"


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = asyncio.run(_create_pg_database())
    asyncio.run(upgrade_async(url))  # once, before the processes start (they upgrade too)
    try:
        yield url
    finally:
        asyncio.run(_drop_pg_database(url))


class Webhooks:
    """The two processes' webhook URLs; `post` alternates between them."""

    def __init__(self, api: FakeBotApi, ports: list[int]) -> None:
        self.api = api
        self.urls = [f"http://127.0.0.1:{port}/hook" for port in ports]
        self.posted = 0

    def post(self, update: dict[str, Any], expect: str) -> list[dict[str, Any]]:
        """Post the update to the next process; wait until the bot sent or showed `expect` (in
        a text or a button: a person waits for the answer); the calls it made meanwhile."""
        url = self.urls[self.posted % len(self.urls)]
        self.posted += 1
        before = len(self.api.calls)
        request = urllib.request.Request(url, data=json.dumps(update).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            new = [params | {"method": name} for name, params in self.api.calls[before:]]
            if any(expect in str(c.get("text", "")) + str(c.get("reply_markup", "")) for c in new):
                return new
            time.sleep(0.02)
        raise AssertionError(f"update {self.posted}: no {expect!r} in {self.api.calls[before:]}")

    def delivered(self, text: str) -> list[int]:
        """The subscribers a message containing `text` was sent to, once per sending."""
        return sorted(
            int(p["chat_id"])
            for name, p in self.api.calls
            if name == "sendMessage"
            and text in str(p.get("text"))
            and int(p.get("chat_id") or 0) in SUBSCRIBERS
        )

    def send(self, text: str, user_id: int, expect: str) -> None:
        """A message; the bot's answer contains `expect`."""
        self.post(message_update(text, user_id=user_id), expect)

    def press(self, data: str, user_id: int, expect: str) -> None:
        """A button press; the bot's answer (a message, an edit, a note) contains `expect`."""
        self.post(callback_update(data, user_id=user_id), expect)


@pytest.fixture
def webhooks(tmp_path: Path, pg_url: str) -> Iterator[Webhooks]:
    api = FakeBotApi().start()
    processes, ports = [], []
    try:
        for number in (1, 2):
            home = tmp_path / f"p{number}"
            home.mkdir()
            port = _free_port()
            ports.append(port)
            processes.append(
                (
                    _start(
                        home,
                        api,
                        "--webhook",
                        DATABASE_URL=pg_url,
                        COORDINATOR_IDS=str(COORDINATOR),
                        WEBHOOK_URL="https://bot.example.org",
                        WEBHOOK_LISTEN="127.0.0.1",
                        WEBHOOK_PORT=str(port),
                        WEBHOOK_PATH="hook",
                        WEBHOOK_SECRET=SECRET,
                        LOG_LEVEL="INFO",
                    ),
                    home,
                )
            )
            # One after the other: the second starts once the first registered its webhook.
            deadline = time.monotonic() + 60
            while sum(1 for name, _ in api.calls if name == "setWebhook") < number:
                assert time.monotonic() < deadline, "a bot process did not start"
                time.sleep(0.1)
        time.sleep(0.5)  # the webhook servers start right after registering
        yield Webhooks(api, ports)
    finally:
        outputs = [_stop(process, home) for process, home in processes]
        api.stop()
    for code, output, _ in outputs:
        assert code == 0, output
        assert TOKEN not in output
        assert "Traceback" not in output, output


def test_join_and_broadcast_alternating_between_two_processes(webhooks: Webhooks) -> None:
    hooks = webhooks
    for subscriber in SUBSCRIBERS:
        hooks.send("/subscribe", subscriber, "Hinweise auf Veranstaltungen")

    # /join: 14 steps, each to the other process than the one before.
    hooks.send("/join", ASKER, "(1/10)")
    hooks.send("Verein Zwei Prozesse", ASKER, "(2/10)")
    hooks.press("ob:type:association", ASKER, "(3/10)")
    hooks.send("Köln", ASKER, "(4/10)")
    hooks.press("ob:size:s", ASKER, "(5/10)")
    hooks.send("Ayşe Yılmaz", ASKER, "(6/10)")
    hooks.send("a@zwei.example", ASKER, "(7/10)")
    hooks.press("ob:skip", ASKER, "(8/10)")
    hooks.press("ob:m:0:1", ASKER, "ob:m:0:0")  # chosen: the button now unselects
    hooks.press("ob:m:done", ASKER, "(9/10)")
    hooks.press("ob:skip", ASKER, "(10/10)")
    hooks.send("2027", ASKER, "einverstanden")
    hooks.press("ob:consent", ASKER, "Verein Zwei Prozesse")
    hooks.press("ob:submit", ASKER, "A-0001")

    # /broadcast: text in one process, each button in the other, sent once.
    hooks.send("/broadcast", COORDINATOR, "Neuer Hinweis")
    hooks.send("Fachtag am Freitag in Köln", COORDINATOR, "An wen soll")
    hooks.press("bc:aud:subscribers", COORDINATOR, "bestimmten Sprache")
    hooks.press("bc:lang:any", COORDINATOR, "Empfänger derzeit: <b>2</b>")
    hooks.press("bc:send", COORDINATOR, "Nr. 1")
    # Each subscriber gets the notice exactly once (the two processes' workers share the outbox).
    deadline = time.monotonic() + 30
    while hooks.delivered("Fachtag am Freitag") != sorted(SUBSCRIBERS):
        assert time.monotonic() < deadline, hooks.delivered("Fachtag am Freitag")
        time.sleep(0.1)
    # An old button, in either process: answered "expired", nothing sent twice. (The worker's
    # final report to the coordinator may arrive meanwhile: it is not an answer to the tap.)
    for _ in range(2):
        late = hooks.post(callback_update("bc:send", user_id=COORDINATOR), "abgelaufen")
        assert not [c for c in late if "Nr. 2" in str(c.get("text"))], "no second broadcast"
    time.sleep(1.0)  # a duplicate would have arrived by now
    assert hooks.delivered("Fachtag am Freitag") == sorted(SUBSCRIBERS)
