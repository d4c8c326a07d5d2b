"""Welcome, help, the main menu, and polite answers to anything unexpected."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import callbacks
from bot.services.partners import INVITE_PREFIX
from handlers import join, private_text
from handlers.base import BotContext, Press, Turn, on_press, on_turn
from knowledge import Lang

MENU = callbacks.MENU


def main_menu(context: BotContext, lang: Lang) -> InlineKeyboardMarkup:
    """The main menu under the welcome message."""
    texts = context.services.texts
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.get(lang, "menu.topics"), callback_data=callbacks.CATEGORY
                ),
                InlineKeyboardButton(
                    texts.get(lang, "menu.firststeps"),
                    callback_data=f"{callbacks.FIRST_STEPS}start",
                ),
            ],
            [
                InlineKeyboardButton(
                    texts.get(lang, "onboarding.join_button"), callback_data=f"{callbacks.JOIN}join"
                )
            ],
            [
                InlineKeyboardButton(
                    texts.get(lang, "menu.settings"), callback_data=f"{callbacks.SETTINGS}show"
                ),
                InlineKeyboardButton(texts.get(lang, "menu.help"), callback_data=f"{MENU}help"),
            ],
        ]
    )


@on_turn
async def start(turn: Turn) -> None:
    """/start, with or without a deep-link payload: welcome in the person's language."""
    args = turn.context.args
    payload = args[0] if args else ""
    if payload.startswith(INVITE_PREFIX):
        await join.link_invite(turn, payload.removeprefix(INVITE_PREFIX))
        return
    if payload:
        await turn.respond("start.unknown_payload")
    await turn.reply(
        turn.text("start.welcome", network_name=turn.services.settings.network_name),
        main_menu(turn.context, turn.lang),
    )


def help_text(context: BotContext, lang: Lang, user_id: int | None) -> str:
    """The help text, with the coordinator part for coordinators."""
    texts = context.services.texts
    text: str = texts.get(lang, "help.text")
    if context.services.roles.is_coordinator(user_id):
        text += "\n" + texts.get(lang, "help.coordinator")
    return text


@on_turn
async def show_help(turn: Turn) -> None:
    """/help or the help button."""
    if turn.update.callback_query:
        await turn.update.callback_query.answer()
    await turn.send(help_text(turn.context, turn.lang, turn.user.id if turn.user else None))


@on_turn
async def unknown_command(turn: Turn) -> None:
    """A command the bot does not have."""
    await turn.respond("common.unknown_command")


@on_press
async def expired_button(press: Press) -> None:
    """Any button no other handler knows: from an old message or forged."""
    await press.expired()


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
        MessageHandler(
            private & ~filters.TEXT & ~filters.StatusUpdate.ALL, private_text.route_private_other
        ),
        CallbackQueryHandler(expired_button),
    ]
