"""/privacy, /mydata (a JSON file), /deleteme (confirmed erasure)."""

from __future__ import annotations

import json

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import callbacks
from bot.services.privacy import REMINDER_KEYS_DAYS
from handlers.base import (
    BotContext,
    Press,
    Turn,
    on_press_unregistered,
    on_turn,
    show_in_place,
)

DELETE = callbacks.DELETE_ME


@on_turn
async def privacy(turn: Turn) -> None:
    """/privacy: what is stored, why, how long, who is responsible, the person's rights."""
    settings = turn.services.settings
    missing = turn.text("privacy.not_configured")

    def days(count: int) -> str:
        return turn.text("common.days", days=count)

    await turn.say(
        "privacy.text",
        controller=settings.privacy_controller or missing,
        contact=settings.privacy_contact or missing,
        drafts=days(settings.onboarding_draft_days),
        handovers=days(settings.retention_handover_days),
        delivered=days(settings.retention_delivered_days),
        unanswered=days(settings.retention_unanswered_days),
        reminder_keys=days(max(settings.retention_delivered_days, REMINDER_KEYS_DAYS)),
    )


@on_turn
async def my_data(turn: Turn) -> None:
    """/mydata: everything stored about this person, as a JSON file."""
    if turn.user is None:
        return
    data = await turn.services.privacy.export(user_id=turn.user.id, chat_id=turn.chat.id)
    payload = json.dumps({"user_id": turn.user.id, "tables": data}, ensure_ascii=False, indent=2)
    await turn.context.bot.send_document(
        turn.chat.id,
        InputFile(payload.encode(), filename=turn.label("privacy.mydata_file")),
        caption=turn.text("privacy.mydata_caption"),
    )


@on_turn
async def delete_me(turn: Turn) -> None:
    """/deleteme: ask for confirmation."""
    buttons = [
        InlineKeyboardButton(turn.text(f"privacy.delete_{answer}"), callback_data=DELETE + answer)
        for answer in ("yes", "no")
    ]
    await turn.send(turn.text("privacy.confirm_delete"), InlineKeyboardMarkup([buttons]))


@on_press_unregistered  # a Yes after the erasure finds nothing, and creates nothing
async def confirm_delete(press: Press) -> None:
    """Erase everything keyed by the person, the in-memory conversation state included; a
    second Yes (a double tap, an older /deleteme message) is answered "already done"."""
    user, chat, context = press.user, press.chat, press.context
    if user is None or chat.type != "private" or chat.id != user.id:
        # Only in the person's own private chat: nobody erases someone else's data.
        await press.expired()
        return
    if press.group(1) != "yes":
        await press.ok()
        await show_in_place(press.update, context, press.text("privacy.delete_cancelled"), None)
        return
    count = await press.services.privacy.erase(user_id=user.id, chat_id=chat.id)
    if not count:  # erased by the first of two taps already
        await press.done_already()
        return
    await press.ok()
    # Conversation state and caches live in memory too: drop them.
    if context.chat_data is not None:
        context.chat_data.clear()
    if context.user_data is not None:
        context.user_data.clear()
    context.application.drop_chat_data(chat.id)
    context.application.drop_user_data(user.id)
    await show_in_place(press.update, context, press.text("privacy.deleted", count=count), None)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Privacy commands."""
    return [
        CommandHandler("privacy", privacy),
        CommandHandler("mydata", my_data, filters=filters.ChatType.PRIVATE),
        CommandHandler("deleteme", delete_me, filters=filters.ChatType.PRIVATE),
        CallbackQueryHandler(confirm_delete, pattern=rf"^{DELETE}(yes|no)$"),
    ]
