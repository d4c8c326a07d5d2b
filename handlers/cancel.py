"""/cancel: whatever waits for the person's next message stops waiting."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.services.waiting import WaitKind
from handlers.base import BotContext, Turn, on_turn

# What /cancel says for a flow it stops, where "Abgebrochen." is not the whole story (the /join
# form: its own text, the draft goes too).
_CANCELLED = {
    WaitKind.BROADCAST: "broadcast.aborted",
    WaitKind.REPORT: "reports.paused",  # the report is kept: /report resumes it
}


@on_turn
async def cancel(turn: Turn) -> None:
    """/cancel: the flow waiting for this person's next message (a notice or meeting being
    written, a decline reason, an ask-back question, a due date, the report form, a question
    about a report or its answer), else the /join form (its draft deleted)."""
    stopped = None
    if turn.user is not None:
        stopped = await turn.services.waiting.clear(chat_id=turn.chat.id, user_id=turn.user.id)
    if stopped is not None and stopped.kind is not WaitKind.JOIN:
        await turn.respond(_CANCELLED.get(stopped.kind, "common.cancelled"))
        return
    if await turn.services.onboarding.discard(chat_id=turn.chat.id):
        await turn.respond("onboarding.cancelled")
        return
    await turn.respond("common.nothing_to_cancel")


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """The /cancel command."""
    return [CommandHandler("cancel", cancel)]
