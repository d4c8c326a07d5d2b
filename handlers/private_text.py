"""Text messages go to whoever is waiting for one; otherwise they are questions.

In order: a coordinator's reply in the office chat to a handed-over question, a requester's
reply to an ask-back (both are Telegram replies to a particular message, so they win), then
the flow waiting for this person's next message (handlers.waiting: the /join form, the /report
form, a notice or meeting being written, a decline reason, an ask-back question, a due date, a
coordinator's question about a report item, a partner's answer to it), an addition to a
handed-over question that is still open (private chats), and finally the knowledge base (in
groups only when the bot is mentioned or replied to). Files, photos and stickers in private
chats go to the waiting flow too (the /report form's PDF step; /join asks to type), else
"text only". This is the one place that routes input to waiting flows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import BaseHandler, MessageHandler, filters

from handlers import handover, questions, requests, waiting
from handlers.base import BotContext, begin

Consumer = Callable[[Update, BotContext], Awaitable[bool]]

# Telegram replies to a particular message; then (_pending_takes) the waiting flow and an open
# hand-over's follow-up.
_REPLIES: tuple[Consumer, ...] = (handover.consume_office_reply, requests.consume_requester_reply)
# Office and coordinator input can arrive in groups too (the office chat).
_GROUP: tuple[Consumer, ...] = (handover.consume_office_reply, waiting.consume)
# Files, photos, stickers in private chats: the waiting flow (the report form's PDF; /join
# asks to type and keeps the form), else "text only".
_PRIVATE_OTHER: tuple[Consumer, ...] = (waiting.consume,)


async def _first_taker(consumers: tuple[Consumer, ...], update: Update, ctx: BotContext) -> bool:
    for consume in consumers:
        if await consume(update, ctx):
            return True
    return False


async def _pending_takes(update: Update, context: BotContext) -> bool:
    """The waiting flow, else an open hand-over's follow-up: both read in one database
    round trip (every private question asks both, so this is on every question's path)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:  # nobody can be waited for; the follow-up reads its own
        return await handover.consume_asker_followup(update, context)
    pending = await context.services.waiting.pending(chat_id=chat.id, user_id=user.id)
    return await waiting.consume_read(
        update, context, pending.wait
    ) or await handover.consume_asker_followup(update, context, pending)


async def route_private(update: Update, context: BotContext) -> None:
    """Private text: hand it to the first consumer that takes it, else answer it."""
    if not (await _first_taker(_REPLIES, update, context) or await _pending_takes(update, context)):
        await questions.answer_question(update, context)


async def route_private_other(update: Update, context: BotContext) -> None:
    """A private message that is not text: to whoever waits for a file, else "text only"."""
    if not await _first_taker(_PRIVATE_OTHER, update, context):
        turn = await begin(update, context)
        if turn is not None:
            await turn.respond("common.text_only")


async def route_group(update: Update, context: BotContext) -> None:
    """Group text: an office reply, a coordinator's pending input, or a mention of the bot."""
    if not await _first_taker(_GROUP, update, context):
        await questions.answer_in_group(update, context)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """The two text handlers."""
    text = filters.TEXT & ~filters.COMMAND
    return [
        MessageHandler(filters.ChatType.PRIVATE & text, route_private),
        MessageHandler(filters.ChatType.GROUPS & text, route_group),
    ]
