"""Text messages go to whoever is waiting for one; otherwise they are questions.

In order: a coordinator's reply in the office chat to a handed-over question, a coordinator's
decline reason or ask-back question, a coordinator's new due date, a coordinator's question
about a report item, then in private chats a requester's reply to an ask-back, the open
/report form (or a partner's answer to the office's question), the open /join form, and
finally the knowledge base (in groups only when the bot is mentioned or replied to). Files and
other non-text messages in private chats go to the /report form's PDF step, else /join's
"please type", else "text only". This is the one place that routes input to waiting forms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import BaseHandler, MessageHandler, filters

from handlers import handover, join, partners, questions, reports, requests
from handlers.base import BotContext, begin

Consumer = Callable[[Update, BotContext], Awaitable[bool]]

# Office and coordinator input comes first: it can arrive in groups and private chats alike.
_ANYWHERE: tuple[Consumer, ...] = (
    handover.consume_office_reply,
    requests.consume_coordinator_text,
    partners.consume_due_input,
    reports.consume_office_question,
)
_PRIVATE: tuple[Consumer, ...] = (
    *_ANYWHERE,
    requests.consume_requester_reply,
    reports.consume_text,
    join.consume_text,
)
# Files, photos, stickers in private chats: the report form's PDF, else the /join form's
# "please type" (it keeps the form), else "text only".
_PRIVATE_OTHER: tuple[Consumer, ...] = (reports.consume_document, join.consume_other)


async def _first_taker(consumers: tuple[Consumer, ...], update: Update, ctx: BotContext) -> bool:
    for consume in consumers:
        if await consume(update, ctx):
            return True
    return False


async def route_private(update: Update, context: BotContext) -> None:
    """Private text: hand it to the first consumer that takes it, else answer it."""
    if not await _first_taker(_PRIVATE, update, context):
        await questions.answer_question(update, context)


async def route_private_other(update: Update, context: BotContext) -> None:
    """A private message that is not text: to whoever waits for a file, else "text only"."""
    if not await _first_taker(_PRIVATE_OTHER, update, context):
        turn = await begin(update, context)
        if turn is not None:
            await turn.respond("common.text_only")


async def route_group(update: Update, context: BotContext) -> None:
    """Group text: an office reply, a coordinator's pending input, or a mention of the bot."""
    if not await _first_taker(_ANYWHERE, update, context):
        await questions.answer_in_group(update, context)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """The two text handlers."""
    text = filters.TEXT & ~filters.COMMAND
    return [
        MessageHandler(filters.ChatType.PRIVATE & text, route_private),
        MessageHandler(filters.ChatType.GROUPS & text, route_group),
    ]
