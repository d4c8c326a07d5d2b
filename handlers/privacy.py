"""/privacy, /mydata (a JSON file), /deleteme (confirmed erasure), and admins' /coordinators."""

from __future__ import annotations

import html
import json

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from handlers.base import BotContext, already_done, show_in_place, user_language

DELETE = "dm:"


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
            controller=html.escape(settings.privacy_controller, quote=False) or missing,
            contact=html.escape(settings.privacy_contact, quote=False) or missing,
            drafts=settings.onboarding_draft_days,
            handovers=settings.retention_handover_days,
            delivered=settings.retention_delivered_days,
            unanswered=settings.retention_unanswered_days,
        ),
        parse_mode=ParseMode.HTML,
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


async def coordinators(update: Update, context: BotContext) -> None:
    """/coordinators [add|remove ID]: admins manage coordinators; the list for coordinators."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    roles = context.services.roles
    if not roles.is_coordinator(user.id) or message.sender_chat is not None:
        await message.reply_text(texts.get(lang, "common.coordinator_only"))
        return
    args = context.args or []
    if not args:
        await message.reply_text(
            texts.get(
                lang,
                "coordinators.list",
                configured=", ".join(str(i) for i in sorted(roles.configured)) or "–",
                added=", ".join(str(i) for i in sorted(roles.added)) or "–",
            ),
            parse_mode=ParseMode.HTML,
        )
        return
    if not roles.is_admin(user.id):
        await message.reply_text(texts.get(lang, "coordinators.admin_only"))
        return
    if len(args) != 2 or args[0] not in ("add", "remove") or not args[1].lstrip("-").isdigit():
        await message.reply_text(texts.get(lang, "coordinators.usage"))
        return
    target = int(args[1])
    sessions = context.services.sessions
    changed = (
        await roles.add(sessions, user_id=target, by=user.id)
        if args[0] == "add"
        else await roles.remove(sessions, user_id=target, by=user.id)
    )
    key = (
        ("coordinators.added" if args[0] == "add" else "coordinators.removed")
        if changed
        else "coordinators.not_changed"
    )
    await message.reply_text(texts.get(lang, key, user=target) if changed else texts.get(lang, key))


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Privacy commands and coordinator management."""
    return [
        CommandHandler("privacy", privacy),
        CommandHandler("mydata", my_data, filters=filters.ChatType.PRIVATE),
        CommandHandler("deleteme", delete_me, filters=filters.ChatType.PRIVATE),
        CallbackQueryHandler(confirm_delete, pattern=f"^{DELETE}(yes|no)$"),
        CommandHandler("coordinators", coordinators),
    ]
