"""The network office answers hand-over questions by replying in the coordinators' chat (or,
without one, in the chat of the coordinator who got the question)."""

from __future__ import annotations

from telegram import Update
from telegram.error import Forbidden, TelegramError

from handlers.base import BotContext


async def consume_office_reply(update: Update, context: BotContext) -> bool:
    """A reply in the office chat to a forwarded question: send it to the person who asked.

    Returns False when the message is not such a reply (someone else handles it then).
    """
    message = update.effective_message
    user = update.effective_user
    services = context.services
    office = services.settings.coordinator_chat_id
    if message is None or message.reply_to_message is None:
        return False
    # Without an office chat, each coordinator got the question in their own chat.
    if message.chat_id != office and (
        office is not None or message.chat_id not in services.roles.coordinators
    ):
        return False
    handover = await services.questions.handover_replied_to(
        office_chat_id=message.chat_id, office_message_id=message.reply_to_message.message_id
    )
    if handover is None:
        return False
    texts = services.texts
    is_coordinator = message.sender_chat is None and services.roles.is_coordinator(
        user.id if user else None
    )
    if not is_coordinator:
        await message.reply_text(texts.get("de", "common.coordinator_only"))
        return True
    if not message.text:
        await message.reply_text(texts.get("de", "handover.reply_without_text"))
        return True
    try:
        await context.bot.send_message(
            handover.asker_chat_id,
            texts.get(handover.language, "handover.relay", answer=message.text),
        )
    except (Forbidden, TelegramError):
        await message.reply_text(texts.get("de", "handover.relay_failed"))
        return True
    await services.questions.handover_answered(handover_id=handover.id)
    await message.reply_text(texts.get("de", "handover.relayed"))
    return True
