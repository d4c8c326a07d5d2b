"""/privacy, /mydata (a JSON file), /deleteme (confirmed erasure)."""

from __future__ import annotations

import json

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import callbacks
from handlers.base import BotContext, already_done, show_in_place, user_language

DELETE = callbacks.DELETE_ME


async def privacy(update: Update, context: BotContext) -> None:
    """/privacy: what is stored, why, how long, who is responsible, the person's rights."""
    chat = update.effective_chat
    if chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    settings = context.services.settings
    missing = texts.get(lang, "privacy.not_configured")
    await context.bot.send_message(
        chat.id,
        texts.get(
            lang,
            "privacy.text",
            controller=settings.privacy_controller or missing,
            contact=settings.privacy_contact or missing,
            drafts=settings.onboarding_draft_days,
            handovers=settings.retention_handover_days,
            delivered=settings.retention_delivered_days,
            unanswered=settings.retention_unanswered_days,
        ),
    )


async def my_data(update: Update, context: BotContext) -> None:
    """/mydata: everything stored about this person, as a JSON file."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None:
        return
    lang = await user_language(update, context)
    data = await context.services.privacy.export(user_id=user.id, chat_id=chat.id)
    payload = json.dumps({"user_id": user.id, "tables": data}, ensure_ascii=False, indent=2)
    await context.bot.send_document(
        chat.id,
        InputFile(payload.encode(), filename="meine-daten.json"),
        caption=context.services.texts.get(lang, "privacy.mydata_caption"),
    )


async def delete_me(update: Update, context: BotContext) -> None:
    """/deleteme: ask for confirmation."""
    chat = update.effective_chat
    if chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    await context.bot.send_message(
        chat.id,
        texts.get(lang, "privacy.confirm_delete"),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        texts.get(lang, "privacy.delete_yes"), callback_data=f"{DELETE}yes"
                    ),
                    InlineKeyboardButton(
                        texts.get(lang, "privacy.delete_no"), callback_data=f"{DELETE}no"
                    ),
                ]
            ]
        ),
    )


async def confirm_delete(update: Update, context: BotContext) -> None:
    """Erase everything keyed by the person, the in-memory conversation state included."""
    query = update.callback_query
    chat = update.effective_chat
    user = update.effective_user
    if query is None or chat is None or user is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    if chat.type != "private" or chat.id != user.id:
        # Only in the person's own private chat: nobody erases someone else's data.
        await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return
    if query.data != f"{DELETE}yes":
        await query.answer()
        await show_in_place(update, context, texts.get(lang, "privacy.delete_cancelled"), None)
        return
    count = await context.services.privacy.erase(user_id=user.id, chat_id=chat.id)
    if not count:  # erased by the first of two taps already
        await already_done(update, context, lang)
        return
    await query.answer()
    # Conversation state and caches live in memory too: drop them.
    if context.chat_data is not None:
        context.chat_data.clear()
    if context.user_data is not None:
        context.user_data.clear()
    context.application.drop_chat_data(chat.id)
    context.application.drop_user_data(user.id)
    await show_in_place(update, context, texts.get(lang, "privacy.deleted", count=count), None)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Privacy commands."""
    return [
        CommandHandler("privacy", privacy),
        CommandHandler("mydata", my_data, filters=filters.ChatType.PRIVATE),
        CommandHandler("deleteme", delete_me, filters=filters.ChatType.PRIVATE),
        CallbackQueryHandler(confirm_delete, pattern=f"^{DELETE}(yes|no)$"),
    ]
