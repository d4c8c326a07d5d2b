"""A message for whatever waits for it: the one place that routes a person's next message to
the flow expecting it (see bot.services.waiting).

The state is in the database, so this works the same after a restart and in whichever bot
process the message arrives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from telegram import Update
from telegram.constants import ChatType

from bot.services.waiting import Wait, WaitKind
from handlers import broadcast, events, join, partners, reports, requests
from handlers.base import BotContext, Turn, begin

# The flow that takes a person's next message, by what it waits for. Every WaitKind needs an
# entry: a kind without one would fail on the first message, not silently drop it.
RECEIVERS: Mapping[WaitKind, Callable[[Turn, Wait], Awaitable[bool]]] = {
    WaitKind.JOIN: join.receive,
    WaitKind.BROADCAST: broadcast.receive,
    WaitKind.NEW_EVENT: events.receive,
    WaitKind.DECLINE: requests.receive_coordinator_text,
    WaitKind.ASK_BACK: requests.receive_coordinator_text,
    WaitKind.DUE_DATE: partners.receive_due,
    WaitKind.REPORT: reports.receive,
    WaitKind.REPORT_ASK: reports.receive_office_question,
    WaitKind.REPORT_REPLY: reports.receive_reply,
}


async def consume(update: Update, context: BotContext) -> bool:
    """Hand the message to the flow waiting for this person's next message here; False when
    nothing waits (or the flow does not take this message: then it is a question)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return False
    if chat.type != ChatType.PRIVATE and not context.services.roles.is_coordinator(user.id):
        return False  # in groups only coordinators are asked for something (no lookup per message)
    wait = await context.services.waiting.current(chat_id=chat.id, user_id=user.id)
    return await consume_read(update, context, wait)


async def consume_read(update: Update, context: BotContext, wait: Wait | None) -> bool:
    """`consume` with what waits already read (by handlers.private_text, together with the
    chat's hand-over)."""
    if wait is None:
        return False
    turn = await begin(update, context)
    return turn is not None and await RECEIVERS[wait.kind](turn, wait)
