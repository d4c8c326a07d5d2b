"""Logging set-up: one line per event, optional JSON, and secrets scrubbed from every record."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret (of more than four characters) replaced by "[redacted]"."""
    for secret in secrets:
        if secret and len(secret) > 4:
            text = text.replace(secret, "[redacted]")
    return text


# PTB's network loop logs a traceback when it gives up at start-up (a rejected token, an
# unreachable API, a refused webhook); `python -m bot run` says why in one line instead.
_GIVING_UP = "Network Retry Loop ("


class RedactSecrets(logging.Filter):
    """Replaces the bot token (and any other given secret) in log messages, their arguments
    and their tracebacks (an exception's text may quote the token)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) > 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram") and record.getMessage().startswith(_GIVING_UP):
            record.exc_info, record.exc_text = None, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if self._secrets:
            message = record.getMessage()
            if any(s in message for s in self._secrets):
                record.msg, record.args = redact(message, self._secrets), None
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
        error = record.exc_text or (
            self.formatException(record.exc_info) if record.exc_info else ""
        )
        if error:
            payload["error"] = error
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
# (aiohttp, httpx), message texts in API parameters and updates (telegram at DEBUG), SQL parameters
# with people's answers (aiosqlite, sqlalchemy). They log at most this level, whatever LOG_LEVEL.
_LIBRARY_LEVELS = {
    "aiohttp": logging.WARNING,
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
