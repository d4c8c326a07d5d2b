"""The question service under load: repeated questions from memory (forgotten when something is
taught), a message searched on arrival (one search however often it is asked), question records
of many people written together, each caller back once stored."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.app import build_search
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models import QuestionStat, UnansweredQuestion
from bot.services.questions import QuestionService
from knowledge import Lang, Outcome, SearchEngine, SearchResult
from tests.conftest import make_settings

KNOWN = "Wie werden wir Partner im Netzwerk?"
UNKNOWN = "Was ist mit dem Quokka-Verfahren?"


async def test_a_repeated_question_is_answered_from_memory_until_something_is_taught(
    database_url: str,
) -> None:
    engine = build_search(make_settings(semantic_search=False))  # teaching changes it
    db = create_engine(database_url)
    service = QuestionService(engine, create_sessionmaker(db), cache_size=2)
    try:
        first = await service.ask(UNKNOWN, "de")
        again = await service.ask(UNKNOWN, "de")
        assert again.result is first.result, "the second ask is a lookup, not a search"
        assert first.result.outcome is not Outcome.ANSWER
        english = (await service.ask(UNKNOWN, "en")).result
        assert english.lang == "en", "the same decision, in the language asked"
        assert dataclasses.replace(english, lang="de") == first.result

        engine.learn(UNKNOWN, "job_ads")
        taught = await service.ask(UNKNOWN, "de")
        assert taught.result.outcome is Outcome.ANSWER
        assert taught.result.topic is not None and taught.result.topic.id == "job_ads"

        # Bounded: the least recently asked question is forgotten first.
        await service.ask(KNOWN, "de")
        await service.ask("Was kostet die Mitgliedschaft?", "de")
        assert (await service.ask(UNKNOWN, "de")).result is not taught.result
    finally:
        service.close()
        await db.dispose()


class Searches:
    """The real engine's searches, counted; the first one's result can be held back (the
    search itself is done by then: `first_done`)."""

    def __init__(self, engine: SearchEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.first_done = threading.Event()
        self.first_returned = threading.Event()
        self._real = engine.search
        monkeypatch.setattr(engine, "search", self)

    def __call__(self, text: str, lang: Lang | None = None) -> SearchResult:
        self.texts.append(text)
        result = self._real(text, lang)
        if len(self.texts) == 1:
            self.first_done.set()
            assert self.release.wait(30), "the test never let the first search go"
            self.first_returned.set()
        return result


async def test_a_message_searched_on_arrival_is_answered_from_that_search(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = build_search(make_settings(semantic_search=False))
    searches = Searches(engine, monkeypatch)
    db = create_engine(database_url)
    service = QuestionService(engine, create_sessionmaker(db), search_threads=2)
    try:
        service.prefetch(KNOWN)
        service.prefetch(KNOWN)  # the same message delivered twice
        german, english = await asyncio.gather(service.ask(KNOWN, "de"), service.ask(KNOWN, "en"))
        assert searches.texts == [KNOWN], "one search for all of them"
        assert german.result.outcome is Outcome.ANSWER
        assert german.result.lang == "de" and english.result.lang == "en"
        assert dataclasses.replace(english.result, lang="de") == german.result

        service.prefetch(KNOWN)  # answered from memory now: no search at all
        await service.ask(KNOWN, "de")
        assert searches.texts == [KNOWN]
    finally:
        service.close()
        await db.dispose()
    service.prefetch(UNKNOWN)  # after the bot stopped: nothing happens, nothing fails
    assert searches.texts == [KNOWN]


async def test_a_search_started_before_something_was_taught_is_not_the_answer(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = build_search(make_settings(semantic_search=False))
    searches = Searches(engine, monkeypatch)
    searches.release.clear()
    db = create_engine(database_url)
    service = QuestionService(engine, create_sessionmaker(db), search_threads=2)
    try:
        service.prefetch(UNKNOWN)
        assert await asyncio.to_thread(searches.first_done.wait, 30)  # not taught yet
        engine.learn(UNKNOWN, "job_ads")  # a coordinator teaches it meanwhile
        taught = await service.ask(UNKNOWN, "de")
        assert taught.result.topic is not None and taught.result.topic.id == "job_ads"
        searches.release.set()  # the early search's result comes back now, too late
        assert await asyncio.to_thread(searches.first_returned.wait, 30)
        await asyncio.sleep(0.1)  # its result reaches the event loop
        again = await service.ask(UNKNOWN, "de")
        assert again.result.topic is not None and again.result.topic.id == "job_ads", (
            "the result from before the teaching was kept"
        )
        assert searches.texts == [UNKNOWN, UNKNOWN]
    finally:
        searches.release.set()
        service.close()
        await db.dispose()


async def test_records_of_many_questions_at_once_are_all_stored(database_url: str) -> None:
    engine = build_search(make_settings(semantic_search=False))
    db = create_engine(database_url)
    sessions = create_sessionmaker(db)
    service = QuestionService(engine, sessions)
    try:
        known, unknown = await service.ask(KNOWN, "de"), await service.ask(UNKNOWN, "de")
        assert known.result.outcome is Outcome.ANSWER
        answers = [known, unknown] * 20
        await asyncio.gather(*(service.record_if_unanswered(a) for a in answers))
        # Every caller returned only after its record was stored.
        async with sessions() as session:
            counts = dict(
                (await session.execute(select(QuestionStat.outcome, QuestionStat.count))).all()
            )
            kept = await session.scalar(select(func.count()).select_from(UnansweredQuestion))
        assert sum(counts.values()) == 40
        assert counts["answer"] == 20
        assert kept == 20
        await service.record_if_unanswered(known)  # a later question adds to the same day
        async with sessions() as session:
            total = await session.scalar(select(func.sum(QuestionStat.count)))
        assert total == 41
    finally:
        service.close()
        await db.dispose()


async def test_a_failed_write_is_reported_to_every_caller_of_its_batch(tmp_path: Path) -> None:
    engine = build_search(make_settings(semantic_search=False))
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-tables.sqlite3'}")  # not migrated
    service = QuestionService(engine, create_sessionmaker(db))
    try:
        answer = await service.ask(UNKNOWN, "de")
        results = await asyncio.gather(
            *(service.record_if_unanswered(answer) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, OperationalError) for r in results), results
    finally:
        service.close()
        await db.dispose()
