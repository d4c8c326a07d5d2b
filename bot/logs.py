"""Logging set-up: one line per event, optional JSON, and secrets scrubbed from every record."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class RedactSecrets(logging.Filter):
    """Replaces the bot token (and any other given secret) in log messages and arguments."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) > 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            if any(s in message for s in self._secrets):
                for secret in self._secrets:
                    message = message.replace(secret, "[redacted]")
                record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["error"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(
    level: str = "INFO", *, json_lines: bool = False, secrets: list[str] | None = None
) -> None:
    """Configure the root logger once for the process."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets(secrets or []))
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_libraries()


# Libraries whose detailed logs carry what must not be logged: the token in request URLs
# (httpx), message texts in API parameters and updates (telegram at DEBUG), SQL parameters
# with people's answers (aiosqlite, sqlalchemy). They log at most this level, whatever LOG_LEVEL.
_LIBRARY_LEVELS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram": logging.INFO,
    "aiosqlite": logging.INFO,
    "sqlalchemy.engine": logging.WARNING,
    "apscheduler": logging.WARNING,
    "tornado.access": logging.WARNING,
}


def quiet_libraries() -> None:
    """Keep libraries from logging tokens, message texts or SQL parameters."""
    for name, level in _LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(level)
