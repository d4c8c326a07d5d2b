"""Answering free-text questions from the knowledge base and keeping what it could not answer."""

from __future__ import annotations

import asyncio
import os
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import queries, waiting
from bot.db.models import utcnow
from knowledge import Lang, Outcome, SearchEngine, SearchResult

# Telegram's own limit for a text message: the search reads a message whole.
MAX_QUESTION_CHARS = 4096
# Scope rules that are conversation, not questions, and questions coordinators marked out of
# scope: neither is a gap in the knowledge base, so neither is kept for the curators.
TAUGHT_SCOPE = "taught"
CONVERSATIONAL = frozenset({"greeting", "thanks"})
# Repeated questions ("Wie werden wir Partner?") are answered from memory: a search costs tens
# of milliseconds of CPU, a lookup nothing. Bounded, so memory stays small.
CACHED_RESULTS = 512


@dataclass(frozen=True, slots=True)
class Answer:
    """The search decision plus whether the question was cut to the length we consider."""

    result: SearchResult
    truncated: bool


@dataclass(slots=True)
class _Batch:
    """Question records waiting for the next write, and the future their callers await."""

    done: asyncio.Future[None]
    counts: Counter[tuple[date, str]]
    unanswered: list[SearchResult]


class QuestionService:
    """Runs the search off the event loop and records unanswered questions for curators.

    Searches run on a pool of their own with one thread per core: more would only take turns
    on the same cores and the event loop's share of them. Records are written by one writer at
    a time; questions recorded while it writes are written together in its next transaction
    (a group commit), so under load the database sees one transaction per batch, not two per
    question, and every caller still returns only once its record is stored.
    """

    def __init__(
        self,
        engine: SearchEngine,
        sessions: async_sessionmaker[AsyncSession],
        *,
        search_threads: int | None = None,
        cache_size: int = CACHED_RESULTS,
    ) -> None:
        self.engine = engine
        self._sessions = sessions
        self._pool = ThreadPoolExecutor(
            max_workers=search_threads or os.cpu_count() or 2, thread_name_prefix="search"
        )
        self._cache: OrderedDict[tuple[str, Lang | None], SearchResult] = OrderedDict()
        self._cache_size = cache_size
        self._cache_generation = engine.generation
        self._batch: _Batch | None = None
        self._writer: asyncio.Task[None] | None = None

    async def ask(self, text: str, lang: Lang | None) -> Answer:
        """Search for `text` (cut to MAX_QUESTION_CHARS) off the event loop."""
        truncated = len(text) > MAX_QUESTION_CHARS
        # A long message is read whole; the search finds its asking sentences.
        question = text[:MAX_QUESTION_CHARS]
        result = self._cached(question, lang)
        if result is None:
            loop = asyncio.get_running_loop()
            generation = self.engine.generation
            result = await loop.run_in_executor(self._pool, self.engine.search, question, lang)
            if generation == self.engine.generation:  # nothing was taught meanwhile
                self._remember(question, lang, result)
        return Answer(result=result, truncated=truncated)

    def _cached(self, question: str, lang: Lang | None) -> SearchResult | None:
        if self._cache_generation != self.engine.generation:
            # A coordinator taught a question: earlier decisions may be wrong now.
            self._cache.clear()
            self._cache_generation = self.engine.generation
        result = self._cache.get((question, lang))
        if result is not None:
            self._cache.move_to_end((question, lang))
        return result

    def _remember(self, question: str, lang: Lang | None, result: SearchResult) -> None:
        if self._cache_generation != self.engine.generation:
            return
        self._cache[(question, lang)] = result
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def record_feedback(
        self, *, topic_id: str, helpful: bool, chat_id: int, message_id: int
    ) -> bool:
        """Count a 👍 or 👎 for a topic (anonymously), once per answer message; False for a
        second vote on the same message (a double tap, the other thumb, another process)."""
        async with self._sessions.begin() as session:
            if not await waiting.first_vote(
                session, chat_id=chat_id, message_id=message_id, now=utcnow()
            ):
                return False
            await queries.record_feedback(session, topic_id=topic_id, helpful=helpful)
        return True

    async def record_if_unanswered(self, answer: Answer) -> None:
        """Count the question (by outcome only) and keep one that was not answered directly
        for curators, without the asker; returns once it is stored."""
        result = answer.result
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch(
                done=asyncio.get_running_loop().create_future(), counts=Counter(), unanswered=[]
            )
        batch.counts[(utcnow().date(), result.outcome.value)] += 1
        kept = result.outcome is not Outcome.ANSWER and result.scope_rule not in {
            *CONVERSATIONAL,
            TAUGHT_SCOPE,
        }
        if kept:
            batch.unanswered.append(result)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches(), name="question-records")
        # Shielded: a caller that is cancelled does not cancel the others' write.
        await asyncio.shield(batch.done)

    async def _write_batches(self) -> None:
        """Write waiting batches one transaction each until none is left."""
        while self._batch is not None:
            batch, self._batch = self._batch, None
            try:
                async with self._sessions.begin() as session:
                    await queries.count_questions(session, batch.counts)
                    for result in batch.unanswered:
                        await queries.record_unanswered(
                            session,
                            text=result.question,
                            language=result.lang,
                            outcome=result.outcome.value,
                            best_topic=result.ranked[0].topic_id if result.ranked else None,
                            score=result.score,
                        )
            except asyncio.CancelledError:
                batch.done.cancel()  # shutting down: the callers end with it
                raise
            except Exception as error:  # every waiting caller learns that its write failed
                batch.done.set_exception(error)
                batch.done.exception()  # retrieved: only the callers' awaits report it
            else:
                batch.done.set_result(None)

    def close(self) -> None:
        """Stop the search threads (a search running now still finishes)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
