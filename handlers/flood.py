"""Per-person flood protection, run before every other handler."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.services.flood import Verdict
from handlers.base import BotContext, cached_language


async def limit_flood(update: Update, context: BotContext) -> None:
    """Stop a person's update when they send too much; tell them once per minute."""
    user = update.effective_user
    if user is None or context.services.roles.is_coordinator(user.id):
        return
    verdict = context.services.flood.check(user.id)
    if verdict is Verdict.ALLOW:
        return
    if verdict is Verdict.WARN and update.effective_chat is not None:
        lang = cached_language(context, user)
        if update.callback_query:
            await update.callback_query.answer(context.services.texts.get(lang, "common.slow_down"))
        else:
            await context.bot.send_message(
                update.effective_chat.id, context.services.texts.get(lang, "common.slow_down")
            )
    raise ApplicationHandlerStop
