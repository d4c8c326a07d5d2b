"""Delivery benchmarks: `python -m benchmarks.delivery [--recipients N] [--quick]`.

1. Throughput: a broadcast to N subscribers (default 5,000) through the real worker, pacer and
   PTB bot, against a fake Bot API (benchmarks.fake_telegram, its own process) that answers in
   50 ms and refuses more than 30 messages in any second with 429.
2. Enqueue: 100,000 recipients written by one INSERT … SELECT; worker memory while delivering.
3. Crash: `python -m bot worker` killed with SIGKILL 10 times mid-broadcast and restarted at
   once; recipients lost (must be 0), duplicates (at most the messages in flight), and how long
   after each restart delivery resumed (the heartbeat releases the dead worker's rows; the
   lease stays at its default of 60 s).
4. PostgreSQL (when TEST_DATABASE_URL or BENCH_DATABASE_URL is set): claim + mark per message.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import ExtBot

from bot.db import outbox
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade_async
from bot.db.models import Chat, utcnow
from bot.db.scratch import scratch_database
from bot.delivery import DeliveryWorker, PacedRateLimiter, WorkerConfig
from bot.services.broadcasts import AudienceFilter, BroadcastService
from bot.services.pacing import Pacer
from bot.texts import Texts
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


class FakeTelegram:
    """benchmarks.fake_telegram in a subprocess."""

    def __init__(self, log: Path | None = None, latency: float = 0.05) -> None:
        self.port = free_port()
        args = [
            sys.executable,
            "-m",
            "benchmarks.fake_telegram",
            "--port",
            str(self.port),
            "--latency",
            str(latency),
        ]
        if log:
            args += ["--log", str(log)]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.process.stdout.readline()  # "ready"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as response:
            data: dict[str, int] = json.loads(response.read())
            return data

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


async def _add_subscribers(url: str, count: int) -> None:
    engine = create_engine(url)
    now = utcnow()
    async with engine.begin() as conn:
        for start in range(0, count, 10_000):
            await conn.execute(
                insert(Chat),
                [
                    {
                        "chat_id": 1_000_000 + i,
                        "kind": "private",
                        "language": "de",
                        "notices": True,
                        "opted_out": False,
                        "plain_language": False,
                        "active": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(start + 10_000, count))
                ],
            )
    await engine.dispose()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True, slots=True)
class _Scheduled:
    """A scratch SQLite database with subscribers and one broadcast to them scheduled."""

    folder: str
    url: str
    sessions: async_sessionmaker[AsyncSession]
    texts: Texts
    broadcasts: BroadcastService


@contextlib.asynccontextmanager
async def _scheduled(name: str, recipients: int, text: str) -> AsyncIterator[_Scheduled]:
    """A migrated SQLite file in a temporary folder, `recipients` subscribers, and a broadcast
    of `text` to them scheduled (not started yet); the folder goes afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/{name}.sqlite3"
        await upgrade_async(url)
        await _add_subscribers(url, recipients)
        engine = create_engine(url)
        sessions, texts = create_sessionmaker(engine), Texts.load()
        broadcasts = BroadcastService(sessions, texts)
        await broadcasts.schedule(created_by=1, text=text, recipients=AudienceFilter("subscribers"))
        try:
            yield _Scheduled(tmp, url, sessions, texts, broadcasts)
        finally:
            await engine.dispose()


async def throughput(recipients: int) -> None:
    """Sustained rate and 429s for one broadcast at the default pacing."""
    async with _scheduled("bench", recipients, "Benchmark-Hinweis") as scratch:
        sessions, texts, broadcasts = scratch.sessions, scratch.texts, scratch.broadcasts
        start = time.perf_counter()
        [started] = await broadcasts.start_due()
        enqueue_s = time.perf_counter() - start
        fake = FakeTelegram()
        bot: ExtBot[dict[str, Any]] = ExtBot(
            "1:bench", base_url=fake.base_url, rate_limiter=PacedRateLimiter(Pacer())
        )
        rss_before = _rss_mb()
        worker = DeliveryWorker(bot, sessions, broadcasts, texts, WorkerConfig(name="bench"))
        async with bot:
            start = time.perf_counter()
            while await worker.run_once():
                pass
            elapsed = time.perf_counter() - start
        stats = fake.stats()
        fake.stop()
        state = await _progress(scratch.url, started.id)
        print(f"\n== throughput: broadcast to {recipients} subscribers (fake API: 50 ms, max 30/s)")
        print(f"enqueue:    {enqueue_s:.2f} s (one INSERT … SELECT)")
        print(f"delivered:  {state.sent} sent, {state.failed} failed, {state.pending} pending")
        print(f"sustained:  {state.sent / elapsed:.1f} messages/s over {elapsed:.1f} s")
        print(f"429 answers from the fake API:  {stats['rejected']}")
        print(
            f"worker peak RSS:                {rss_before:.0f} MB before, {_rss_mb():.0f} MB after"
        )


async def _progress(url: str, broadcast_id: int) -> outbox.Progress:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as session:
        state = await outbox.progress(session, kind="broadcast", ref_id=broadcast_id)
    await engine.dispose()
    return state


async def enqueue_large(count: int) -> None:
    """Time to enqueue `count` recipients, and memory of doing it."""
    async with _scheduled("big", count, "Hinweis") as scratch:
        rss = _rss_mb()
        start = time.perf_counter()
        [started] = await scratch.broadcasts.start_due()
        elapsed = time.perf_counter() - start
        print(f"\n== enqueue {count} recipients (SQLite)")
        print(f"rows: {started.recipients} in {elapsed:.2f} s")
        print(f"peak RSS: {rss:.0f} MB before, {_rss_mb():.0f} MB after")


async def crash_and_resume(recipients: int, kills: int) -> None:
    """SIGKILL the worker process repeatedly; count lost and duplicated messages."""
    async with _scheduled("crash", recipients, "Crash-Test") as scratch:
        tmp, url = scratch.folder, scratch.url
        await scratch.broadcasts.start_due()
        log = Path(tmp) / "deliveries.tsv"
        fake = FakeTelegram(log=log)
        env = {
            **os.environ,
            "BOT_TOKEN": "1:bench",
            "BOT_API_BASE_URL": fake.base_url,
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        state, delays = await asyncio.to_thread(
            _kill_and_restart, tmp, env, kills, url, recipients, log
        )
        fake.stop()
        counts = collections.Counter(
            int(line.split("\t")[0]) for line in log.read_text().splitlines()
        )
        expected = {1_000_000 + i for i in range(recipients)}
        lost = len(expected - set(counts))
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        print(f"\n== crash and resume: {kills} x SIGKILL of the worker, {recipients} recipients")
        print(f"lost: {lost}   duplicates: {duplicates} (bound: in flight per kill x {kills})")
        print(f"final state: {state.sent} sent, {state.failed} failed, {state.pending} pending")
        firsts, released = [d[0] for d in delays], [d[1] for d in delays]
        print("after each restart (lease 60 s, heartbeat 2 s; the new process's start included):")
        print(
            f"  first message sent:                   median {statistics.median(firsts):.1f} s, "
            f"max {max(firsts):.1f} s"
        )
        print(
            f"  the killed worker's messages released: median "
            f"{statistics.median(released):.1f} s, max {max(released):.1f} s "
            f"({', '.join(f'{d:.1f}' for d in released)})"
        )


def _kill_and_restart(
    tmp: str, env: dict[str, str], kills: int, url: str, recipients: int, log: Path
) -> tuple[outbox.Progress, list[tuple[float, float]]]:
    """Start the worker process and SIGKILL it 2-4 s into sending, `kills` times, restarting it
    at once each time; then let it finish. Returns the final state and, per restart, the seconds
    from starting the new process to the first message it delivered."""
    rng = random.Random(11)
    command = [sys.executable, "-m", "bot", "worker"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    delays: list[tuple[float, float]] = []
    database = url.split("///", 1)[1]
    worker = subprocess.Popen(command, cwd=tmp, env=env, **quiet)  # type: ignore[call-overload]
    for _ in range(kills):
        time.sleep(rng.uniform(2.0, 4.0))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        time.sleep(0.2)  # answers to requests that were on the wire land in the log
        delivered = _lines(log)
        dead = set(_holding(database))  # the killed worker, holding what was in flight
        restarted = time.monotonic()
        worker = subprocess.Popen(command, cwd=tmp, env=env, **quiet)  # type: ignore[call-overload]
        first: float | None = None
        released: float | None = None
        while first is None or released is None:
            elapsed = time.monotonic() - restarted
            if first is None and _lines(log) > delivered:
                first = elapsed
            if released is None and not any(_holding(database)[name] for name in dead):
                released = elapsed
            if elapsed > 180:
                raise RuntimeError("delivery did not resume within 180 s")
            time.sleep(0.05)
        delays.append((first, released))
    deadline = time.monotonic() + recipients / 20 + 120
    state = asyncio.run(_progress(url, 1))
    while time.monotonic() < deadline and state.pending:
        time.sleep(1)
        state = asyncio.run(_progress(url, 1))
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    return state, delays


def _holding(database: str) -> collections.Counter[str]:
    """Rows in `sending` per worker."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        rows = connection.execute(
            "SELECT worker FROM outbox WHERE status = 'sending' AND worker IS NOT NULL"
        ).fetchall()
    return collections.Counter(name for (name,) in rows)


def _lines(path: Path) -> int:
    """Messages the fake Bot API accepted so far."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


async def postgres_claim_mark(url: str, rows: int = 5_000) -> None:
    """Milliseconds per message for claim (batches of 100) + mark sent, on PostgreSQL."""
    async with scratch_database(url, prefix="vl_bench") as target:
        await upgrade_async(target)
        engine = create_engine(target)
        sessions = create_sessionmaker(engine)
        now = utcnow()
        async with sessions.begin() as session:
            for i in range(rows):
                await outbox.enqueue(
                    session, key=f"b:{i}", chat_id=i, kind="broadcast", text="x", now=now
                )
        start = time.perf_counter()
        done = 0
        while done < rows:
            async with sessions.begin() as session:
                batch = await outbox.claim_due(
                    session, worker="bench", now=utcnow(), limit=100, lease=timedelta(minutes=1)
                )
            for row in batch:
                # As the worker does for a fresh batch: send, then record the outcome (the lease
                # is re-checked only for rows that waited a third of the lease).
                async with sessions.begin() as session:
                    await outbox.mark_sent(session, message_id=row.id, now=utcnow(), worker="bench")
            done += len(batch)
        elapsed = time.perf_counter() - start
        async with engine.connect() as c:
            version = (await c.execute(text("show server_version"))).scalar()
        await engine.dispose()
        print(f"\n== PostgreSQL {version}: claim (batches of 100, as the worker) + mark sent")
        print(f"{rows} messages in {elapsed:.2f} s = {elapsed / rows * 1000:.2f} ms per message")


async def main_async(args: argparse.Namespace) -> None:
    await throughput(args.recipients)
    await enqueue_large(args.enqueue)
    await crash_and_resume(args.crash_recipients, args.kills)
    pg = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if pg:
        await postgres_claim_mark(pg)
    else:
        print("\n(PostgreSQL figures skipped: set BENCH_DATABASE_URL or TEST_DATABASE_URL)")


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=5_000)
    parser.add_argument("--enqueue", type=int, default=100_000)
    # Enough that the broadcast outlasts the kills (about 30 messages/s).
    parser.add_argument("--crash-recipients", type=int, default=2_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="small numbers, for trying it out")
    args = parser.parse_args()
    if args.quick:
        args.recipients, args.enqueue, args.crash_recipients, args.kills = 300, 10_000, 600, 3
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
