"""The network office answers hand-over questions by replying in the coordinators' chat."""

from __future__ import annotations

import html

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import BaseHandler, MessageHandler, filters

from bot.db import queries
from bot.db.models import utcnow
from handlers.base import BotContext
from handlers.questions import answer_question


async def relay_office_reply(update: Update, context: BotContext) -> None:
    """A coordinator replied to a forwarded question: send the reply to the person who asked."""
    message = update.effective_message
    user = update.effective_user
    if message is None or message.reply_to_message is None:
        return
    services = context.services
    async with services.sessions() as session:
        handover = await queries.find_handover(
            session,
            office_chat_id=message.chat_id,
            office_message_id=message.reply_to_message.message_id,
        )
    if handover is None:
        # A reply to something else in the office chat, e.g. to an answer: treat as a question
        # only if it addresses the bot; otherwise stay silent in the coordinators' chat.
        if message.text and context.bot.username and f"@{context.bot.username}" in message.text:
            await answer_question(update, context)
        return
    texts = services.texts
    is_coordinator = message.sender_chat is None and services.roles.is_coordinator(
        user.id if user else None
    )
    if not is_coordinator:
        await message.reply_text(texts.get("de", "common.coordinator_only"))
        return
    if not message.text:
        await message.reply_text(texts.get("de", "handover.reply_without_text"))
        return
    try:
        await context.bot.send_message(
            handover.asker_chat_id,
            texts.get(
                handover.language, "handover.relay", answer=html.escape(message.text, quote=False)
            ),
            parse_mode=ParseMode.HTML,
        )
    except (Forbidden, TelegramError):
        await message.reply_text(texts.get("de", "handover.relay_failed"))
        return
    async with services.sessions.begin() as session:
        await queries.mark_handover_answered(session, handover_id=handover.id, at=utcnow())
    await message.reply_text(texts.get("de", "handover.relayed"))


def build_handlers(office_chat_id: int | None) -> list[BaseHandler[Update, BotContext, object]]:
    """The relay, active only when a coordinators' chat is configured."""
    if office_chat_id is None:
        return []
    return [MessageHandler(filters.Chat(office_chat_id) & filters.REPLY, relay_office_reply)]
