"""Apply Alembic migrations from code (the CLI and the bot's start-up call this)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from bot.db.engine import ensure_sqlite_folder

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for `database_url`, without an alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema to `revision` (default: the newest)."""
    ensure_sqlite_folder(database_url)
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """`upgrade` from async code: Alembic's own event loop runs in a worker thread."""
    await asyncio.to_thread(upgrade, database_url, revision)
