"""Real bot processes for the process tests and the benchmarks.

`python -m bot run` against a Bot API server on 127.0.0.1 (tests.fake_bot_api), a fresh
PostgreSQL database per run, and several webhook processes on one database behind a
port-splitting "proxy": `Webhooks.post` hands each update to one process's port and waits,
as a person does, until the bot answered in that person's chat.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.db.migrate import upgrade_async
from bot.db.scratch import create_database, drop_database
from bot.offline import callback_update, message_update
from tests.fake_bot_api import FakeBotApi

TOKEN = "123456:TEST-token-that-must-never-be-logged"
ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "two-processes-Secret_1"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_bot(home: Path, api: FakeBotApi, *args: str, **env: str) -> subprocess.Popen[str]:
    """Start `python -m bot run ARGS` in `home`; its output goes to a file (a full pipe would
    block the process)."""
    environment = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "BOT_API_BASE_URL": api.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{home / 'bot.sqlite3'}",
        "SEMANTIC_SEARCH": "false",
        "LOG_LEVEL": "DEBUG",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    log = (home / "bot.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run", *args],
        cwd=home,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop_bot(process: subprocess.Popen[str], home: Path) -> tuple[int, str, float]:
    """SIGTERM; the exit code, the output and how long the process took to stop."""
    start = time.monotonic()
    if not terminate(process, timeout=15):
        raise AssertionError(
            f"the bot did not stop within 15 s after SIGTERM:\n{bot_log(home)}"
        ) from None
    return process.returncode, bot_log(home), time.monotonic() - start


def bot_log(home: Path) -> str:
    """What the bot started in `home` wrote so far."""
    return (home / "bot.log").read_text(encoding="utf-8", errors="replace")


async def create_pg_database(base_url: str) -> str:
    """A new, empty database on the server of `base_url`; its URL."""
    return await create_database(base_url, prefix="vl_test")


async def drop_pg_database(url: str, base_url: str) -> None:
    """Drop the database `url` (made by create_pg_database from `base_url`)."""
    await drop_database(base_url, url)


@contextmanager
def scratch_pg_database(base_url: str) -> Iterator[str]:
    """A new, migrated database on the server of `base_url` for the block; dropped afterwards,
    whatever happened."""
    url = asyncio.run(create_pg_database(base_url))
    try:
        asyncio.run(upgrade_async(url))  # once, before bot processes start (they upgrade too)
        yield url
    finally:
        asyncio.run(drop_pg_database(url, base_url))


@dataclass(frozen=True, slots=True)
class Answer:
    """What the bot did in answer to one update: the calls (with "method") in the person's chat
    until the expected one, and the seconds from posting the update to it."""

    calls: list[dict[str, Any]]
    seconds: float


class NoAnswer(AssertionError):
    """The bot did not answer an update as expected in time: a lost step."""


class Webhooks:
    """Several bot processes' webhook URLs on one port each; `post` hands an update to one."""

    def __init__(self, api: FakeBotApi, ports: list[int]) -> None:
        self.api = api
        self.urls = [f"http://127.0.0.1:{port}/hook" for port in ports]
        self._turns = itertools.count()

    def post(
        self,
        update: dict[str, Any],
        expect: str,
        *,
        to: int | None = None,
        again: bool = False,
        timeout: float = 30.0,
    ) -> Answer:
        """Post the update to process `to` (default: the next in turn), with `again` at once to
        the next process too (Telegram delivers an update again when the first answer was late);
        wait until the bot sent or showed `expect` (in a text or a button) in the person's chat
        or as the answer to this button press (a person waits for the answer)."""
        index = next(self._turns) if to is None else to
        chat, press = _chat_and_press(update)

        def answers(name: str, params: dict[str, Any]) -> bool:
            if press and params.get("callback_query_id") == press:
                return True
            return name != "answerCallbackQuery" and str(params.get("chat_id")) == str(chat)

        start = time.monotonic()
        before = len(self.api.calls)
        for turn in (index, index + 1) if again else (index,):
            self._deliver(update, turn)
        found = self.api.wait_for_calls(
            before,
            lambda name, params: (
                answers(name, params)
                and expect in str(params.get("text", "")) + str(params.get("reply_markup", ""))
            ),
            timeout,
        )
        seconds = time.monotonic() - start
        if found is None:
            mine = [(n, p) for n, p in self.api.calls[before:] if answers(n, p)]
            raise NoAnswer(f"process {index % len(self.urls) + 1}: no {expect!r} in {mine}")
        return Answer(
            [params | {"method": name} for name, params in found if answers(name, params)],
            seconds,
        )

    def _deliver(self, update: dict[str, Any], turn: int) -> None:
        url = self.urls[turn % len(self.urls)]
        request = urllib.request.Request(url, data=json.dumps(update).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def sent(self, text: str, chats: set[int]) -> list[int]:
        """The chats among `chats` a message containing `text` was sent to, once per sending."""
        return sorted(
            int(p["chat_id"])
            for name, p in list(self.api.calls)
            if name == "sendMessage"
            and text in str(p.get("text"))
            and int(p.get("chat_id") or 0) in chats
        )


class Person:
    """One person in a private chat, waiting for each answer; each of their updates goes to
    the next process after the one before (a port-splitting proxy at its least kind)."""

    def __init__(self, hooks: Webhooks, user_id: int, *, again: float = 0.0) -> None:
        self.hooks = hooks
        self.user_id = user_id
        self._turn = user_id % len(hooks.urls)
        self._again = again  # the share of updates Telegram delivers twice
        self._chance = random.Random(user_id)

    def send(self, text: str, expect: str) -> Answer:
        """A message; the bot's answer contains `expect`."""
        return self._post(message_update(text, user_id=self.user_id), expect)

    def press(self, data: str, expect: str) -> Answer:
        """A button press; the bot's answer (a message, an edit, a note) contains `expect`."""
        return self._post(callback_update(data, user_id=self.user_id), expect)

    def _post(self, update: dict[str, Any], expect: str) -> Answer:
        self._turn += 1
        again = self._chance.random() < self._again
        return self.hooks.post(update, expect, to=self._turn, again=again)


Step = Callable[[], Answer]


def join_steps(person: Person, organisation: str, contact: str, email: str) -> list[Step]:
    """The /join form's 14 steps up to the submitted request (the last answer names its
    number), each waiting for the bot's answer to it."""
    return [
        lambda: person.send("/join", "(1/10)"),
        lambda: person.send(organisation, "(2/10)"),
        lambda: person.press("ob:type:association", "(3/10)"),
        lambda: person.send("Köln", "(4/10)"),
        lambda: person.press("ob:size:s", "(5/10)"),
        lambda: person.send(contact, "(6/10)"),
        lambda: person.send(email, "(7/10)"),
        lambda: person.press("ob:skip", "(8/10)"),
        lambda: person.press("ob:m:0:1", "ob:m:0:0"),  # chosen: the button now unselects
        lambda: person.press("ob:m:done", "(9/10)"),
        lambda: person.press("ob:skip", "(10/10)"),
        lambda: person.send("2027", "einverstanden"),
        lambda: person.press("ob:consent", organisation),  # the review screen
        lambda: person.press("ob:submit", "A-"),
    ]


def broadcast_steps(person: Person, notice: str, recipients: int) -> list[Step]:
    """A coordinator's /broadcast to the subscribers, sent at once: 5 steps (the last answer
    names the notice's number)."""
    return [
        lambda: person.send("/broadcast", "Neuer Hinweis"),
        lambda: person.send(notice, "An wen soll"),
        lambda: person.press("bc:aud:subscribers", "bestimmten Sprache"),
        lambda: person.press("bc:lang:any", f"Empfänger derzeit: <b>{recipients}</b>"),
        lambda: person.press("bc:send", "</b> wird gesendet …"),
    ]


def _chat_and_press(update: dict[str, Any]) -> tuple[int, str]:
    """The chat an update comes from, and the button press's id (or "")."""
    if "callback_query" in update:
        query = update["callback_query"]
        return int(query["message"]["chat"]["id"]), str(query["id"])
    return int(update["message"]["chat"]["id"]), ""


@contextmanager
def webhook_processes(
    home: Path, database_url: str, count: int = 2, **env: str
) -> Iterator[Webhooks]:
    """`count` real `python -m bot run --webhook` processes on one database (each with its
    delivery worker), answered by a Bot API emulator started for them; on leaving, each must
    stop cleanly, without a traceback or the token in its output."""
    api = FakeBotApi().start()
    try:
        with _webhook_processes(home, api, database_url, count, env) as hooks:
            yield hooks
    finally:
        api.stop()


@contextmanager
def _webhook_processes(
    home: Path, api: FakeBotApi, database_url: str, count: int, env: Mapping[str, str]
) -> Iterator[Webhooks]:
    processes: list[tuple[subprocess.Popen[str], Path]] = []
    ports: list[int] = []
    outputs: list[tuple[int, str, float]] = []
    try:
        for number in range(1, count + 1):
            folder = home / f"p{number}"
            folder.mkdir()
            port = free_port()
            ports.append(port)
            settings = {
                "DATABASE_URL": database_url,
                "WEBHOOK_URL": "https://bot.example.org",
                "WEBHOOK_LISTEN": "127.0.0.1",
                "WEBHOOK_PORT": str(port),
                "WEBHOOK_PATH": "hook",
                "WEBHOOK_SECRET": WEBHOOK_SECRET,
                "LOG_LEVEL": "INFO",
            }
            processes.append((start_bot(folder, api, "--webhook", **{**settings, **env}), folder))
            # One after the other: the next starts once this one registered its webhook.
            deadline = time.monotonic() + 60
            while sum(1 for name, _ in list(api.calls) if name == "setWebhook") < number:
                if time.monotonic() > deadline:
                    raise AssertionError(f"bot process {number} did not start:\n{bot_log(folder)}")
                time.sleep(0.1)
        time.sleep(0.5)  # the webhook servers start right after registering
        yield Webhooks(api, ports)
    finally:
        outputs = [stop_bot(process, folder) for process, folder in processes]
    for code, output, _ in outputs:
        assert code == 0, output
        assert TOKEN not in output
        assert "Traceback" not in output, output


def run_bot(
    cwd: Path, env: Mapping[str, str], *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` to its end, with its output captured (a non-zero exit is returned,
    not raised, so the test can show stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(env),
        timeout=timeout,
        check=False,
    )


def terminate(process: subprocess.Popen[Any], timeout: float) -> bool:
    """SIGTERM, as an operator stops the bot; killed when it has not ended within `timeout`
    seconds. True when it ended by itself."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return True
