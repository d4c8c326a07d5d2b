"""One place where errors end: logged once with context, the person gets a friendly message."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError

from handlers.base import BotContext, cached_language, not_modified

logger = logging.getLogger(__name__)


async def report_error(update: object, context: BotContext) -> None:
    """Log the error without message text or token, then apologise to the person."""
    error = context.error
    if error is not None and not_modified(error):
        # An edit that changed nothing: the message already shows what was asked for.
        logger.debug("edit without change ignored")
        return
    if isinstance(update, Update):
        # No chat id, user id or text: logs carry no personal data.
        kind = "callback" if update.callback_query else "message" if update.message else "other"
        logger.error(
            "error handling update %s (%s): %s",
            update.update_id,
            kind,
            error.__class__.__name__,
            exc_info=error,
        )
    else:
        logger.error("error outside an update: %s", error.__class__.__name__, exc_info=error)
        return
    # BadRequest is a NetworkError in PTB, but it is our bug (a bad edit, a bad reply), and the
    # person still waits for an answer: only a blocked bot or a real network failure stays quiet.
    unreachable = isinstance(error, Forbidden) or (
        isinstance(error, NetworkError) and not isinstance(error, BadRequest)
    )
    if unreachable or update.effective_chat is None:
        return
    lang = cached_language(context, update.effective_user)
    try:
        await context.bot.send_message(
            update.effective_chat.id, context.services.texts.get(lang, "common.error")
        )
    except Exception:
        logger.warning("could not send the error message for update %s", update.update_id)
