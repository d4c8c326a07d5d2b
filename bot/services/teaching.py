"""Coordinators teach the bot: a question attached to a topic (or marked out of scope) is
stored, used by the search at once, and replayed into the search at every start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import learned, queries
from bot.db.models import AuditEntry, utcnow
from bot.db.models import UnansweredQuestion as UnansweredQuestion  # re-exported for handlers
from bot.services.base import Clock, Service, Sessions
from knowledge import SearchEngine
from knowledge.text import guess_language

logger = logging.getLogger(__name__)

DISLIKED = "disliked"  # the outcome of a question whose answer got a 👎
CANDIDATES = 3  # one-tap topics offered for a question
CHECK_CHARS = 6  # of the question's key that a button carries
MAX_TAUGHT_CHARS = 1000  # what the search reads of a question


class Status(StrEnum):
    """What became of a question a coordinator acted on."""

    OPEN = "open"  # still in the list
    TAUGHT = "taught"  # taught just now, by this action
    ALREADY = "already"  # taught before (a double tap, or another coordinator was first)
    EXPIRED = "expired"  # gone from the list (retention) and never taught


@dataclass(frozen=True, slots=True)
class Teaching:
    """The state of one question of the list, with the row while it exists."""

    status: Status
    question: UnansweredQuestion | None = None
    topic_id: str | None = None  # the topic it is (now) attached to; None: out of scope


@dataclass(frozen=True, slots=True)
class Pending:
    """A question of the curators' list with the topics the search ranks best for it."""

    question: UnansweredQuestion
    check: str
    candidates: tuple[str, ...]


def question_check(text: str) -> str:
    """The short check of a question that its buttons carry (a prefix of its stored key)."""
    return learned.fold_key(text)[:CHECK_CHARS]


class TeachingService(Service):
    """Stores taught questions, teaches the search engine, keeps the curators' list."""

    def __init__(
        self,
        engine: SearchEngine,
        sessions: Sessions,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(sessions, clock=clock)
        self.engine = engine

    async def replay(self) -> int:
        """Teach the search engine every stored question again (at start); returns how many."""
        async with self._sessions() as session:
            rows = await learned.all_learned(session)
        for row in rows:
            self.engine.learn(row.question, row.topic_id)
        if rows:
            logger.info("replayed %d learned questions into the search", len(rows))
        return len(rows)

    async def pending(self, *, limit: int) -> tuple[list[Pending], int]:
        """The newest questions of the curators' list with their candidate topics, and how
        many there are in all."""
        async with self._sessions() as session:
            rows, total = await queries.list_unanswered(session, limit=limit)

        def rank_all() -> list[tuple[str, ...]]:
            return [
                tuple(m.topic_id for m in self.engine.rank(row.text)[:CANDIDATES]) for row in rows
            ]

        # Ranking with the semantic layer takes CPU time: keep other updates flowing.
        ranked = await asyncio.to_thread(rank_all)
        items = [
            Pending(question=row, check=question_check(row.text), candidates=candidates)
            for row, candidates in zip(rows, ranked, strict=True)
        ]
        return items, total

    async def candidates(self, question: str) -> tuple[str, ...]:
        """The topics the search ranks best for a question (at most three)."""
        matches = await asyncio.to_thread(self.engine.rank, question)
        return tuple(m.topic_id for m in matches[:CANDIDATES])

    async def state(self, *, unanswered_id: int, check: str) -> Teaching:
        """Whether a question of the list is still open, was taught, or is gone."""
        async with self._sessions() as session:
            row = await learned.get_unanswered(session, unanswered_id=unanswered_id)
            if row is not None and question_check(row.text) == check:
                return Teaching(Status.OPEN, question=row)
            done = await learned.learned_by_key_prefix(session, prefix=check)
        if done is not None:
            return Teaching(Status.ALREADY, topic_id=done.topic_id)
        return Teaching(Status.EXPIRED)

    async def teach_unanswered(
        self, *, unanswered_id: int, check: str, topic_id: str | None, coordinator_id: int
    ) -> Teaching:
        """Teach a question of the curators' list; exactly one of several taps teaches it."""
        current = await self.state(unanswered_id=unanswered_id, check=check)
        row = current.question
        if current.status is not Status.OPEN or row is None:
            return current
        async with self._sessions.begin() as session:
            claimed = await learned.claim_unanswered(
                session, unanswered_id=unanswered_id, text=row.text
            )
            if claimed:
                await self._store(
                    session, question=row.text, topic_id=topic_id, coordinator_id=coordinator_id
                )
        if not claimed:
            # A second tap (or another coordinator) got there first: say what it did.
            after = await self.state(unanswered_id=unanswered_id, check=check)
            if after.status is Status.ALREADY:
                return after
            return Teaching(Status.ALREADY, topic_id=topic_id)
        self.engine.learn(row.text, topic_id)
        return Teaching(Status.TAUGHT, question=row, topic_id=topic_id)

    async def teach(self, question: str, topic_id: str | None, coordinator_id: int) -> None:
        """Attach a question to a topic (None: out of scope): stored, audited, taken off the
        curators' list, and answered that way from the next search on."""
        if topic_id is not None and self.engine.kb.topic(topic_id) is None:
            raise ValueError(f"no topic {topic_id!r} in the knowledge base")
        async with self._sessions.begin() as session:
            await self._store(
                session, question=question, topic_id=topic_id, coordinator_id=coordinator_id
            )
        self.engine.learn(question, topic_id)

    async def _store(
        self,
        session: AsyncSession,
        *,
        question: str,
        topic_id: str | None,
        coordinator_id: int,
    ) -> None:
        now = self._clock()
        row_id = await learned.upsert_learned(
            session,
            question=question,
            # The language of the question itself: it decides where the export puts it.
            language=guess_language(question),
            topic_id=topic_id,
            coordinator_id=coordinator_id,
            at=now,
        )
        await learned.drop_unanswered_text(session, text=question)
        session.add(
            AuditEntry(
                actor_id=coordinator_id,
                action="question_teach",
                subject=f"{row_id}:{topic_id or 'out_of_scope'}",
                at=now,
            )
        )

    async def record_disliked(self, *, question: str, language: str, topic_id: str) -> None:
        """Put a question whose answer got a 👎 on the curators' list (without the asker)."""
        async with self._sessions.begin() as session:
            await queries.record_unanswered(
                session,
                text=question[:MAX_TAUGHT_CHARS],
                language=language,
                outcome=DISLIKED,
                best_topic=topic_id,
                score=0.0,
            )

    async def counts(self) -> Sequence[tuple[str | None, int]]:
        """Taught questions per topic (None: out of scope)."""
        async with self._sessions() as session:
            return await learned.count_learned_by_topic(session)
