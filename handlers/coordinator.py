"""Coordinator commands of the Q&A feature: the list of unanswered questions, and teaching the
bot from it: one tap attaches a question to a topic (or marks it out of scope)."""

from __future__ import annotations

import contextlib
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.services.localtime import local
from bot.services.teaching import Status, Teaching, UnansweredQuestion
from handlers.base import BotContext, Press, Turn, coordinators_only, on_press, on_turn
from handlers.topics import category_rows, topic_rows
from knowledge import Lang

# Teaching buttons: lq<action>:<unanswered id>:<check of the question>[:<topic or category>].
# The check (a prefix of the question's key) keeps a button from acting on another question.
TEACH = callbacks.TEACH
_TEACH_DATA = re.compile(r"^lq([tocgb]):(\d{1,10}):([0-9a-f]{6})(?::([a-z0-9_]{1,41}))?$")
SHOWN = 10  # questions per /unanswered, each a message with its buttons
_MAX_DATA = 64  # bytes of callback data Telegram accepts


def teach_data(action: str, unanswered_id: int, check: str, arg: str = "") -> str:
    """The callback data of a teaching button (t topic, o out of scope, c categories,
    g one category's topics, b back to the candidates)."""
    return f"{TEACH}{action}:{unanswered_id}:{check}" + (f":{arg}" if arg else "")


def _button(text: str, data: str) -> list[InlineKeyboardButton]:
    return (
        [InlineKeyboardButton(text, callback_data=data)] if len(data.encode()) <= _MAX_DATA else []
    )


def _item_text(context: BotContext, lang: Lang, row: UnansweredQuestion) -> str:
    texts = context.services.texts
    key = f"coordinator.outcome.{row.outcome}"
    return texts.get(
        lang,
        "coordinator.unanswered_item",
        date=local(row.created_at, context.services.settings.zone),
        language=row.language,
        outcome=texts.get(lang, key) if key in texts else row.outcome,
        topic=f" → {row.best_topic}" if row.best_topic else "",
        text=row.text[:300],
    )


def _candidates_keyboard(
    context: BotContext, lang: Lang, unanswered_id: int, check: str, candidates: tuple[str, ...]
) -> InlineKeyboardMarkup:
    """The best-ranked topics as one-tap buttons, then "other topic…" and "out of scope"."""
    texts = context.services.texts
    kb = context.services.kb
    rows = [
        _button(
            texts.plain(lang, "teach.topic_button", title=topic.title[lang]),
            teach_data("t", unanswered_id, check, topic.id),
        )
        for topic in (kb.topic(topic_id) for topic_id in candidates)
        if topic is not None
    ]
    rows.append(
        _button(texts.get(lang, "teach.other_button"), teach_data("c", unanswered_id, check))
    )
    rows.append(
        _button(texts.get(lang, "teach.out_of_scope_button"), teach_data("o", unanswered_id, check))
    )
    return InlineKeyboardMarkup([row for row in rows if row])


def _categories_keyboard(
    context: BotContext, lang: Lang, unanswered_id: int, check: str
) -> InlineKeyboardMarkup:
    """The topic menu's categories; back leads to the candidates."""
    rows = category_rows(context, lang, lambda c: teach_data("g", unanswered_id, check, c))
    back = teach_data("b", unanswered_id, check)
    rows.append(_button(context.services.texts.get(lang, "topics.back"), back))
    return InlineKeyboardMarkup(rows)


def _topics_keyboard(
    context: BotContext, lang: Lang, unanswered_id: int, check: str, category_id: str
) -> InlineKeyboardMarkup:
    """One category's topics; back leads to the categories."""
    rows = topic_rows(
        context, lang, category_id, lambda t: teach_data("t", unanswered_id, check, t)
    )
    back = teach_data("c", unanswered_id, check)
    rows.append(_button(context.services.texts.get(lang, "topics.back"), back))
    return InlineKeyboardMarkup([row for row in rows if row])


@coordinators_only
@on_turn
async def show_unanswered(turn: Turn) -> None:
    """/unanswered: the newest questions the knowledge base could not answer (or whose answer
    got a 👎), each with buttons that teach the bot the right topic."""
    items, total = await turn.services.teaching.pending(limit=SHOWN)
    if not items:
        await turn.say("coordinator.unanswered_empty")
        return
    await turn.say("coordinator.unanswered_header", shown=len(items), total=total)
    for item in items:
        row = item.question
        await turn.send(
            _item_text(turn.context, turn.lang, row),
            _candidates_keyboard(turn.context, turn.lang, row.id, item.check, item.candidates),
        )


async def _answer_closed(press: Press, teaching: Teaching) -> None:
    """A button of a question that is no longer open: taught already, or gone."""
    if teaching.status is Status.ALREADY:
        topic = press.services.kb.topic(teaching.topic_id) if teaching.topic_id else None
        where = topic.title[press.lang] if topic else press.text("teach.out_of_scope_label")
        await press.ok("teach.already", topic=where)
        return
    await press.alert("teach.expired")


@coordinators_only
@on_press
async def teach(press: Press) -> None:
    """A teaching button: attach the question to a topic or to "out of scope", or move
    through the topic menu to find the topic."""
    if press.user is None:
        return
    services, context, lang = press.services, press.context, press.lang
    action, check, arg = press.group(1), press.group(3), press.match and press.match.group(4)
    unanswered_id = int(press.group(2))
    valid = (
        (action == "t" and arg is not None and services.kb.topic(arg) is not None)
        or (action == "g" and arg is not None and bool(services.kb.in_category(arg)))
        or (action in ("o", "c", "b") and arg is None)
    )
    if not valid:
        await press.expired()
        return
    if action in ("t", "o"):
        topic_id = arg if action == "t" else None
        taught = await services.teaching.teach_unanswered(
            unanswered_id=unanswered_id,
            check=check,
            topic_id=topic_id,
            coordinator_id=press.user.id,
        )
        if taught.status is not Status.TAUGHT or taught.question is None:
            await _answer_closed(press, taught)
            return
        await press.ok()
        topic = services.kb.topic(topic_id) if topic_id else None
        done = (
            press.text("teach.taught", topic=topic.title[lang])
            if topic is not None
            else press.text("teach.taught_out_of_scope")
        )
        text = f"{_item_text(context, lang, taught.question)}\n\n{done}"
        try:
            await press.query.edit_message_text(text, reply_markup=None)
        except BadRequest:
            # The message cannot be edited any more: confirm in a new one.
            await press.send(text)
        return
    state = await services.teaching.state(unanswered_id=unanswered_id, check=check)
    if state.status is not Status.OPEN or state.question is None:
        await _answer_closed(press, state)
        return
    if action == "c":
        markup = _categories_keyboard(context, lang, unanswered_id, check)
    elif action == "g" and arg is not None:
        markup = _topics_keyboard(context, lang, unanswered_id, check, arg)
    else:
        candidates = await services.teaching.candidates(state.question.text)
        markup = _candidates_keyboard(context, lang, unanswered_id, check, candidates)
    await press.ok()
    # BadRequest: unchanged (a double tap) or too old; the buttons then stay as they are.
    with contextlib.suppress(BadRequest):
        await press.query.edit_message_reply_markup(markup)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Coordinator commands and the teaching buttons."""
    return [
        CommandHandler("unanswered", show_unanswered),
        CallbackQueryHandler(teach, pattern=_TEACH_DATA),
    ]
