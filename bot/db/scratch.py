"""Throw-away PostgreSQL databases for tests and benchmarks: created empty, dropped with force."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL, make_url


async def _execute_on_server(base: URL, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction, so a plain asyncpg connection to the
    # maintenance database named in the base URL does it, not SQLAlchemy.
    conn = await asyncpg.connect(
        user=base.username or "postgres",
        password=base.password,
        host=base.host or "127.0.0.1",
        port=base.port or 5432,
        database=base.database or "test",
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(base_url: str, *, prefix: str) -> str:
    """A new empty database next to the one `base_url` names; returns its URL."""
    base = make_url(base_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _execute_on_server(base, f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False)


async def drop_database(base_url: str, url: str) -> None:
    """Drop the database `url` names, even with connections still open to it."""
    name = make_url(url).database
    await _execute_on_server(make_url(base_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def scratch_database(base_url: str, *, prefix: str) -> AsyncIterator[str]:
    """The URL of a new empty database for the block; dropped afterwards, whatever happened."""
    url = await create_database(base_url, prefix=prefix)
    try:
        yield url
    finally:
        await drop_database(base_url, url)
