"""Running the bot process: logging, migrations, then polling or a webhook until a signal."""

from __future__ import annotations

import logging

from telegram import Update

from bot.app import build_application, build_services
from bot.db.migrate import upgrade
from bot.logs import configure_logging
from bot.settings import Settings

logger = logging.getLogger(__name__)


def run_bot(settings: Settings, *, webhook: bool = False) -> int:
    """Apply migrations, build the application and run it; SIGINT/SIGTERM stop it cleanly."""
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    configure_logging(settings.log_level, json_lines=settings.log_json, secrets=[token, secret])
    logger.info("applying database migrations")
    upgrade(settings.database_url)
    application = build_application(build_services(settings))
    logger.info("starting (%s)", "webhook" if webhook else "long polling")
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
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    logger.info("stopped")
    return 0
