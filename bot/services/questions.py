"""Answering free-text questions from the knowledge base and keeping what it could not answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import queries
from bot.db.models import Handover, utcnow
from knowledge import Lang, Outcome, SearchEngine, SearchResult

# Telegram's own limit for a text message: the search reads a message whole.
MAX_QUESTION_CHARS = 4096
# Scope rules that are conversation, not questions, and questions coordinators marked out of
# scope: neither is a gap in the knowledge base, so neither is kept for the curators.
TAUGHT_SCOPE = "taught"
CONVERSATIONAL = frozenset({"greeting", "thanks"})


@dataclass(frozen=True, slots=True)
class Answer:
    """The search decision plus whether the question was cut to the length we consider."""

    result: SearchResult
    truncated: bool


class QuestionService:
    """Runs the search off the event loop and records unanswered questions for curators."""

    def __init__(self, engine: SearchEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.engine = engine
        self._sessions = sessions

    async def ask(self, text: str, lang: Lang | None) -> Answer:
        """Search for `text` (cut to MAX_QUESTION_CHARS) off the event loop."""
        truncated = len(text) > MAX_QUESTION_CHARS
        # The semantic layer takes tens of milliseconds of CPU: keep other updates flowing.
        # A long message is read whole; the search finds its asking sentences.
        result = await asyncio.to_thread(self.engine.search, text[:MAX_QUESTION_CHARS], lang)
        return Answer(result=result, truncated=truncated)

    async def record_feedback(self, *, topic_id: str, helpful: bool) -> None:
        """Count a 👍 or 👎 for a topic (anonymously)."""
        async with self._sessions.begin() as session:
            await queries.record_feedback(session, topic_id=topic_id, helpful=helpful)

    async def open_handover(self, *, asker_chat_id: int, language: str, question: str) -> int:
        """Register a question passed to the network office; its number."""
        async with self._sessions.begin() as session:
            handover = await queries.create_handover(
                session, asker_chat_id=asker_chat_id, language=language, question=question
            )
            return handover.id

    async def attach_office_message(
        self, *, handover_id: int, office_chat_id: int, office_message_id: int
    ) -> None:
        """Remember the office chat's message that carries the hand-over, for the reply."""
        async with self._sessions.begin() as session:
            await queries.attach_office_message(
                session,
                handover_id=handover_id,
                office_chat_id=office_chat_id,
                office_message_id=office_message_id,
            )

    async def handover_replied_to(
        self, *, office_chat_id: int, office_message_id: int
    ) -> Handover | None:
        """The hand-over a coordinator replied to, if the replied-to message is one."""
        async with self._sessions() as session:
            return await queries.find_handover(
                session, office_chat_id=office_chat_id, office_message_id=office_message_id
            )

    async def handover_answered(self, *, handover_id: int) -> None:
        """Note that the office answered."""
        async with self._sessions.begin() as session:
            await queries.mark_handover_answered(session, handover_id=handover_id, at=utcnow())

    async def record_if_unanswered(self, answer: Answer) -> None:
        """Count the question (by outcome only) and keep one that was not answered directly
        for curators, without the asker."""
        result = answer.result
        async with self._sessions.begin() as session:
            await queries.count_question(session, day=utcnow().date(), outcome=result.outcome.value)
        if result.outcome is Outcome.ANSWER or result.scope_rule in {*CONVERSATIONAL, TAUGHT_SCOPE}:
            return
        best = result.ranked[0].topic_id if result.ranked else None
        async with self._sessions.begin() as session:
            await queries.record_unanswered(
                session,
                text=result.question,
                language=result.lang,
                outcome=result.outcome.value,
                best_topic=best,
                score=result.score,
            )
