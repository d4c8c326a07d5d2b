"""/subscribe, /unsubscribe (and the button under every notice), and blocked/unblocked chats."""

from __future__ import annotations

from telegram import ChatMember, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ChatMemberHandler, CommandHandler

from bot.db import queries
from bot.services.broadcasts import UNSUBSCRIBE
from handlers.base import BotContext, user_language


async def _set(update: Update, context: BotContext, *, subscribed: bool) -> str:
    chat = update.effective_chat
    lang = await user_language(update, context)
    if chat is not None:
        async with context.services.sessions.begin() as session:
            await queries.set_subscription(session, chat_id=chat.id, subscribed=subscribed)
    key = "subscription.subscribed" if subscribed else "subscription.unsubscribed"
    return context.services.texts.get(lang, key)


async def subscribe(update: Update, context: BotContext) -> None:
    """/subscribe: event notices on."""
    text = await _set(update, context, subscribed=True)
    if update.effective_message:
        await update.effective_message.reply_text(text)


async def unsubscribe(update: Update, context: BotContext) -> None:
    """/unsubscribe or the button under a notice: notices off, immediately."""
    text = await _set(update, context, subscribed=False)
    if update.callback_query:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message:
        await update.effective_message.reply_text(text)


async def track_membership(update: Update, context: BotContext) -> None:
    """The person blocked (or unblocked) the bot, or it was removed from a group."""
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    active = status not in (ChatMember.BANNED, ChatMember.LEFT)
    async with context.services.sessions.begin() as session:
        await queries.set_chat_active(session, chat_id=change.chat.id, active=active)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Subscription commands, the unsubscribe button and membership tracking."""
    return [
        CommandHandler("subscribe", subscribe),
        CommandHandler("unsubscribe", unsubscribe),
        CallbackQueryHandler(unsubscribe, pattern=f"^{UNSUBSCRIBE}$"),
        ChatMemberHandler(track_membership, ChatMemberHandler.MY_CHAT_MEMBER),
    ]
