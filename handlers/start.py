"""Welcome, help, the main menu, /cancel, and polite answers to anything unexpected."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.services.partners import INVITE_PREFIX
from handlers import onboarding
from handlers.base import BotContext, user_language
from knowledge import Lang

MENU = "m:"


def main_menu(context: BotContext, lang: Lang) -> InlineKeyboardMarkup:
    """The main menu under the welcome message."""
    texts = context.services.texts
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.get(lang, "menu.topics"), callback_data="c:"),
                InlineKeyboardButton(texts.get(lang, "menu.firststeps"), callback_data="fs:start"),
            ],
            [
                InlineKeyboardButton(
                    texts.get(lang, "onboarding.join_button"), callback_data="ob:join"
                )
            ],
            [
                InlineKeyboardButton(texts.get(lang, "menu.settings"), callback_data="s:show"),
                InlineKeyboardButton(texts.get(lang, "menu.help"), callback_data=f"{MENU}help"),
            ],
        ]
    )


async def start(update: Update, context: BotContext) -> None:
    """/start, with or without a deep-link payload: welcome in the person's language."""
    message = update.effective_message
    if message is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    payload = context.args[0] if context.args else ""
    if payload.startswith(INVITE_PREFIX):
        await onboarding.link_invite(update, context, payload.removeprefix(INVITE_PREFIX))
        return
    if payload:
        await message.reply_text(texts.get(lang, "start.unknown_payload"))
    await message.reply_text(
        texts.get(lang, "start.welcome", network_name=context.services.settings.network_name),
        parse_mode=ParseMode.HTML,
        reply_markup=main_menu(context, lang),
    )


def help_text(context: BotContext, lang: Lang, user_id: int | None) -> str:
    """The help text, with the coordinator part for coordinators."""
    texts = context.services.texts
    text = texts.get(lang, "help.text")
    if context.services.roles.is_coordinator(user_id):
        text += "\n" + texts.get(lang, "help.coordinator")
    return text


async def show_help(update: Update, context: BotContext) -> None:
    """/help or the help button."""
    lang = await user_language(update, context)
    user = update.effective_user
    text = help_text(context, lang, user.id if user else None)
    if update.callback_query:
        await update.callback_query.answer()
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML)


async def unknown_command(update: Update, context: BotContext) -> None:
    """A command the bot does not have."""
    lang = await user_language(update, context)
    if update.effective_message:
        await update.effective_message.reply_text(
            context.services.texts.get(lang, "common.unknown_command")
        )


async def text_only(update: Update, context: BotContext) -> None:
    """Stickers, photos, voice messages and the like in a private chat."""
    if await onboarding.consume_other(update, context):
        return
    lang = await user_language(update, context)
    if update.effective_message:
        await update.effective_message.reply_text(
            context.services.texts.get(lang, "common.text_only")
        )


async def expired_button(update: Update, context: BotContext) -> None:
    """Any button no other handler knows: from an old message or forged."""
    query = update.callback_query
    if query is None:
        return
    lang = await user_language(update, context)
    await query.answer(context.services.texts.get(lang, "common.expired_button"), show_alert=True)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Start, help and the main menu."""
    return [
        CommandHandler("start", start),
        CommandHandler("help", show_help),
        CallbackQueryHandler(show_help, pattern=f"^{MENU}help$"),
    ]


def build_fallback_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Catch-alls; registered last so they only see what nobody else handled."""
    private = filters.ChatType.PRIVATE
    return [
        MessageHandler(private & filters.COMMAND, unknown_command),
        MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, text_only),
        CallbackQueryHandler(expired_button),
    ]
