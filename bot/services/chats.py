"""Chats and their preferences: registration on first contact, /settings, notices, blocking."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import queries
from bot.db.models import Chat, Partner, utcnow
from bot.db.queries import Contact, Registered
from bot.services.batching import GroupCommit
from bot.services.reminders import ReminderService

__all__ = ["Chat", "ChatService", "Registered"]


class ChatService:
    """Every read and change of a chat's row; each call is one transaction (registrations
    that arrive together share one)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], reminders: ReminderService | None = None
    ) -> None:
        self._sessions = sessions
        # The chat's queued reminders follow its switches (in the same transaction).
        self._reminders = reminders
        # First contacts (and every chat's first message after a restart or a minute's quiet,
        # see handlers.base.chat_prefs) are registered in batches: 20 new people at once were
        # 20 transactions queued on SQLite's one writing connection.
        self._contacts: GroupCommit[int, Contact, Registered] = GroupCommit(
            self._register, name="chat-registrations"
        )

    async def register(
        self, *, chat_id: int, user_id: int | None, kind: str, language: str | None
    ) -> Registered:
        """The chat's choices, the chat created on first contact (active again if it was not).

        Two messages of one chat at once share one registration."""
        return await self._contacts.submit(chat_id, Contact(user_id, kind, language))

    async def _register(self, contacts: Mapping[int, Contact]) -> dict[int, Registered]:
        async with self._sessions.begin() as session:
            return await queries.ensure_chats(session, contacts, now=utcnow())

    async def get(self, *, chat_id: int) -> Chat | None:
        """The stored chat, or None if the bot has not seen it."""
        async with self._sessions() as session:
            return await queries.get_chat(session, chat_id=chat_id)

    async def set_subscribed(self, *, chat_id: int, subscribed: bool) -> None:
        """Event notices on or off (off is an explicit opt-out)."""
        async with self._sessions.begin() as session:
            await queries.set_subscription(session, chat_id=chat_id, subscribed=subscribed)

    async def set_active(self, *, chat_id: int, active: bool) -> None:
        """The chat blocked the bot (or removed it), or is reachable again."""
        async with self._sessions.begin() as session:
            await queries.set_chat_active(session, chat_id=chat_id, active=active)

    async def change(
        self, *, chat_id: int, what: str, wanted: str, current_lang: str
    ) -> str | None:
        """Apply one /settings switch: `what` is lang, plain, notices, reminders or rg (a
        region), `wanted` the state asked for ("" toggles, for old buttons without a state).
        The chat's language afterwards, or None when the chat is unknown."""
        lang = current_lang
        async with self._sessions.begin() as session:
            if what in ("lang", "reminders") and self._reminders is not None:
                # Before the chat's row is changed: waiting for a planner run while holding
                # the row would hold up everyone who needs that row.
                await self._reminders.hold_plans(session)
            row = await queries.get_chat(session, chat_id=chat_id)
            if row is None:
                return None
            if what == "lang":
                lang = "en" if wanted == "en" or (not wanted and lang == "de") else "de"
                await queries.set_preferences(session, chat_id=chat_id, language=lang)
                if self._reminders is not None:
                    await self._reminders.language_changed(session, chat_id=chat_id, lang=lang)
            elif what == "plain":
                plain = wanted == "1" if wanted else not row.plain_language
                await queries.set_preferences(session, chat_id=chat_id, plain_language=plain)
            elif what == "notices":
                notices = wanted == "1" if wanted else not row.notices
                await queries.set_subscription(session, chat_id=chat_id, subscribed=notices)
            elif what == "reminders":
                reminders = wanted == "1" if wanted else not row.reminders
                await queries.set_preferences(session, chat_id=chat_id, reminders=reminders)
                if self._reminders is not None:
                    await self._reminders.reminders_switched(session, chat_id=chat_id, on=reminders)
            elif what == "rg":
                await queries.set_preferences(session, chat_id=chat_id, region=wanted)
        return lang

    async def partners_of(self, *, chat_id: int) -> Sequence[Partner]:
        """The active partners this chat is a linked contact of."""
        async with self._sessions() as session:
            return await queries.partners_of_chat(session, chat_id=chat_id)
