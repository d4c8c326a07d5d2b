"""Running the bot process: logging, migrations, then polling or a webhook until a signal."""

from __future__ import annotations

import asyncio
import errno
import logging

from telegram import Update
from telegram.error import TelegramError

from bot.app import build_application, build_services, telegram_failure
from bot.db.migrate import DatabaseUnavailable, upgrade
from bot.logs import configure_logging
from bot.settings import Settings
from handlers.base import BotApplication

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot could not start; the message is one line for the operator, without secrets."""


def run_bot(settings: Settings, *, webhook: bool = False) -> int:
    """Apply migrations, build the application and run it; SIGINT/SIGTERM stop it cleanly.

    Raises StartupError when Telegram rejects the token or the webhook, or cannot be reached.
    """
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    configure_logging(settings.log_level, json_lines=settings.log_json, secrets=[token, secret])
    logger.info("applying database migrations")
    try:
        upgrade(settings.database_url)
    except DatabaseUnavailable as error:
        raise StartupError(f"the database at DATABASE_URL cannot be used: {error}") from None
    application = build_application(build_services(settings))
    logger.info("starting (%s)", "webhook" if webhook else "long polling")
    try:
        _run(application, settings, webhook=webhook, secret=secret)
    except TelegramError as error:
        # Only the start can end this way: once running, PTB retries and handlers report.
        raise StartupError(telegram_failure(error, settings, webhook=webhook)) from None
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        # The webhook's or the health check's port (WEBHOOK_PORT, HEALTH_PORT) is taken.
        raise StartupError(f"{error.strerror or error} (WEBHOOK_PORT or HEALTH_PORT)") from None
    logger.info("stopped")
    return 0


def _run(application: BotApplication, settings: Settings, *, webhook: bool, secret: str) -> None:
    # PTB's loop stays open until the transport is closed: a start that failed (a rejected
    # token) never reaches PTB's own shutdown, and the Bot API connections would be left open.
    try:
        _serve(application, settings, webhook=webhook, secret=secret)
    finally:
        loop = asyncio.get_event_loop()
        try:
            loop.run_until_complete(application.bot.shutdown())
        except Exception as error:  # the start's own error (if any) is what the operator needs
            logger.warning("closing the Bot API connections failed: %s", error)
        finally:
            loop.close()


def _serve(application: BotApplication, settings: Settings, *, webhook: bool, secret: str) -> None:
    if webhook:
        path = settings.webhook_path.strip("/")
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=path,
            webhook_url=f"{settings.webhook_url.rstrip('/')}/{path}",
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
            drop_pending_updates=False,
            close_loop=False,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES, close_loop=False)
