"""Each update once, whichever bot process it reaches and however often it arrives."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from handlers.base import BotContext


async def drop_second_delivery(update: Update, context: BotContext) -> None:
    """Stop an update some process took on already: Telegram, or the proxy in front of several
    processes, delivers an update again when the answer was late, and a form answer taken
    twice would also answer the next question."""
    if not await context.services.waiting.first_delivery(update.update_id):
        raise ApplicationHandlerStop
