"""Many people at once against the real bot process: `python -m benchmarks.load`.

K simulated people (default 20) each ask Q questions (default 5), waiting for each answer
before asking the next, as a person in a chat does. The bot runs as `python -m bot run` (long
polling, its own process, SQLite, the delivery worker on) against a Bot API emulator over HTTP
that lives in this process; a bare python-telegram-bot echo Application (its own process too,
same `concurrent_updates`) is measured in the same run and load shape. An answer's time runs
from the moment its update is handed out to the moment the first `sendMessage` to that chat
arrives. Prints answers/s, p50 and p95 for both, and the bot's ratio to the echo bot, for
two question mixes in turn (`MIXES`).

`SEND_PER_SECOND` is raised for the run: Telegram's overall budget of about 30 messages/s
would otherwise be the limit, and this measures what the bot's own CPU allows.
`--profile FILE` runs the bot under cProfile (CPU time, every thread, start-up included) and
writes the merged statistics to FILE (`python -m pstats FILE`); the figures are then slower.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import asyncpg

from bot.db.scratch import create_database, drop_database
from bot.offline import BOT_USER, message_update
from knowledge.evaluation import load_questions
from tests.processes import terminate

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:load-benchmark"


# Every question of a run is a different one (then they repeat): a repeated question is
# answered from the bot's cache, which would flatter the figures. Two mixes, measured one after
# the other on the same bot: the development set's chat questions (short, close to the topics'
# own wording, which the search answers cheapest) and every other set in a fixed shuffled order
# (keywords, chat, English and long situations of 250-350 characters, the dearest to embed).
def _questions(*names: str) -> list[str]:
    return list(
        dict.fromkeys(
            q.text
            for name in names
            for q in load_questions(ROOT / "tests" / "data" / f"questions_{name}.yaml")
        )
    )


CHAT = _questions("dev")
MIX = list(dict.fromkeys(_questions("holdout", "eval_tune", "eval_test", "fresh")).keys() - CHAT)
MIX.sort()  # a set's order changes from run to run; sorted, then shuffled with a fixed seed
random.Random(7).shuffle(MIX)
MIXES = {"chat": CHAT, "mix": MIX}
WARM_UP = ["Hallo", "Wie werden wir Partner?", "danke", "What is the network?", "Kosten?"]
CONCURRENT_UPDATES = 32  # what bot.app.build_application uses


@dataclass
class Emulator:
    """A Bot API emulator on asyncio: hands out queued updates through getUpdates (long
    polling) and resolves a waiting person when the bot sends to their chat."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    waiting: dict[int, asyncio.Future[float]] = field(default_factory=dict)
    polled: asyncio.Event = field(default_factory=asyncio.Event)
    new_update: asyncio.Event = field(default_factory=asyncio.Event)
    sends: int = 0
    next_update_id: int = 1
    message_id: int = 1000

    def queue(self, update: dict[str, Any]) -> None:
        """An update the next getUpdates returns."""
        update["update_id"] = self.next_update_id
        self.next_update_id += 1
        self.updates.append(update)
        self.new_update.set()

    async def answer(self, method: str, params: dict[str, Any]) -> Any:
        """The Bot API's answer to one call."""
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            self.polled.set()
            offset = int(params.get("offset") or 0)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            if not self.updates:
                self.new_update.clear()
                timeout = min(float(params.get("timeout") or 0), 5.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.new_update.wait(), timeout)
            return list(self.updates)
        if method in ("sendMessage", "editMessageText", "sendDocument"):
            self.sends += 1
            self.message_id += 1
            chat_id = int(params.get("chat_id", 0))
            waiter = self.waiting.pop(chat_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter())
            return {
                "message_id": self.message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "text": str(params.get("text", "")),
            }
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        return True

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """HTTP/1.1 with keep-alive, as much of it as httpx uses."""
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                path = request_line.split()[1].decode()
                method = path.rsplit("/", 1)[-1]
                text = body.decode()
                if "json" in headers.get("content-type", ""):
                    params: dict[str, Any] = json.loads(text or "{}")
                else:
                    params = dict(parse_qsl(text))
                result = await self.answer(method, params)
                payload = json.dumps({"ok": True, "result": result}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # the bot went away, or the benchmark is over
        finally:
            writer.close()


@dataclass(frozen=True, slots=True)
class Figures:
    """One measured run."""

    answers_per_second: float
    p50_ms: float
    p95_ms: float
    lost: int
    cpu_ms: float = 0.0  # the bot process's CPU time per answer (user + system)


async def ask(emulator: Emulator, user_id: int, text: str) -> float | None:
    """Ask one question as `user_id`; seconds until the first message back (None: none came
    within a minute)."""
    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    emulator.waiting[user_id] = future
    start = time.perf_counter()
    emulator.queue(message_update(text, user_id=user_id))
    try:
        return await asyncio.wait_for(future, 60.0) - start
    except TimeoutError:
        emulator.waiting.pop(user_id, None)
        return None


async def drive(
    emulator: Emulator, people: int, per_person: int, first_id: int, questions: Sequence[str]
) -> Figures:
    """`people` people at once, each asking `per_person` of `questions` one after another."""
    durations: list[float] = []
    lost = 0

    async def person(index: int) -> None:
        nonlocal lost
        for i in range(per_person):
            text = questions[(index * per_person + i) % len(questions)]
            took = await ask(emulator, first_id + index, text)
            if took is None:
                lost += 1
            else:
                durations.append(took)

    start = time.perf_counter()
    await asyncio.gather(*(person(i) for i in range(people)))
    elapsed = time.perf_counter() - start
    durations.sort()
    if not durations:
        raise SystemExit("no answer arrived: the bot answered none of the questions")
    p95 = durations[min(len(durations) - 1, round(0.95 * (len(durations) - 1)))]
    return Figures(
        answers_per_second=len(durations) / elapsed,
        p50_ms=statistics.median(durations) * 1000,
        p95_ms=p95 * 1000,
        lost=lost,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process used so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_process(
    args: Sequence[str], port: int, workdir: Path, extra_env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """A bot process talking to the emulator; its output goes to a log file in `workdir`."""
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "BOT_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "PYTHONPATH": str(ROOT),
        **extra_env,
    }
    log = (workdir / "process.log").open("ab")
    return subprocess.Popen(
        [sys.executable, *args], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an operator stops the bot."""
    terminate(process, 30)


async def measure(
    name: str,
    args: Sequence[str],
    workdir: Path,
    env: dict[str, str],
    people: int,
    per_person: int,
    profile: Path | None,
) -> dict[str, Figures]:
    """Start one bot against a fresh emulator, warm it up, then measure the load of each mix."""
    emulator = Emulator()
    server = await asyncio.start_server(emulator.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if profile is not None:
        args = ["-m", "benchmarks.load", "--profiled-bot", str(profile), *args]
    process = start_process(args, port, workdir, env)
    try:
        started = time.perf_counter()
        await asyncio.wait_for(emulator.polled.wait(), 600)
        print(f"  {name}: polling after {time.perf_counter() - started:.1f} s", flush=True)
        # Warm-up: one person, a few questions (lazy imports, the embedding model's first run).
        for text in WARM_UP:
            await ask(emulator, 900, text)
        results = {}
        for n, (mix, questions) in enumerate(MIXES.items()):
            cpu_before = cpu_seconds(process.pid)
            first_id = 20_000 + (people + 1) * n  # each mix its own people
            figures = await drive(emulator, people, per_person, first_id, questions)
            answers = people * per_person - figures.lost
            cpu = (cpu_seconds(process.pid) - cpu_before) / max(answers, 1) * 1000
            results[mix] = dataclasses.replace(figures, cpu_ms=cpu)
        return results
    finally:
        stop_process(process)
        server.close()


async def main_async(args: argparse.Namespace) -> None:
    """Measure the echo bot and the bot under the same load; print both and the ratio."""
    if args.database_url is None:
        await _measure_both(args, None)
        return
    # A fresh database each run: one left from an earlier run has seen these update ids and
    # would (rightly) drop every update as a redelivery.
    try:
        url = await create_database(args.database_url, prefix="load")
    except (OSError, asyncpg.PostgresError) as error:
        print(f"PostgreSQL at {args.database_url} not usable ({error}): load run skipped")
        return
    try:
        await _measure_both(args, url)
    finally:
        await drop_database(args.database_url, url)


async def _measure_both(args: argparse.Namespace, database_url: str | None) -> None:
    cache = ROOT / "data" / "cache"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bot_env = {
            "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir / 'load.sqlite3'}",
            "SEMANTIC_SEARCH": "true" if args.semantic else "false",
            "EMBEDDING_CACHE_DIR": str(cache),
            "SEND_PER_SECOND": "1000",
            "BROADCAST_PER_SECOND": "28",
            "FLOOD_MESSAGES_PER_MINUTE": "1000",
            "LOG_LEVEL": "WARNING",
        }
        print(
            f"{args.people} people at once, {args.questions} questions each, waiting for each "
            f"answer; semantic layer {'on' if args.semantic else 'off'}; "
            f"cpu count {os.cpu_count()}",
            flush=True,
        )
        echo = await measure(
            "echo", ["-m", "benchmarks.load", "--echo-bot"], workdir, {}, args.people,
            args.questions, None,
        )  # fmt: skip
        bot = await measure(
            "bot", ["-m", "bot", "run"], workdir, bot_env, args.people, args.questions,
            args.profile,
        )  # fmt: skip
    print(
        f"\n{'':>11} {'answers/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'lost':>5} "
        f"{'cpu ms/answer':>14} {'bot/echo':>9}"
    )
    for mix in MIXES:
        for name, figures in ((f"echo {mix}", echo[mix]), (f"bot {mix}", bot[mix])):
            ratio = figures.answers_per_second / echo[mix].answers_per_second
            print(
                f"{name:>11} {figures.answers_per_second:>10.1f} {figures.p50_ms:>8.0f} "
                f"{figures.p95_ms:>8.0f} {figures.lost:>5} {figures.cpu_ms:>14.1f} {ratio:>9.2f}"
            )
    print(
        f"chat: the development set's {len(CHAT)} questions; mix: {len(MIX)} questions of the "
        "other sets, shuffled (a sixth of them long situations)"
    )
    if args.profile:
        print(f"profile of the bot (every thread): python -m pstats {args.profile}")


def run_echo_bot() -> None:
    """A bare python-telegram-bot Application that echoes every text (the reference)."""
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text:
            await message.reply_text(message.text)

    application = (
        Application.builder()
        .token(os.environ["BOT_TOKEN"])
        .base_url(os.environ["BOT_API_BASE_URL"])
        .concurrent_updates(CONCURRENT_UPDATES)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(allowed_updates=Update.ALL_TYPES)


def run_profiled(output: Path, module_args: list[str]) -> None:
    """Run `python -m MODULE ARGS` with cProfile in every thread; merged stats at exit."""
    import cProfile
    import pstats
    import runpy
    import threading

    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def in_thread(frame: Any, event: str, arg: Any) -> None:
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        sys.setprofile(None)
        profile.enable()

    main_profile = cProfile.Profile(time.thread_time)
    profiles.append(main_profile)
    threading.setprofile(in_thread)
    sys.argv = [module_args[1], *module_args[2:]]
    main_profile.enable()
    try:
        runpy.run_module(module_args[1], run_name="__main__", alter_sys=True)
    finally:
        main_profile.disable()
        with lock:
            stats = pstats.Stats(main_profile)
            for profile in profiles[1:]:
                profile.disable()
                with contextlib.suppress(TypeError):  # a thread that never ran any code
                    stats.add(profile)
        stats.dump_stats(output)


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--lexical", dest="semantic", action="store_false", help="no embeddings")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server's URL: the bot runs on a new database there (default: SQLite)",
    )
    parser.add_argument(
        "--profile", type=Path, help="cProfile statistics of the bot (every thread)"
    )
    parser.add_argument("--echo-bot", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profiled-bot", type=Path, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.profiled_bot:
        run_profiled(args.profiled_bot, rest)
        return
    if args.echo_bot:
        run_echo_bot()
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
