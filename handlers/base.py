"""The typed handler context and the little helpers every feature module shares."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import wraps
from time import monotonic
from typing import Any, TypeVar

from telegram import CallbackQuery, Chat, InlineKeyboardMarkup, Message, Update, User
from telegram.error import BadRequest
from telegram.ext import Application, BaseHandler, CallbackContext, CommandHandler, ExtBot, filters

from bot.services.container import Services
from bot.services.waiting import Wait, WaitKind
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
R = TypeVar("R")


def telegram_language(user: User | None) -> Lang:
    """German unless the person's Telegram app is set to English."""
    code = (user.language_code or "") if user else ""
    return "en" if code.lower().startswith("en") else "de"


@dataclass(frozen=True, slots=True)
class Prefs:
    """A chat's display preferences, cached in chat_data after the first database read."""

    language: Lang
    plain: bool
    region: str | None = None  # the Land chosen in /settings; None: the network's


_PREFS = "prefs"
# How long a process trusts its cached preferences: a change made through another bot process
# (behind the same webhook) shows here within this time.
PREFS_TTL_SECONDS = 60.0
# What one person's text may hold when the bot passes it on to another (a decline reason, a
# question about a request or a report, the answer to one): room left for the frame around it.
MAX_RELAYED = 2000


def _cached_prefs(context: BotContext) -> Prefs | None:
    cached = context.chat_data.get(_PREFS) if context.chat_data is not None else None
    if isinstance(cached, tuple) and len(cached) == 2 and isinstance(cached[0], Prefs):
        prefs: Prefs = cached[0]
        if monotonic() < cached[1]:
            return prefs
    return None


async def chat_prefs(update: Update, context: BotContext) -> Prefs:
    """The chat's language (chosen, else the Telegram app's) and plain-language choice.

    The first update of a chat registers it in the database; later ones read the cache for a
    minute.
    """
    cached = _cached_prefs(context)
    if cached is not None:
        return cached
    chat = update.effective_chat
    user = update.effective_user
    prefs = Prefs(language=telegram_language(user), plain=False)
    if chat is not None:
        row = await context.services.chats.register(
            chat_id=chat.id,
            user_id=user.id if user and chat.type == "private" else None,
            kind=chat.type,
            language=prefs.language if chat.type == "private" else None,
        )
        language: Lang = row.language if row.language in ("de", "en") else prefs.language  # type: ignore[assignment]
        prefs = Prefs(language=language, plain=row.plain, region=row.region)
        if context.chat_data is not None:
            context.chat_data[_PREFS] = (prefs, monotonic() + PREFS_TTL_SECONDS)
    return prefs


async def user_language(update: Update, context: BotContext) -> Lang:
    """The language to talk to this chat in."""
    return (await chat_prefs(update, context)).language


async def stored_language(update: Update, context: BotContext) -> Lang:
    """The chat's language without registering the chat: the cached or stored choice, else
    the Telegram app's (for a press that must not create the chat's row again)."""
    cached = _cached_prefs(context)
    if cached is not None:
        return cached.language
    chat = update.effective_chat
    row = await context.services.chats.get(chat_id=chat.id) if chat is not None else None
    if row is not None and row.language in ("de", "en"):
        return row.language  # type: ignore[return-value]
    return telegram_language(update.effective_user)


def cached_language(context: BotContext, user: User | None) -> Lang:
    """The chat's language without touching the database (for error and flood replies)."""
    cached = _cached_prefs(context)
    return cached.language if cached is not None else telegram_language(user)


def forget_prefs(context: BotContext) -> None:
    """Drop the cached preferences after the person changed them."""
    if context.chat_data is not None:
        context.chat_data.pop(_PREFS, None)


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


def not_modified(error: BaseException) -> bool:
    """Telegram's answer to an edit that changes nothing (the same button pressed twice)."""
    return isinstance(error, BadRequest) and "not modified" in error.message.lower()


async def already_done(update: Update, context: BotContext, lang: Lang) -> None:
    """Answer a repeated button press: what it asked for has happened already."""
    if update.callback_query is not None:
        await update.callback_query.answer(context.services.texts.get(lang, "common.already_done"))


async def show_in_place(
    update: Update, context: BotContext, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Redraw the message whose button was pressed; send it anew if it cannot be edited.

    A second press that would draw the same again changes nothing (and sends nothing).
    """
    query = update.callback_query
    chat = update.effective_chat
    if query is not None:
        try:
            await query.edit_message_text(text, reply_markup=markup)
            return
        except BadRequest as error:
            if not_modified(error):
                return
            # Too old to edit, or a message with a caption or file: send anew below.
    if chat is not None:
        await context.bot.send_message(chat.id, text, reply_markup=markup)


async def drop_buttons(update: Update) -> None:
    """Remove the buttons of the pressed message: they did their job. Cosmetic, so a message
    too old to edit, or a second press that finds them gone already, is fine."""
    query = update.callback_query
    if query is not None:
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(None)


@dataclass(frozen=True, slots=True)
class Turn:
    """One update as a handler sees it: where it came from, who sent it, in which language to
    answer, and the services. Built once by `on_turn`/`on_press` instead of in every handler."""

    update: Update
    context: BotContext
    chat: Chat
    user: User | None
    message: Message | None
    lang: Lang

    @property
    def services(self) -> Services:
        """The long-lived services."""
        return self.context.services

    @property
    def sender_chat(self) -> bool:
        """Sent on behalf of a chat (an anonymous admin, a channel): never privileged."""
        return bool(self.message and self.message.sender_chat)

    def text(self, key: str, /, **values: object) -> str:
        """The catalog text `key` in this chat's language."""
        return self.context.services.texts.get(self.lang, key, **values)

    def label(self, key: str, /, **values: object) -> str:
        """The catalog text `key` for a button label, which Telegram shows as it is: the
        values unescaped."""
        return self.context.services.texts.plain(self.lang, key, **values)

    async def send(self, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
        """Send a message to this chat."""
        return await self.context.bot.send_message(self.chat.id, text, reply_markup=markup)

    async def say(self, key: str, /, **values: object) -> Message:
        """Send the catalog text `key` to this chat."""
        return await self.send(self.text(key, **values))

    async def reply(self, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
        """Answer the person's message (quoted in groups, as Telegram clients do)."""
        if self.message is None or self.update.callback_query is not None:
            return await self.send(text, markup)
        return await self.message.reply_text(text, reply_markup=markup)

    async def respond(self, key: str, /, **values: object) -> Message:
        """Answer the person's message with the catalog text `key`."""
        return await self.reply(self.text(key, **values))

    async def show(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Redraw the pressed message (send anew when it cannot be edited, or for a command)."""
        await show_in_place(self.update, self.context, text, markup)

    @property
    def words(self) -> str:
        """The message's text, stripped ("" for none)."""
        return (self.message.text or "").strip() if self.message else ""

    async def expect(self, kind: WaitKind, /, **payload: object) -> None:
        """From now on, this person's next message in this chat answers `kind` (in the
        database: a restart or another bot process continues from here)."""
        if self.user is not None:
            await self.services.waiting.expect(
                chat_id=self.chat.id, user_id=self.user.id, kind=kind, payload=payload
            )

    async def waiting(self, kind: WaitKind | None = None) -> Wait | None:
        """What this person's next message here answers (only if it is `kind`, when given)."""
        if self.user is None:
            return None
        wait = await self.services.waiting.current(chat_id=self.chat.id, user_id=self.user.id)
        return wait if wait is not None and kind in (None, wait.kind) else None

    async def take_coordinator_text(self, wait: Wait) -> CoordinatorText | bool:
        """A coordinator's text that answers `wait` (the prompt taken; a text longer than
        `MAX_RELAYED` is refused whole and the prompt keeps waiting); otherwise whether this
        turn is dealt with: True when it was answered (no text: asked for one) or is the second
        of two at once, False when it is not the coordinator's (no longer one: the prompt goes,
        the text is read as anything else)."""
        user, message = self.user, self.message
        if user is None or message is None:
            return False
        services = self.services
        if not services.roles.is_coordinator(user.id):
            await services.waiting.take(wait)
            return False
        if not message.text:
            await self.respond("onboarding.problem.text_needed")
            return True
        if await self.refuse_too_long(message.text):
            return True
        if not await services.waiting.take(wait):
            return True  # the same text twice at once: the first one is taken
        return CoordinatorText(user.id, message.message_id, message.text)

    async def refuse_too_long(self, text: str) -> bool:
        """Say so when a text to pass on to someone else is longer than `MAX_RELAYED` (the
        prompt keeps waiting: nothing is cut, nothing lost); True when it was."""
        length = len(text.encode("utf-16-le")) // 2  # as Telegram counts: an emoji is two
        if length <= MAX_RELAYED:
            return False
        await self.respond("common.too_long_to_relay", length=length, limit=MAX_RELAYED)
        return True


@dataclass(frozen=True, slots=True)
class CoordinatorText:
    """What a coordinator typed in answer to a prompt (a decline reason, a question)."""

    user_id: int
    message_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Press(Turn):
    """A button press: the query and its data matched against the handler's pattern."""

    query: CallbackQuery
    match: re.Match[str] | None

    def group(self, index: int) -> str:
        """A group of the pattern's match ("" when it did not take part)."""
        return (self.match.group(index) if self.match else None) or ""

    async def ok(self, key: str | None = None, /, **values: object) -> None:
        """Answer the press (with a short note when `key` is given)."""
        texts = self.services.texts
        await self.query.answer(texts.plain(self.lang, key, **values) if key else None)

    async def alert(self, key: str, /, **values: object) -> None:
        """Answer the press with a message box the person has to close."""
        await self.query.answer(
            self.services.texts.plain(self.lang, key, **values), show_alert=True
        )

    async def expired(self) -> None:
        """A button that no longer does anything (stale or forged)."""
        await self.alert("common.expired_button")

    async def done_already(self) -> None:
        """A repeated press: what it asked for has happened already."""
        await self.query.answer(self.text("common.already_done"))

    async def redraw(self, view: tuple[str, InlineKeyboardMarkup | None] | None) -> None:
        """Answer the press and show `view` in place of the pressed message; None: the button
        no longer leads anywhere."""
        if view is None:
            await self.expired()
            return
        await self.ok()
        await self.show(*view)

    async def drop_buttons(self) -> None:
        """Remove the pressed message's buttons (they did their job)."""
        await drop_buttons(self.update)


async def begin(update: Update, context: BotContext, *, register: bool = True) -> Turn | None:
    """The turn for this update, or None for one without a chat (nothing to answer to);
    `register=False`: the chat's row is read, never created."""
    chat = update.effective_chat
    if chat is None:
        return None
    if register:
        lang = await user_language(update, context)
    else:
        lang = await stored_language(update, context)
    return Turn(update, context, chat, update.effective_user, update.effective_message, lang)


def on_turn(
    handler: Callable[[Turn], Awaitable[R]],
) -> Callable[[Update, BotContext], Coroutine[Any, Any, R | None]]:
    """A PTB callback that builds the turn and hands it to `handler` (updates without a chat
    are ignored)."""

    @wraps(handler)
    async def adapter(update: Update, context: BotContext) -> R | None:
        turn = await begin(update, context)
        return None if turn is None else await handler(turn)

    return adapter


def on_press(
    handler: Callable[[Press], Awaitable[R]],
) -> Callable[[Update, BotContext], Coroutine[Any, Any, R | None]]:
    """A PTB callback for a button: the turn plus the query and the pattern's match."""
    return _press_adapter(handler, register=True)


def on_press_unregistered(
    handler: Callable[[Press], Awaitable[R]],
) -> Callable[[Update, BotContext], Coroutine[Any, Any, R | None]]:
    """`on_press` for a button that must not create the chat's row when it is gone: the
    erasure's confirmation, whose second tap would otherwise register the chat again only to
    erase it (and report that as a deletion)."""
    return _press_adapter(handler, register=False)


def _press_adapter(
    handler: Callable[[Press], Awaitable[R]], *, register: bool
) -> Callable[[Update, BotContext], Coroutine[Any, Any, R | None]]:
    @wraps(handler)
    async def adapter(update: Update, context: BotContext) -> R | None:
        turn = await begin(update, context, register=register)
        query = update.callback_query
        if turn is None or query is None:
            return None
        matches = context.matches or []
        found = matches[0] if matches and isinstance(matches[0], re.Match) else None
        press = Press(update, context, turn.chat, turn.user, turn.message, turn.lang, query, found)
        if not query.data:
            # PTB passes a button without data to every pattern: nothing it could mean.
            await press.expired()
            return None
        return await handler(press)

    return adapter


def flow_opener(
    kind: WaitKind, first_step: str, ask: str
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """The command that opens a multi-step flow: a fresh draft at `first_step` (replacing
    whatever waited), then the first question."""

    @on_turn
    async def open_flow(turn: Turn) -> None:
        await turn.expect(kind, step=first_step)
        await turn.respond(ask)

    return open_flow


def private_chat_only(command: str) -> BaseHandler[Update, BotContext, object]:
    """`command` outside a private chat (the office group): a coordinator is told to write it
    to the bot privately, where its steps can wait for their answers; anyone else is refused
    as for every coordinator command. Without it the command got no answer at all there."""

    @coordinators_only
    @on_turn
    async def refer(turn: Turn) -> None:
        await turn.respond(
            "common.private_chat_only", command=f"/{command}", bot=turn.context.bot.username
        )

    return CommandHandler(command, refer, filters=~filters.ChatType.PRIVATE)
