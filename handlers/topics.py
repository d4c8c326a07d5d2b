"""/topics: browse categories, then topics, with a way back."""

from __future__ import annotations

from collections.abc import Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.answers import CATEGORY, TOPIC
from handlers.base import BotContext, Press, Turn, on_press, on_turn
from knowledge import Lang


def _open_category(category_id: str) -> str:
    return f"{CATEGORY}{category_id}"


def _open_topic(topic_id: str) -> str:
    return f"{TOPIC}{topic_id}"


def category_rows(
    context: BotContext, lang: Lang, data: Callable[[str], str] = _open_category
) -> list[list[InlineKeyboardButton]]:
    """One button per category that has topics; `data` makes a category id a button's data."""
    kb = context.services.kb
    return [
        [InlineKeyboardButton(c.title[lang], callback_data=data(c.id))]
        for c in kb.categories
        if kb.in_category(c.id)
    ]


def topic_rows(
    context: BotContext, lang: Lang, category_id: str, data: Callable[[str], str] = _open_topic
) -> list[list[InlineKeyboardButton]]:
    """One button per topic of a category; `data` makes a topic id a button's data."""
    return [
        [InlineKeyboardButton(t.title[lang], callback_data=data(t.id))]
        for t in context.services.kb.in_category(category_id)
    ]


def categories_view(context: BotContext, lang: Lang) -> tuple[str, InlineKeyboardMarkup]:
    """The category list."""
    rows = category_rows(context, lang)
    return context.services.texts.get(lang, "topics.categories"), InlineKeyboardMarkup(rows)


def category_view(
    context: BotContext, lang: Lang, category_id: str
) -> tuple[str, InlineKeyboardMarkup] | None:
    """The topics of one category with a back button, or None for an unknown category."""
    kb = context.services.kb
    texts = context.services.texts
    category = next((c for c in kb.categories if c.id == category_id), None)
    if category is None:
        return None
    rows = topic_rows(context, lang, category_id)
    rows.append([InlineKeyboardButton(texts.get(lang, "topics.back"), callback_data=CATEGORY)])
    text: str = texts.get(lang, "topics.in_category", category=category.title[lang])
    if len(rows) == 1:
        text += "\n" + texts.get(lang, "topics.empty")
    return text, InlineKeyboardMarkup(rows)


@on_turn
async def show_categories(turn: Turn) -> None:
    """/topics: send the category list."""
    await turn.send(*categories_view(turn.context, turn.lang))


@on_press
async def browse(press: Press) -> None:
    """A category button (or back): redraw the same message with the next level."""
    category_id = press.group(1)
    context, lang = press.context, press.lang
    view = (
        category_view(context, lang, category_id) if category_id else categories_view(context, lang)
    )
    await press.redraw(view)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Topic browsing."""
    return [
        CommandHandler("topics", show_categories),
        CallbackQueryHandler(browse, pattern=rf"^{CATEGORY}([\w-]*)$"),
    ]
