"""Q&A round trips per second through the real Application: `python -m benchmarks.throughput`.

Compares the bot (flood guard, database, search, rendering) with a bare echo Application in the
same run and on the same transport: the offline Bot API, optionally answering each call after a
delay that stands in for the network round trip to Telegram. Many users ask at once; each waits
for its answer before asking again, as a person in a chat does.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.app import OFFLINE_TOKEN, build_application, build_search, build_services
from bot.db.engine import dispose
from bot.db.migrate import upgrade_async
from bot.offline import OfflineBotApi, message_update
from bot.settings import Settings
from knowledge import SearchEngine
from knowledge.evaluation import load_questions

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [q.text for q in load_questions(ROOT / "tests" / "data" / "questions_dev.yaml")]


class SlowOfflineBotApi(OfflineBotApi):
    """The offline Bot API with a fixed delay per call, like a network round trip."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def before(self, method: str) -> None:
        """Wait like a network round trip, then answer."""
        if self.delay:
            await asyncio.sleep(self.delay)


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message and update.effective_message.text:
        await update.effective_message.reply_text(update.effective_message.text)


async def drive(
    app: Application[Any, Any, Any, Any, Any, Any], users: int, per_user: int
) -> tuple[float, float]:
    """(round trips per second, median round trip ms) for `users` concurrent askers."""
    durations: list[float] = []

    async def user(user_id: int) -> None:
        for i in range(per_user):
            text = QUESTIONS[(user_id * 7 + i) % len(QUESTIONS)]
            update = Update.de_json(message_update(text, user_id=user_id), app.bot)
            start = time.perf_counter()
            await app.process_update(update)
            durations.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(user(10_000 + u) for u in range(users)))
    elapsed = time.perf_counter() - start
    return users * per_user / elapsed, statistics.median(durations) * 1000


async def main_async() -> None:
    """Print both Applications' figures for several transport delays and layer settings."""
    print("each user asks, waits for the answer, asks again; offline Bot API\n")
    print(
        f"{'users':>5} {'delay':>6} {'semantic':>8} {'echo rt/s':>10} {'bot rt/s':>9} "
        f"{'ratio':>6} {'bot median ms':>14}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for semantic in (False, True):
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=f"sqlite+aiosqlite:///{tmp}/bench-{semantic}.sqlite3",
                semantic_search=semantic,
                embedding_cache_dir=ROOT / "data" / "cache",
                flood_messages_per_minute=10_000,
            )
            await upgrade_async(settings.database_url)
            search = build_search(settings)
            for users, per_user in ((1, 40), (20, 10)):
                for delay in (0.0, 0.05):
                    echo_rate, bot_rate, median = await _compare(
                        settings, search, users, per_user, delay
                    )
                    print(
                        f"{users:>5} {delay * 1000:>4.0f}ms {'on' if semantic else 'off':>8} "
                        f"{echo_rate:>10.1f} {bot_rate:>9.1f} {bot_rate / echo_rate:>6.2f} "
                        f"{median:>14.1f}"
                    )
    print(f"\n(cpu count: {os.cpu_count()})")


async def _compare(
    settings: Settings, search: SearchEngine, users: int, per_user: int, delay: float
) -> tuple[float, float, float]:
    echo_api = SlowOfflineBotApi(delay)
    echo = (
        Application.builder()
        .token(OFFLINE_TOKEN)
        .request(echo_api)
        .get_updates_request(echo_api)
        .build()
    )
    echo.add_handler(MessageHandler(filters.TEXT, _echo))
    async with echo:
        echo_rate, _ = await drive(echo, users, per_user)
    services = build_services(settings, search=search)
    bot = build_application(services, request=SlowOfflineBotApi(delay), rate_limit=False)
    async with bot:
        bot_rate, median = await drive(bot, users, per_user)
    await dispose(services.sessions, services.readers)
    return echo_rate, bot_rate, median


def main() -> None:
    """Entry point."""
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
