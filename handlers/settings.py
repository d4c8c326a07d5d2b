"""/settings: language, plain language, notices, reminders, and the region when the network
spans several Länder."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks
from handlers.base import BotContext, Press, Turn, forget_prefs, on_press, on_turn
from knowledge import Lang

SETTINGS = callbacks.SETTINGS
REGION = f"{SETTINGS}rg:"


def _toggle(name: str, now_on: bool) -> str:
    """A switch's data names the state it asks for ("s:plain:1"), so pressing it twice
    switches once."""
    return f"{SETTINGS}{name}:{0 if now_on else 1}"


async def _render(
    context: BotContext, chat_id: int, lang: Lang
) -> tuple[str, InlineKeyboardMarkup]:
    texts = context.services.texts
    row = await context.services.chats.get(chat_id=chat_id)
    plain = bool(row and row.plain_language)
    notices = bool(row and row.notices)
    reminders = bool(row is None or row.reminders)
    regions = context.services.settings.regions
    on, off = texts.get(lang, "settings.on"), texts.get(lang, "settings.off")
    text: str = texts.get(
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
                    texts.get(lang, "settings.language_button"),
                    callback_data=f"{SETTINGS}lang:{'en' if lang == 'de' else 'de'}",
                )
            ],
            [
                InlineKeyboardButton(
                    texts.get(lang, "settings.plain_off" if plain else "settings.plain_on"),
                    callback_data=_toggle("plain", plain),
                )
            ],
            [
                InlineKeyboardButton(
                    texts.get(lang, "settings.notices_off" if notices else "settings.notices_on"),
                    callback_data=_toggle("notices", notices),
                )
            ],
            [
                InlineKeyboardButton(
                    texts.get(
                        lang, "settings.reminders_off" if reminders else "settings.reminders_on"
                    ),
                    callback_data=_toggle("reminders", reminders),
                )
            ],
        ]
        + (
            [
                [
                    InlineKeyboardButton(
                        texts.get(lang, "settings.region_button"), callback_data=f"{SETTINGS}region"
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
        [
            InlineKeyboardButton(
                texts.get(lang, "settings.region_back"), callback_data=f"{SETTINGS}back"
            )
        ]
    )
    return texts.get(lang, "settings.region_choose"), InlineKeyboardMarkup(rows)


@on_turn
async def show_settings(turn: Turn) -> None:
    """/settings or the settings button: the current choices with toggles."""
    text, keyboard = await _render(turn.context, turn.chat.id, turn.lang)
    if turn.update.callback_query:
        await turn.update.callback_query.answer()
    await turn.send(text, keyboard)


@on_press
async def change_setting(press: Press) -> None:
    """A switch was pressed: store the state it asks for and redraw the settings in place.

    Old messages' buttons without a state ("s:plain") still toggle.
    """
    what, wanted, chosen = press.group(1), press.group(2), press.group(3) or None
    lang, chat_id = press.lang, press.chat.id
    if what == "region":
        await press.ok()
        await press.show(*_region_choice(press.context, lang))
        return
    if chosen is not None and chosen not in press.services.settings.regions:
        await press.ok("common.expired_button")
        return
    changed = await press.services.chats.change(
        chat_id=chat_id, what="rg" if chosen else what, wanted=chosen or wanted, current_lang=lang
    )
    if changed is None:
        await press.ok("common.expired_button")
        return
    lang = "en" if changed == "en" else "de"
    forget_prefs(press.context)
    text, keyboard = await _render(press.context, chat_id, lang)
    saved = what != "back"
    await press.query.answer(press.services.texts.plain(lang, "settings.saved") if saved else None)
    await press.show(text, keyboard)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Settings command and its buttons."""
    return [
        CommandHandler("settings", show_settings),
        CallbackQueryHandler(show_settings, pattern=f"^{SETTINGS}show$"),
        CallbackQueryHandler(
            change_setting,
            pattern=rf"^{SETTINGS}(?:(lang|plain|notices|reminders|region|back)(?::(0|1|de|en))?"
            r"|rg:([A-Z]{2}))$",
        ),
    ]
