"""Engine and session factory, created once by the composition root."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file (e.g. ./data) if it is missing."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str) -> AsyncEngine:
    """An async engine; for SQLite the folder is created and WAL + foreign keys are switched on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        ensure_sqlite_folder(url)
        # One connection for a database file: SQLite lets one writer in at a time, and a writer
        # waiting on another connection polls with sleeps of up to 100 ms, the tail of every
        # answer under load (20 people asking at once, benchmarks.load: p95 343-602 ms with a
        # pool, 260-335 ms with one connection). Queued here, sessions take turns in
        # order. No session is held across a Telegram call (services do not talk to Telegram)
        # and none is opened inside another, so taking turns cannot deadlock.
        file = parsed.database not in (None, "", ":memory:")
        pool = {"pool_size": 1, "max_overflow": 0} if file else {}
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL is safe against application crashes (only a power cut may lose
            # the last commits) and saves an fsync per commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


READERS = 4  # connections that read a SQLite file next to its one writer


def create_readers(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for the reads on every message's path (what waits for the person's input).

    For a SQLite file these have connections of their own: its one writing connection is busy
    all the time under load (20 people at once: about 1.0 of its time held, mostly waiting for
    the event loop between aiosqlite's calls), and a read queued behind the writes waited
    longer than the search took. In WAL mode readers never wait for the writer and see every
    committed write; these connections are read-only (`query_only`). Elsewhere (PostgreSQL
    has a pool, an in-memory SQLite is one connection's) the engine's own sessions.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return create_sessionmaker(engine)
    readers = create_async_engine(
        url, connect_args={"timeout": 30}, pool_size=READERS, max_overflow=0
    )

    @event.listens_for(readers.sync_engine, "connect")
    def _read_only(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return create_sessionmaker(readers)


async def dispose(*makers: async_sessionmaker[AsyncSession]) -> None:
    """Close the connections of the engines behind these session factories (each once)."""
    engines = {id(b): b for m in makers if isinstance(b := m.kw.get("bind"), AsyncEngine)}
    for engine in engines.values():
        await engine.dispose()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
