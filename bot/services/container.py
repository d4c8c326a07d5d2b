"""The long-lived services the composition root creates once and hands to every handler."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.flood import FloodGuard
from bot.services.questions import QuestionService
from bot.services.roles import Roles
from bot.settings import Settings
from bot.texts import Texts
from knowledge import KnowledgeBase, SearchEngine


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a handler may use; built in `bot.app`."""

    settings: Settings
    texts: Texts
    kb: KnowledgeBase
    engine: SearchEngine
    sessions: async_sessionmaker[AsyncSession]
    questions: QuestionService
    roles: Roles
    flood: FloodGuard
