"""Shared fixtures: settings, a real database per test (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set), the search engine, and the real Application on the offline Bot API."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Update

from bot.app import OFFLINE_TOKEN, build_application, build_search, build_services
from bot.db.engine import dispose
from bot.db.migrate import upgrade_async
from bot.db.models import OutboxMessage
from bot.delivery import DeliveryWorker, WorkerConfig
from bot.logs import quiet_libraries
from bot.offline import BOT_USER, Call, OfflineBotApi, callback_update, message_update
from bot.services.container import Services
from bot.settings import Settings
from handlers.base import BotApplication
from knowledge import SearchEngine
from tests.processes import create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "data" / "cache"
COORDINATOR_ID = 9001
OFFICE_CHAT_ID = -100500
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
# A message that is not text: `harness.send(None, extra=STICKER)`.
STICKER = {
    "sticker": {
        "file_id": "s",
        "file_unique_id": "su",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
}

DATABASES = (
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else ["sqlite"]
)


def next_spring_forward() -> date:
    """The next year's last Sunday of March: in Germany the clocks skip from 2:00 to 3:00 that
    night (a date in the future, so tests that type it never expire)."""
    year = date.today().year + 1
    last = date(year, 3, 31)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests, ignoring any .env file and environment of the developer."""
    values: dict[str, Any] = {
        "database_url": "sqlite+aiosqlite:///:memory:",
        "coordinator_ids": (COORDINATOR_ID,),
        "coordinator_chat_id": OFFICE_CHAT_ID,
        "embedding_cache_dir": CACHE_DIR,
        "semantic_search": True,
        "office_contact": "",
        "flood_messages_per_minute": 40,  # long form tests stay under it
        "delivery_worker": False,  # tests drive the worker explicitly
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def search_engine() -> SearchEngine:
    """The bundled knowledge base with the semantic layer, built once per test session."""
    return build_search(make_settings())


@pytest.fixture(scope="session")
def lexical_engine() -> SearchEngine:
    """The bundled knowledge base, lexical layers only."""
    return build_search(make_settings(semantic_search=False))


@pytest.fixture(params=DATABASES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        await upgrade_async(url)
        yield url
        return
    url = await create_pg_database(PG_URL)
    try:
        await upgrade_async(url)
        yield url
    finally:
        await drop_pg_database(url, PG_URL)


SENT_TEXTS: list[str] = []  # every text a simulated person sent in the current test


@pytest.fixture(autouse=True)
def logs_stay_clean(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """For every test of the suite: the captured logs (at DEBUG, with the library caps the bot
    applies) contain neither the bot token nor any text a person sent."""
    quiet_libraries()
    caplog.set_level(logging.DEBUG)
    SENT_TEXTS.clear()
    yield
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert OFFLINE_TOKEN not in logged, "the bot token reached the logs"
    for text in SENT_TEXTS:
        if len(text) >= 12 and not text.startswith("/"):
            assert text not in logged, f"a person's message reached the logs: {text[:40]!r}"


@dataclass
class Harness:
    """The real Application on the offline Bot API, with helpers that act like Telegram users."""

    app: BotApplication
    api: OfflineBotApi
    services: Services

    async def send(self, text: str | None, **kwargs: Any) -> list[Call]:
        """A user sends a message; returns the Bot API calls the bot made in response."""
        if text:
            SENT_TEXTS.append(text)
        return await self.push(message_update(text, **kwargs))

    async def press(self, data: str, **kwargs: Any) -> list[Call]:
        """A user presses an inline button with this callback data."""
        return await self.push(callback_update(data, **kwargs))

    async def push(self, payload: dict[str, Any]) -> list[Call]:
        """Process one raw update as Telegram would deliver it."""
        before = len(self.api.calls)
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        return self.api.calls[before:]

    async def deliver(self, *, later: timedelta = timedelta()) -> list[Call]:
        """The delivery worker sends everything due now (or, with `later`, by then: retries
        after a failure), as the running bot's worker would; returns the Bot API calls it
        made."""
        before = len(self.api.calls)
        services = self.services
        worker = DeliveryWorker(
            self.app.bot,
            services.sessions,
            services.broadcasts,
            services.texts,
            WorkerConfig(name="test-delivery"),
            clock=lambda: services.clock() + later,
        )
        while await worker.run_once():
            pass
        return self.api.calls[before:]

    async def delivered(self, chat_id: int, containing: str) -> dict[str, Any]:
        """The bot's last delivered outbox message in `chat_id` with `containing` in its text,
        as a reply to it names it (Telegram's `reply_to_message`)."""
        async with self.services.sessions() as session:
            rows = await session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.chat_id == chat_id,
                    OutboxMessage.delivered_message_id.is_not(None),
                )
                .order_by(OutboxMessage.id)
            )
            found = [row for row in rows.all() if containing in row.text]
        assert found, f"nothing with {containing!r} was delivered to {chat_id}"
        chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": "Person"}
        if chat_id < 0:
            chat = {"id": chat_id, "type": "supergroup", "title": "Office"}
        return {
            "message_id": found[-1].delivered_message_id,
            "date": 0,
            "chat": chat,
            "from": BOT_USER,
            "text": found[-1].text,
        }


def texts_of(calls: list[Call], method: str = "sendMessage") -> list[str]:
    """The texts of the given calls."""
    return [c.text for c in calls if c.method == method]


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test settings on the fresh database."""
    return make_settings(database_url=database_url)


@asynccontextmanager
async def running(settings: Settings, search: SearchEngine) -> AsyncIterator[Harness]:
    """A started Application (post_init ran) on `settings`' database; stopped on exit, so a
    second one on the same database is the bot after a restart."""
    api = OfflineBotApi()
    services = build_services(settings, search=search)
    app = build_application(services, request=api, rate_limit=False)
    async with app:
        await app.post_init(app)  # type: ignore[misc]
        await app.start()  # job queue (conversation timeouts) runs as in production
        try:
            yield Harness(app=app, api=api, services=services)
        finally:
            await app.stop()
    await dispose(services.sessions, services.readers)


@pytest.fixture
async def harness(settings: Settings, search_engine: SearchEngine) -> AsyncIterator[Harness]:
    """A started Application (post_init ran) for one test."""
    async with running(settings, search_engine) as started:
        yield started
