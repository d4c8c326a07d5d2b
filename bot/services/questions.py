"""Answering free-text questions from the knowledge base and keeping what it could not answer."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections import Counter, OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import queries, waiting
from bot.db.models import utcnow
from bot.services.batching import GroupCommit
from knowledge import Lang, Outcome, SearchEngine, SearchResult

# Telegram's own limit for a text message: the search reads a message whole.
MAX_QUESTION_CHARS = 4096
# Scope rules that are conversation, not questions, and questions coordinators marked out of
# scope: neither is a gap in the knowledge base, so neither is kept for the curators.
TAUGHT_SCOPE = "taught"
CONVERSATIONAL = frozenset({"greeting", "thanks"})
_NOT_KEPT = CONVERSATIONAL | {TAUGHT_SCOPE}
# Repeated questions ("Wie werden wir Partner?") are answered from memory: a search costs tens
# of milliseconds of CPU, a lookup nothing. Bounded, so memory stays small.
CACHED_RESULTS = 512


@dataclass(frozen=True, slots=True)
class Answer:
    """The search decision plus whether the question was cut to the length we consider."""

    result: SearchResult
    truncated: bool


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
        self._cache: OrderedDict[str, SearchResult] = OrderedDict()
        # Searches not finished yet, by question: a second asker of the same one waits for it.
        self._running: dict[str, tuple[int, asyncio.Future[SearchResult]]] = {}
        self._cache_size = cache_size
        self._cache_generation = engine.generation
        self._records: GroupCommit[int, tuple[date, SearchResult], None] = GroupCommit(
            self._write_records, name="question-records"
        )
        self._record_keys = itertools.count()

    def prefetch(self, text: str) -> None:
        """Start searching `text` now, while the update is still on its way to a handler.

        A private message is checked before it is answered (delivered before? a form waiting
        for it? the chat's language?), each a database round trip that waits its turn under
        load; the search, the dearer part, runs meanwhile. It has no effect besides the
        result kept in memory (as a question asked twice is), so a message that turns out to
        be a form's answer, or a second delivery, costs only the CPU. `ask` takes the result.
        Such a text stays among the remembered results until newer ones push it out: in this
        process's memory only, with nothing that links it to the person who wrote it.
        """
        question = text[:MAX_QUESTION_CHARS]
        if self._cached(question) is None:
            with contextlib.suppress(RuntimeError):  # the pool is shut: the bot is stopping
                self._search(question)

    async def ask(self, text: str, lang: Lang | None) -> Answer:
        """Search for `text` (cut to MAX_QUESTION_CHARS) off the event loop; the result is in
        `lang` (None: the question's own language)."""
        truncated = len(text) > MAX_QUESTION_CHARS
        # A long message is read whole; the search finds its asking sentences.
        question = text[:MAX_QUESTION_CHARS]
        result = self._cached(question)
        if result is None:
            # Shielded: a caller cancelled (the bot stopping) does not cancel the search
            # another caller of the same question waits for.
            result = await asyncio.shield(self._search(question))
        if lang is not None and result.lang != lang:
            result = replace(result, lang=lang)  # the decision does not depend on it
        return Answer(result=result, truncated=truncated)

    def _search(self, question: str) -> asyncio.Future[SearchResult]:
        """The search of `question` under the knowledge base as it is now: the one already
        running, else a new one. Its result is remembered unless something was taught
        meanwhile."""
        generation = self.engine.generation
        running = self._running.get(question)
        if running is not None and running[0] == generation:
            return running[1]
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self.engine.search, question, None)
        entry = (generation, future)
        self._running[question] = entry

        def finished(done: asyncio.Future[SearchResult]) -> None:
            if self._running.get(question) is entry:
                del self._running[question]
            if done.cancelled() or done.exception() is not None:
                return  # the caller gets the error; nothing is remembered
            if generation == self.engine.generation:
                self._remember(question, done.result())

        future.add_done_callback(finished)
        return future

    def _cached(self, question: str) -> SearchResult | None:
        if self._cache_generation != self.engine.generation:
            # A coordinator taught a question: earlier decisions may be wrong now.
            self._cache.clear()
            self._cache_generation = self.engine.generation
        result = self._cache.get(question)
        if result is not None:
            self._cache.move_to_end(question)
        return result

    def _remember(self, question: str, result: SearchResult) -> None:
        if self._cache_generation != self.engine.generation:
            return
        self._cache[question] = result
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
        await self._records.submit(next(self._record_keys), (utcnow().date(), answer.result))

    async def _write_records(
        self, batch: Mapping[int, tuple[date, SearchResult]]
    ) -> dict[int, None]:
        counts = Counter((day, result.outcome.value) for day, result in batch.values())
        async with self._sessions.begin() as session:
            await queries.count_questions(session, counts)
            for _, result in batch.values():
                if result.outcome is Outcome.ANSWER or result.scope_rule in _NOT_KEPT:
                    continue
                await queries.record_unanswered(
                    session,
                    text=result.question,
                    language=result.lang,
                    outcome=result.outcome.value,
                    best_topic=result.ranked[0].topic_id if result.ranked else None,
                    score=result.score,
                )
        return dict.fromkeys(batch)

    def close(self) -> None:
        """Stop the search threads (a search running now still finishes)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
