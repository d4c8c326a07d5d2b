"""/cancel: whatever waits for the person's next message stops waiting."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from handlers import join
from handlers.base import PENDING_DUE, PENDING_REVIEW, BotContext, Turn, clear_pending, on_turn


@on_turn
async def cancel(turn: Turn) -> None:
    """/cancel: a coordinator's pending decline/ask-back or due date, else the /join form
    (its draft deleted)."""
    if clear_pending(turn.context, PENDING_REVIEW, PENDING_DUE):
        await turn.respond("common.cancelled")
        return
    if await turn.services.onboarding.discard(chat_id=turn.chat.id):
        join.forget_draft(turn.context)
        await turn.respond("onboarding.cancelled")
        return
    await turn.respond("common.nothing_to_cancel")


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """The /cancel command."""
    return [CommandHandler("cancel", cancel)]
