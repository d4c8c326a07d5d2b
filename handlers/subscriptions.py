"""/subscribe, /unsubscribe (and the button under every notice), and blocked/unblocked chats."""

from __future__ import annotations

from telegram import ChatMember, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ChatMemberHandler, CommandHandler

from bot.services.broadcasts import UNSUBSCRIBE
from handlers.base import BotContext, Turn, on_turn


async def _set(turn: Turn, *, subscribed: bool) -> str:
    await turn.services.chats.set_subscribed(chat_id=turn.chat.id, subscribed=subscribed)
    return turn.text("subscription.subscribed" if subscribed else "subscription.unsubscribed")


@on_turn
async def subscribe(turn: Turn) -> None:
    """/subscribe: event notices on."""
    await turn.reply(await _set(turn, subscribed=True))


@on_turn
async def unsubscribe(turn: Turn) -> None:
    """/unsubscribe or the button under a notice: notices off, immediately."""
    text = await _set(turn, subscribed=False)
    if turn.update.callback_query:
        await turn.update.callback_query.answer(text, show_alert=True)
    else:
        await turn.reply(text)


async def track_membership(update: Update, context: BotContext) -> None:
    """The person blocked (or unblocked) the bot, or it was removed from a group."""
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    active = status not in (ChatMember.BANNED, ChatMember.LEFT)
    await context.services.chats.set_active(chat_id=change.chat.id, active=active)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Subscription commands, the unsubscribe button and membership tracking."""
    return [
        CommandHandler("subscribe", subscribe),
        CommandHandler("unsubscribe", unsubscribe),
        CallbackQueryHandler(unsubscribe, pattern=f"^{UNSUBSCRIBE}$"),
        ChatMemberHandler(track_membership, ChatMemberHandler.MY_CHAT_MEMBER),
    ]
