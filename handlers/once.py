"""Each update once, whichever bot process it reaches and however often it arrives."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from handlers.base import BotContext


async def drop_second_delivery(update: Update, context: BotContext) -> None:
    """Stop an update some process took on already: Telegram, or the proxy in front of several
    processes, delivers an update again when the answer was late, and a form answer taken
    twice would also answer the next question.

    A private text that may be a question is searched meanwhile (`QuestionService.prefetch`:
    no effect but a result in memory), so its answer does not wait for this check first; not
    for a person the flood limit stops already (handlers.flood counts a message only after this
    check, so of a burst sent at one instant a few more than the limit may be searched)."""
    message, services = update.message, context.services
    if (
        message is not None
        and message.text
        and not message.text.startswith("/")
        and message.chat.type == ChatType.PRIVATE
        and message.from_user is not None
        and services.flood.allows(message.from_user.id)
    ):
        services.questions.prefetch(message.text.strip())  # as answer_question asks it
    if not await services.waiting.first_delivery(update.update_id):
        raise ApplicationHandlerStop
