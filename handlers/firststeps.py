"""/firststeps: three questions (type, size, stage), then 3-5 recommended topics.

The answers so far travel in the buttons' callback data ("fs:company:small"), so the wizard
keeps no server-side state: it survives restarts, and an old message's buttons still work.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.services.firststeps import ORGANISATION_TYPES, SIZES, STAGES, recommend
from handlers.answers import topic_keyboard
from handlers.base import BotContext, Press, Turn, on_press, on_turn
from knowledge import Lang

PREFIX = callbacks.FIRST_STEPS


def _choices(
    context: BotContext, lang: Lang, group: str, values: tuple[str, ...], path: str
) -> InlineKeyboardMarkup:
    texts = context.services.texts
    buttons = [
        InlineKeyboardButton(
            texts.get(lang, f"firststeps.{group}.{v}"), callback_data=f"{PREFIX}{path}{v}"
        )
        for v in values
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def step_view(
    context: BotContext, lang: Lang, answers: list[str]
) -> tuple[str, InlineKeyboardMarkup] | None:
    """The next question for the answers given so far, the result, or None if they are invalid."""
    texts = context.services.texts
    groups = (ORGANISATION_TYPES, SIZES, STAGES)
    if len(answers) > 3 or any(a not in g for a, g in zip(answers, groups, strict=False)):
        return None
    path = "".join(f"{a}:" for a in answers)  # the next button appends its own value
    if len(answers) == 0:
        return texts.get(lang, "firststeps.ask_type"), _choices(
            context, lang, "type", ORGANISATION_TYPES, path
        )
    if len(answers) == 1:
        return texts.get(lang, "firststeps.ask_size"), _choices(context, lang, "size", SIZES, path)
    if len(answers) == 2:
        return texts.get(lang, "firststeps.ask_stage"), _choices(
            context, lang, "stage", STAGES, path
        )
    org_type, size, stage = answers
    topics = recommend(context.services.kb, organisation_type=org_type, size=size, stage=stage)
    steps = "\n".join(f"{i}. {t.title[lang]}" for i, t in enumerate(topics, start=1))
    text = texts.get(
        lang,
        "firststeps.result",
        type=texts.get(lang, f"firststeps.type.{org_type}"),
        size=texts.get(lang, f"firststeps.size.{size}"),
        stage=texts.get(lang, f"firststeps.stage.{stage}"),
        steps=steps,
    )
    return text, topic_keyboard(topics, lang)


@on_turn
async def start_wizard(turn: Turn) -> None:
    """/firststeps: ask the first question."""
    view = step_view(turn.context, turn.lang, [])
    assert view is not None
    if turn.update.callback_query:
        await turn.update.callback_query.answer()
    await turn.send(*view)


@on_press
async def answer_step(press: Press) -> None:
    """A wizard button: move to the next question (or the result) in the same message."""
    answers = [a for a in press.group(1).split(":") if a]
    await press.redraw(step_view(press.context, press.lang, answers))


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """The wizard's command and buttons."""
    return [
        CommandHandler("firststeps", start_wizard),
        CallbackQueryHandler(start_wizard, pattern=f"^{PREFIX}start$"),
        CallbackQueryHandler(answer_step, pattern=rf"^{PREFIX}([\w:]*)$"),
    ]
