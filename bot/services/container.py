"""The long-lived services the composition root creates once and hands to every handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import outbox
from bot.db.models import AuditEntry, utcnow
from bot.services.broadcasts import BroadcastService
from bot.services.chats import ChatService
from bot.services.directory import DirectoryService
from bot.services.flood import FloodGuard
from bot.services.handovers import HandoverService
from bot.services.onboarding import OnboardingService
from bot.services.pacing import Pacer
from bot.services.partners import PartnerService
from bot.services.privacy import PrivacyService
from bot.services.questions import QuestionService
from bot.services.reminders import ReminderService
from bot.services.reports import ReportService
from bot.services.roles import Roles
from bot.services.teaching import TeachingService
from bot.services.waiting import WaitingService
from bot.settings import Settings
from bot.texts import Texts
from knowledge import KnowledgeBase, SearchEngine


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a handler may use; built in `bot.app`."""

    settings: Settings
    texts: Texts
    kb: KnowledgeBase
    search: SearchEngine  # the knowledge base search (the database engine stays inside `sessions`)
    sessions: async_sessionmaker[AsyncSession]
    # The reads on every message's path (bot.db.engine.create_readers): `sessions` but on a
    # SQLite file, whose one writing connection they would otherwise queue behind.
    readers: async_sessionmaker[AsyncSession]
    questions: QuestionService
    roles: Roles
    flood: FloodGuard
    broadcasts: BroadcastService
    pacer: Pacer
    onboarding: OnboardingService
    partners: PartnerService
    reminders: ReminderService
    privacy: PrivacyService
    teaching: TeachingService
    chats: ChatService
    handovers: HandoverService
    waiting: WaitingService  # what each person's next message answers (multi-step flows)
    reports: ReportService
    directory: DirectoryService
    delivery_signal: asyncio.Event = field(default_factory=asyncio.Event)
    clock: Callable[[], datetime] = utcnow  # now, timezone-aware (UTC); tests pass their own

    def wake_delivery(self) -> None:
        """Tell the delivery worker that new messages are waiting."""
        self.delivery_signal.set()

    def office_chats(self) -> list[int]:
        """Where hand-overs go: the coordinators' chat, or without one each coordinator."""
        office = self.settings.coordinator_chat_id
        return [office] if office is not None else sorted(self.roles.coordinators)

    async def set_coordinator(self, *, user_id: int, by: int, coordinator: bool) -> bool:
        """Add or remove a coordinator (audited); False when nothing changed."""
        roles = self.roles
        if coordinator:
            return await roles.add(self.sessions, user_id=user_id, by=by)
        return await roles.remove(self.sessions, user_id=user_id, by=by)

    async def audit(self, *, actor_id: int | None, action: str, subject: object = "") -> None:
        """Record a coordinator action in the audit log (kept for the configured period)."""
        async with self.sessions.begin() as session:
            session.add(
                AuditEntry(
                    actor_id=actor_id, action=action, subject=str(subject)[:200], at=utcnow()
                )
            )

    async def notify(
        self,
        *,
        key: str,
        chat_id: int,
        text: str,
        buttons: outbox.Buttons | None = None,
        priority: int = 3,
    ) -> bool:
        """Queue one proactive message (idempotent by `key`) and wake the delivery worker."""
        async with self.sessions.begin() as session:
            added = await outbox.enqueue(
                session,
                key=key,
                chat_id=chat_id,
                kind="notification",
                text=text,
                buttons=buttons,
                priority=priority,
                now=utcnow(),
            )
        self.wake_delivery()
        return added
