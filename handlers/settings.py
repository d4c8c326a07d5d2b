"""/settings: language, plain language, notices, reminders, and the region when the network
spans several Länder."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.db import queries
from handlers.base import BotContext, forget_prefs, user_language
from knowledge import Lang

SETTINGS = "s:"
REGION = "s:rg:"


async def _render(
    context: BotContext, chat_id: int, lang: Lang
) -> tuple[str, InlineKeyboardMarkup]:
    texts = context.services.texts
    async with context.services.sessions() as session:
        row = await queries.get_chat(session, chat_id=chat_id)
    plain = bool(row and row.plain_language)
    notices = bool(row and row.notices)
    reminders = bool(row is None or row.reminders)
    regions = context.services.settings.regions
    on, off = texts.get(lang, "settings.on"), texts.get(lang, "settings.off")
    text = texts.get(
        lang,
        "settings.title",
        language=texts.get(lang, "language_name"),
        plain=on if plain else off,
        notices=on if notices else off,
        reminders=on if reminders else off,
    )
    if regions:
        region = context.services.settings.region_for(row.region if row else None)
        text += "\n" + texts.get(
            lang, "settings.region_line", region=texts.get(lang, f"regions.{region}")
        )
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.get(lang, "settings.language_button"), callback_data="s:lang"
                )
            ],
            [
                InlineKeyboardButton(
                    texts.get(lang, "settings.plain_off" if plain else "settings.plain_on"),
                    callback_data="s:plain",
                )
            ],
            [
                InlineKeyboardButton(
                    texts.get(lang, "settings.notices_off" if notices else "settings.notices_on"),
                    callback_data="s:notices",
                )
            ],
            [
                InlineKeyboardButton(
                    texts.get(
                        lang, "settings.reminders_off" if reminders else "settings.reminders_on"
                    ),
                    callback_data="s:reminders",
                )
            ],
        ]
        + (
            [
                [
                    InlineKeyboardButton(
                        texts.get(lang, "settings.region_button"), callback_data="s:region"
                    )
                ]
            ]
            if regions
            else []
        )
    )
    return text, keyboard


def _region_choice(context: BotContext, lang: Lang) -> tuple[str, InlineKeyboardMarkup]:
    """The network's Länder as buttons, two per row, and a way back."""
    texts = context.services.texts
    buttons = [
        InlineKeyboardButton(texts.get(lang, f"regions.{code}"), callback_data=f"{REGION}{code}")
        for code in context.services.settings.regions
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(
        [InlineKeyboardButton(texts.get(lang, "settings.region_back"), callback_data="s:back")]
    )
    return texts.get(lang, "settings.region_choose"), InlineKeyboardMarkup(rows)


async def show_settings(update: Update, context: BotContext) -> None:
    """/settings or the settings button: the current choices with toggles."""
    chat = update.effective_chat
    if chat is None:
        return
    lang = await user_language(update, context)
    text, keyboard = await _render(context, chat.id, lang)
    if update.callback_query:
        await update.callback_query.answer()
    await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


async def change_setting(update: Update, context: BotContext) -> None:
    """A toggle was pressed: store it and redraw the settings message in place."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    lang = await user_language(update, context)
    what = (query.data or "").removeprefix(SETTINGS)
    if what == "region":
        text, keyboard = _region_choice(context, lang)
        await query.answer()
        await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        return
    chosen = what.removeprefix("rg:") if what.startswith("rg:") else None
    if chosen is not None and chosen not in context.services.settings.regions:
        await query.answer(context.services.texts.get(lang, "common.expired_button"))
        return
    async with context.services.sessions.begin() as session:
        row = await queries.get_chat(session, chat_id=chat.id)
        if row is None:
            await query.answer(context.services.texts.get(lang, "common.expired_button"))
            return
        if what == "lang":
            lang = "en" if lang == "de" else "de"
            await queries.set_preferences(session, chat_id=chat.id, language=lang)
        elif what == "plain":
            await queries.set_preferences(
                session, chat_id=chat.id, plain_language=not row.plain_language
            )
        elif what == "notices":
            await queries.set_subscription(session, chat_id=chat.id, subscribed=not row.notices)
        elif what == "reminders":
            await queries.set_preferences(session, chat_id=chat.id, reminders=not row.reminders)
        elif chosen is not None:
            await queries.set_preferences(session, chat_id=chat.id, region=chosen)
    forget_prefs(context)
    text, keyboard = await _render(context, chat.id, lang)
    saved = what != "back"
    await query.answer(context.services.texts.get(lang, "settings.saved") if saved else None)
    await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Settings command and its buttons."""
    return [
        CommandHandler("settings", show_settings),
        CallbackQueryHandler(show_settings, pattern="^s:show$"),
        CallbackQueryHandler(
            change_setting, pattern="^s:(lang|plain|notices|reminders|region|back|rg:[A-Z]{2})$"
        ),
    ]
