"""Writes that are safe to repeat: `INSERT … ON CONFLICT` on SQLite and PostgreSQL alike.

Two updates of one person can arrive at the same moment (a double tap, two quick messages);
a read-then-insert lets both see "missing" and the second insert fail. These helpers let the
database decide in one statement instead, and `lock_rows` serialises a read-decide-write
sequence where no unique key can (e.g. "reuse a valid invite, else create one").
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """The INSERT of the session's database, which knows ON CONFLICT."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


async def insert_missing(
    session: AsyncSession, model: type[Any], *, key: Sequence[str], values: Mapping[str, object]
) -> bool:
    """Insert the row unless one with the same `key` columns exists; True if it was inserted."""
    statement = dialect_insert(session, model).values(**values)
    result = await session.execute(statement.on_conflict_do_nothing(index_elements=list(key)))
    return bool(getattr(result, "rowcount", 0))


async def upsert(
    session: AsyncSession,
    model: type[Any],
    *,
    key: Sequence[str],
    values: Mapping[str, object],
    update_values: Mapping[str, object] | None = None,
) -> None:
    """Insert the row, or update the existing one with the same `key` columns.

    `update_values` (default: every non-key value) is what an existing row gets; a value may be
    an SQL expression such as `Model.count + 1`.
    """
    statement = dialect_insert(session, model).values(**values)
    changes = (
        update_values
        if update_values is not None
        else {name: value for name, value in values.items() if name not in key}
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=list(key), set_=dict(changes))
    )


async def lock_rows(session: AsyncSession, model: type[Any], *where: ColumnElement[bool]) -> None:
    """Hold the write lock on the matching rows until the transaction ends.

    A no-op UPDATE: PostgreSQL locks the rows, SQLite takes its database write lock (it has
    no row locks). Concurrent transactions that lock the same rows run one after the other.
    """
    primary = model.__table__.primary_key.columns
    column = next(iter(primary))
    statement = update(model).where(*where).values({column.name: column})
    await session.execute(statement.execution_options(synchronize_session=False))


async def lock_name(session: AsyncSession, name: str) -> None:
    """Hold the lock called `name` until the transaction ends: transactions that take the
    same name run one after the other, whatever rows they read or write.

    For a decision made on rows read, which another transaction may change meanwhile, where
    the rows themselves cannot be locked (they may not exist yet). PostgreSQL: a
    transaction-level advisory lock. SQLite: nothing to do, its one writing connection runs
    one transaction at a time (bot.db.engine).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    await session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest, signed=True))))
