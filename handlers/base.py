"""The typed handler context and the little helpers every feature module shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from telegram import Update, User
from telegram.ext import Application, CallbackContext, ExtBot

from bot.db import queries
from bot.services.container import Services
from knowledge import Lang

SERVICES_KEY = "services"


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Handler context with the long-lived services as attributes instead of string keys."""

    @property
    def services(self) -> Services:
        """Everything the composition root built for this application."""
        services: Services = self.bot_data[SERVICES_KEY]
        return services


BotApplication = Application[
    ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any
]
Handler = Callable[[Update, BotContext], Awaitable[Any]]
H = TypeVar("H", bound=Handler)


def telegram_language(user: User | None) -> Lang:
    """German unless the person's Telegram app is set to English."""
    code = (user.language_code or "") if user else ""
    return "en" if code.lower().startswith("en") else "de"


async def user_language(update: Update, context: BotContext) -> Lang:
    """The chat's chosen language, else the Telegram app language; registers new chats."""
    chat = update.effective_chat
    user = update.effective_user
    cached = context.chat_data.get("language") if context.chat_data is not None else None
    if cached in ("de", "en"):
        return cached  # type: ignore[no-any-return]
    lang = telegram_language(user)
    if chat is not None:
        async with context.services.sessions.begin() as session:
            row = await queries.ensure_chat(
                session,
                chat_id=chat.id,
                user_id=user.id if user and chat.type == "private" else None,
                kind=chat.type,
            )
            if row.language in ("de", "en"):
                lang = row.language  # type: ignore[assignment]
        if context.chat_data is not None:
            context.chat_data["language"] = lang
    return lang


def remember_language(context: BotContext, lang: Lang) -> None:
    """Update the per-chat language cache after the person changed it."""
    if context.chat_data is not None:
        context.chat_data["language"] = lang


def coordinators_only(handler: H) -> H:
    """Let the handler run only for coordinators; everyone else gets a polite refusal."""

    @wraps(handler)
    async def guarded(update: Update, context: BotContext) -> Any:
        user = update.effective_user
        sender_chat = update.effective_message.sender_chat if update.effective_message else None
        allowed = sender_chat is None and context.services.roles.is_coordinator(
            user.id if user else None
        )
        if not allowed:
            lang = await user_language(update, context)
            text = context.services.texts.get(lang, "common.coordinator_only")
            if update.callback_query:
                await update.callback_query.answer(text, show_alert=True)
            elif update.effective_message:
                await update.effective_message.reply_text(text)
            return None
        return await handler(update, context)

    return guarded  # type: ignore[return-value]
