"""Apply Alembic migrations from code (the CLI and the bot's start-up call this)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.db.engine import create_engine, ensure_sqlite_folder

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for `database_url`, without an alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


class DatabaseUnavailable(Exception):
    """The database at DATABASE_URL cannot be opened; the message is one line without secrets."""


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema to `revision` (default: the newest).

    The migration is every command's first contact with the database: a database that cannot
    be reached or opened raises DatabaseUnavailable, said in one line. A migration that fails
    on a database that opened is a bug or a damaged schema and keeps its traceback.
    """
    try:
        ensure_sqlite_folder(database_url)
        if make_url(database_url).get_backend_name() == "sqlite":
            _probe_sqlite(database_url)
        else:
            asyncio.run(_probe(database_url))
    except (DBAPIError, OSError, sqlite3.Error) as error:
        raise DatabaseUnavailable(_reason(error, database_url)) from None
    command.upgrade(alembic_config(database_url), revision)


async def _probe(database_url: str) -> None:
    """Open one connection and ask for nothing."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def _probe_sqlite(database_url: str) -> None:
    """Open the SQLite file with the standard library: aiosqlite's connection thread, when the
    file cannot be opened, may still report to the probe's event loop after it closed, and
    print that traceback at exit."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return
    connection = sqlite3.connect(database)
    try:
        connection.execute("SELECT 1")
    finally:
        connection.close()


def _reason(error: BaseException, database_url: str) -> str:
    """What went wrong, in the driver's words (its first line), with the URL's password out."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    words = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    password = make_url(database_url).password
    if password:
        words = words.replace(str(password), "***")
    return words


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """`upgrade` from async code: Alembic's own event loop runs in a worker thread."""
    await asyncio.to_thread(upgrade, database_url, revision)
