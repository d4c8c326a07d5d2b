"""Text messages go to whoever is waiting for one; otherwise they are questions.

In order: a coordinator's decline reason or ask-back question, a coordinator's reply in the
office chat to a handed-over question, a requester's reply to an ask-back, the open /join form
(private chats), and finally the knowledge base (in groups only when the bot is mentioned or
replied to).
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, MessageHandler, filters

from handlers import handover, onboarding, partners, questions
from handlers.base import BotContext


async def route_private(update: Update, context: BotContext) -> None:
    """Private text: hand it to the first consumer that takes it."""
    if await handover.consume_office_reply(update, context):
        return
    if await onboarding.consume_coordinator_text(update, context):
        return
    if await partners.consume_due_input(update, context):
        return
    if await onboarding.consume_requester_reply(update, context):
        return
    if await onboarding.consume_text(update, context):
        return
    await questions.answer_question(update, context)


async def route_group(update: Update, context: BotContext) -> None:
    """Group text: an office reply, a coordinator's pending input, or a mention of the bot."""
    if await handover.consume_office_reply(update, context):
        return
    if await onboarding.consume_coordinator_text(update, context):
        return
    if await partners.consume_due_input(update, context):
        return
    await questions.answer_in_group(update, context)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """The two text handlers."""
    text = filters.TEXT & ~filters.COMMAND
    return [
        MessageHandler(filters.ChatType.PRIVATE & text, route_private),
        MessageHandler(filters.ChatType.GROUPS & text, route_group),
    ]
