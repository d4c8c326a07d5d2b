"""Two bot processes, alternated flows: `python -m benchmarks.two_processes`.

Two real `python -m bot run --webhook` processes (each with its delivery worker) share one
fresh PostgreSQL database; a Bot API emulator over HTTP (tests.fake_bot_api) answers both.
Every person's updates go to the two processes' ports in turn, as a port-splitting proxy
would, each only after the bot answered the one before (a person waits for the answer). Several
people at once: J organisations fill in the /join form up to submitting it, C coordinators
write B notices with /broadcast and send them to S subscribers (default 50 + 50 flows).

Afterwards it checks in the database and in what the emulator received that every step took
effect exactly once: J complete requests, every notice delivered to every subscriber once,
no error, "expired" or "already done" reply. Prints flows, steps, lost steps (unanswered, or
an effect missing), duplicate effects, error replies, wall time and p50/p95 step latency (from
posting an update to the bot's answer in that chat). Exit code 1 when anything was lost or
doubled. Database: BENCH_DATABASE_URL, TEST_DATABASE_URL or the local default below; a new
database per run, dropped afterwards; without a reachable PostgreSQL it says so and skips.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models import Broadcast, OnboardingRequest, OutboxMessage, OutboxStatus
from bot.texts import Texts
from tests.processes import (
    NoAnswer,
    Person,
    Step,
    Webhooks,
    broadcast_steps,
    join_steps,
    scratch_pg_database,
    webhook_processes,
)

DEFAULT_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
FIRST_COORDINATOR = 9001
FIRST_SUBSCRIBER = 7001
FIRST_ORGANISATION = 6001
# Replies that mean a step was taken for a stale or foreign state, or failed.
ERROR_KEYS = ("common.error", "common.expired_button", "common.already_done", "common.slow_down")


@dataclass
class Tally:
    """What the flows saw, filled by several threads (list.append is atomic)."""

    latencies: list[float] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    flows_done: list[str] = field(default_factory=list)
    planned: list[int] = field(default_factory=list)  # each flow's number of steps


def _organisation(number: int) -> str:
    return f"Verein Lauf {number:03d}"


def _notice(number: int) -> str:
    return f"Fachtag Notiz-{number:03d} am Freitag in Köln"


def _steps(tally: Tally, flow: str, steps: list[Step]) -> None:
    """Take the steps in order; the first unanswered one ends the flow (a person gives up)."""
    tally.planned.append(len(steps))
    for number, step in enumerate(steps, 1):
        try:
            answer = step()
        except NoAnswer as error:
            tally.unanswered.append(f"{flow} step {number}: {error}"[:300])
            return
        tally.latencies.append(answer.seconds)
    tally.flows_done.append(flow)


def join_flow(hooks: Webhooks, tally: Tally, number: int, again: float) -> None:
    """One organisation's /join form, step by step up to the submitted request."""
    person = Person(hooks, FIRST_ORGANISATION + number, again=again)
    steps = join_steps(
        person, _organisation(number), f"Kontakt {number}", f"k{number}@lauf.example"
    )
    _steps(tally, f"join {number}", steps)


def broadcast_flows(
    hooks: Webhooks,
    tally: Tally,
    coordinator: int,
    notices: list[int],
    subscribers: int,
    again: float,
) -> None:
    """One coordinator writes and sends notices one after the other."""
    person = Person(hooks, coordinator, again=again)
    for number in notices:
        _steps(tally, f"broadcast {number}", broadcast_steps(person, _notice(number), subscribers))


@dataclass(frozen=True, slots=True)
class Effects:
    """What the database and the emulator show after the run."""

    requests_missing: int
    requests_doubled: int
    broadcasts_missing: int
    broadcasts_doubled: int
    deliveries_missing: int
    deliveries_doubled: int
    pending: int


async def _stored(url: str) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """Complete requests per organisation, broadcasts per text, outbox rows not yet final."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = (await session.execute(select(OnboardingRequest))).scalars().all()
            requests = collections.Counter(
                row.org_name
                for row in rows
                if row.org_type == "association"
                and row.place == "Köln"
                and row.size == "s"
                and row.contact_name.startswith("Kontakt ")
                and row.email.endswith("@lauf.example")
                and row.measure_ids
                and row.timeframe == "2027"
                and row.consent_at is not None
            )
            texts = (await session.execute(select(Broadcast.text))).scalars().all()
            open_rows = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)))
            )
    finally:
        await engine.dispose()
    return requests, collections.Counter(texts), int(open_rows or 0)


def check(hooks: Webhooks, url: str, joins: int, notices: int, subscribers: set[int]) -> Effects:
    """Wait for the workers to deliver, then count missing and doubled effects."""
    deadline = time.monotonic() + 120
    while True:
        requests, broadcasts, pending = asyncio.run(_stored(url))
        if pending == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(1.0)  # a duplicate in flight would have arrived by now
    delivered = collections.Counter(
        (str(p.get("text")), int(p.get("chat_id") or 0))
        for name, p in list(hooks.api.calls)
        if name == "sendMessage" and int(p.get("chat_id") or 0) in subscribers
    )
    per_notice: collections.Counter[tuple[int, int]] = collections.Counter()
    for (text, chat), count in delivered.items():
        for number in range(1, notices + 1):
            if _notice(number) in text:
                per_notice[number, chat] += count
    wanted = [(n, chat) for n in range(1, notices + 1) for chat in subscribers]
    stored_notices = [
        sum(c for t, c in broadcasts.items() if _notice(n) in t) for n in range(1, notices + 1)
    ]
    return Effects(
        requests_missing=sum(1 for n in range(1, joins + 1) if requests[_organisation(n)] == 0),
        requests_doubled=sum(max(c - 1, 0) for c in requests.values()),
        broadcasts_missing=sum(1 for c in stored_notices if c == 0),
        broadcasts_doubled=sum(max(c - 1, 0) for c in stored_notices),
        deliveries_missing=sum(1 for key in wanted if per_notice[key] == 0),
        deliveries_doubled=sum(max(per_notice[key] - 1, 0) for key in wanted),
        pending=pending,
    )


def error_replies(hooks: Webhooks, people: set[int]) -> list[str]:
    """Error, "expired" and "already done" answers the bench's people got."""
    texts = Texts.load()
    markers = [str(texts.get(lang, key)) for lang in ("de", "en") for key in ERROR_KEYS]
    return [
        f"{name} → {params.get('chat_id') or 'press'}: {params.get('text')}"
        for name, params in list(hooks.api.calls)
        if (int(params.get("chat_id") or 0) in people or name == "answerCallbackQuery")
        and any(marker in str(params.get("text", "")) for marker in markers)
    ]


def _percentile(values: list[float], share: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def run(url: str, args: argparse.Namespace) -> int:
    """The benchmark on the migrated database `url`; the exit code."""
    coordinators = [FIRST_COORDINATOR + i for i in range(args.coordinators)]
    subscribers = {FIRST_SUBSCRIBER + i for i in range(args.subscribers)}
    organisations = {FIRST_ORGANISATION + n for n in range(1, args.joins + 1)}
    tally = Tally()
    with (
        tempfile.TemporaryDirectory() as home,
        webhook_processes(
            Path(home),
            url,
            COORDINATOR_IDS=",".join(map(str, coordinators)),
            # A coordinator here writes a notice every few seconds, more updates a minute
            # than a person is allowed; the flood guard is not what this measures.
            FLOOD_MESSAGES_PER_MINUTE="600",
        ) as hooks,
    ):
        for subscriber in sorted(subscribers):
            Person(hooks, subscriber).send("/subscribe", "Hinweise auf Veranstaltungen")
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            jobs = [
                pool.submit(
                    broadcast_flows,
                    hooks,
                    tally,
                    coordinator,
                    list(range(index + 1, args.broadcasts + 1, len(coordinators))),
                    len(subscribers),
                    args.again,
                )
                for index, coordinator in enumerate(coordinators)
            ]
            jobs += [
                pool.submit(join_flow, hooks, tally, number, args.again)
                for number in range(1, args.joins + 1)
            ]
            for job in jobs:
                job.result()
        flows_seconds = time.monotonic() - started
        effects = check(hooks, url, args.joins, args.broadcasts, subscribers)
        wall = time.monotonic() - started
        errors = error_replies(hooks, organisations | set(coordinators) | subscribers)

    flows = args.joins + args.broadcasts
    steps = sum(tally.planned)
    lost_effects = (
        effects.requests_missing + effects.broadcasts_missing + effects.deliveries_missing
    )
    lost = len(tally.unanswered) + lost_effects
    doubled = effects.requests_doubled + effects.broadcasts_doubled + effects.deliveries_doubled
    latencies = sorted(tally.latencies)
    print(
        f"two processes, alternated: {args.joins} /join forms + {args.broadcasts} /broadcast "
        f"notices by {len(coordinators)} coordinators to {len(subscribers)} subscribers, "
        f"{args.concurrency} people at once, {args.again:.0%} of the updates delivered twice"
    )
    print(f"  flows completed       {len(tally.flows_done)}/{flows}")
    print(f"  steps answered        {len(latencies)}/{steps}")
    print(
        f"  lost steps            {lost} (unanswered {len(tally.unanswered)}, requests missing "
        f"{effects.requests_missing}, notices missing {effects.broadcasts_missing}, deliveries "
        f"missing {effects.deliveries_missing} of {args.broadcasts * len(subscribers)})"
    )
    print(
        f"  duplicate effects     {doubled} (requests {effects.requests_doubled}, notices "
        f"{effects.broadcasts_doubled}, deliveries {effects.deliveries_doubled})"
    )
    print(f"  error replies         {len(errors)}")
    print(f"  wall time             {wall:.1f} s (flows {flows_seconds:.1f} s, then delivery)")
    print(
        f"  step latency          p50 {_percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p95 {_percentile(latencies, 0.95) * 1000:.0f} ms"
    )
    for line in tally.unanswered[:5] + errors[:5]:
        print(f"    {line}")
    if effects.pending:
        print(f"    {effects.pending} outbox messages still not delivered after 120 s")
    return 1 if lost or doubled or errors else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, make a database, run, drop the database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--joins", type=int, default=50, help="/join flows (default 50)")
    parser.add_argument("--broadcasts", type=int, default=50, help="/broadcast flows (50)")
    parser.add_argument("--coordinators", type=int, default=5, help="coordinators (5)")
    parser.add_argument("--subscribers", type=int, default=10, help="subscribers (10)")
    parser.add_argument("--concurrency", type=int, default=10, help="people at once (10)")
    parser.add_argument(
        "--again",
        type=float,
        default=0.2,
        help="share of updates delivered a second time, to the other process, at once, as "
        "Telegram or a proxy does after a late answer (0.2)",
    )
    args = parser.parse_args(argv)
    base = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or DEFAULT_DATABASE
    )
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_pg_database(base))
        except (OSError, asyncpg.PostgresError) as error:
            where = make_url(base).set(password=None).render_as_string()
            print(f"two processes: skipped, PostgreSQL is not reachable at {where} ({error})")
            return 0
        return run(url, args)


if __name__ == "__main__":
    sys.exit(main())
