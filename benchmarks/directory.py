"""Directory of practice at network scale: `python -m benchmarks.directory` (part of `make bench`).

Fills a fresh database with 10,000 examples over 1,000 topics (and the organisation types and
40 places), then times what the bot does per update: the example count behind an answer's
"Beispiele aus dem Netzwerk (N)" button, the first and a later page of a topic, a page by
organisation type and by place, and the choices /beispiele lists. Prints p50 / p99 / max in
milliseconds against the search latency budget (p99 ≤ 60 ms). SQLite always; PostgreSQL too
when TEST_DATABASE_URL is set (a database of its own, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import insert

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade_async
from bot.db.models import Example, utcnow
from bot.db.scratch import scratch_database
from bot.services.directory import DirectoryService
from knowledge import ORGANISATION_TYPES, load_knowledge

TOPICS = 1_000
EXAMPLES = 10_000
PLACES = 40
ROUNDS = 300
BUDGET_MS = 60.0


def _rows() -> list[dict[str, object]]:
    now = utcnow()
    return [
        {
            "key": f"bench:{n}",
            "topic_id": f"topic_{n % TOPICS:04d}",
            "partner": f"Partner {n % 700}",
            "org_type": ORGANISATION_TYPES[n % len(ORGANISATION_TYPES)],
            "region": f"Ort {n % PLACES}",
            "year": 2014 + n % 12,
            "language": "de",
            "done": "Ein Dolmetscherpool aus Beschäftigten, Schulungen für Teamleitungen. " * 3,
            "result": "Weniger Missverständnisse in der Beratung, 25 Beschäftigte machen mit.",
            "created_at": now,
        }
        for n in range(EXAMPLES)
    ]


async def _time(label: str, call: Callable[[int], Awaitable[object]]) -> float:
    for n in range(10):  # warm the connection pool and the statement cache
        await call(n)
    samples = []
    for n in range(ROUNDS):
        start = time.perf_counter()
        await call(n)
        samples.append((time.perf_counter() - start) * 1000)
    p99 = statistics.quantiles(samples, n=100)[98]
    verdict = "ok" if p99 <= BUDGET_MS else "OVER BUDGET"
    print(
        f"  {label:<34} p50 {statistics.median(samples):6.2f}  p99 {p99:6.2f}  "
        f"max {max(samples):6.2f} ms  {verdict}"
    )
    return p99


async def measure(url: str, name: str) -> float:
    """Fill the database at `url` and time the lookups; returns the worst p99."""
    await upgrade_async(url)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions.begin() as session:
            rows = _rows()
            for start in range(0, len(rows), 1_000):
                await session.execute(insert(Example), rows[start : start + 1_000])
        directory = DirectoryService(sessions, load_knowledge())
        print(f"== directory of practice on {name}: {EXAMPLES:,} examples, {TOPICS:,} topics")
        worst = max(
            [
                await _time(
                    "count for an answer's button",
                    lambda n: directory.count(f"topic_{n % TOPICS:04d}"),
                ),
                await _time(
                    "a topic's first page",
                    lambda n: directory.page("topic", f"topic_{n % TOPICS:04d}"),
                ),
                await _time(
                    "a topic's second page",
                    lambda n: directory.page("topic", f"topic_{n % TOPICS:04d}", offset=5),
                ),
                await _time(
                    "a page by organisation type",
                    lambda n: directory.page("type", ORGANISATION_TYPES[n % 8], offset=n % 50 * 5),
                ),
                await _time(
                    "a page by place", lambda n: directory.page("region", f"Ort {n % PLACES}")
                ),
                await _time("choices: organisation types", lambda _n: directory.choices("type")),
                await _time("choices: places", lambda _n: directory.choices("region")),
            ]
        )
        print(f"  worst p99 {worst:.2f} ms (budget {BUDGET_MS:.0f} ms)")
        return worst
    finally:
        await engine.dispose()


async def main() -> None:
    """Run on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set."""
    with tempfile.TemporaryDirectory() as folder:
        await measure(f"sqlite+aiosqlite:///{Path(folder) / 'directory.sqlite3'}", "SQLite")
    pg = os.environ.get("TEST_DATABASE_URL", "")
    if pg:
        async with scratch_database(pg, prefix="vl_bench") as url:
            await measure(url, "PostgreSQL")


if __name__ == "__main__":
    asyncio.run(main())
