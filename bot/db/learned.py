"""Query functions for taught questions. The caller owns the transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import LearnedQuestion, UnansweredQuestion
from bot.db.upsert import dialect_insert
from knowledge.text import words


def fold_question(text: str) -> str:
    """The question as the search compares taught questions: folded words, single spaces."""
    return " ".join(words(text))


def fold_key(text: str) -> str:
    """The unique key of a taught question: SHA-256 (hex) of its folded form."""
    return hashlib.sha256(fold_question(text).encode()).hexdigest()


async def upsert_learned(
    session: AsyncSession,
    *,
    question: str,
    language: str,
    topic_id: str | None,
    coordinator_id: int | None,
    at: datetime,
) -> int:
    """Store a taught question, or re-attach it when the same question was taught before.

    One atomic upsert on the folded question, so two taps at once never collide. Returns the
    row id.
    """
    statement = dialect_insert(session, LearnedQuestion).values(
        question=question,
        fold_key=fold_key(question),
        language=language,
        topic_id=topic_id,
        coordinator_id=coordinator_id,
        created_at=at,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["fold_key"],
        set_={
            "question": statement.excluded.question,
            "language": statement.excluded.language,
            "topic_id": statement.excluded.topic_id,
            "coordinator_id": statement.excluded.coordinator_id,
        },
    )
    row_id = await session.scalar(statement.returning(LearnedQuestion.id))
    assert row_id is not None  # an upsert always returns its row
    return int(row_id)


async def all_learned(session: AsyncSession) -> Sequence[LearnedQuestion]:
    """Every taught question, in the order they were first taught."""
    rows = await session.scalars(select(LearnedQuestion).order_by(LearnedQuestion.id))
    return rows.all()


async def learned_by_key_prefix(session: AsyncSession, *, prefix: str) -> LearnedQuestion | None:
    """A taught question whose key starts with `prefix` (the short check a button carries)."""
    return await session.scalar(
        select(LearnedQuestion)
        .where(LearnedQuestion.fold_key.startswith(prefix, autoescape=True))
        .order_by(LearnedQuestion.id)
        .limit(1)
    )


async def count_learned_by_topic(session: AsyncSession) -> list[tuple[str | None, int]]:
    """How many questions were taught per topic (None: out of scope), most first."""
    count = func.count().label("n")
    rows = await session.execute(
        select(LearnedQuestion.topic_id, count)
        .group_by(LearnedQuestion.topic_id)
        .order_by(count.desc(), LearnedQuestion.topic_id)
    )
    return [(topic_id, int(n)) for topic_id, n in rows.all()]


async def get_unanswered(session: AsyncSession, *, unanswered_id: int) -> UnansweredQuestion | None:
    """One question of the curators' list, or None when it is gone."""
    return await session.get(UnansweredQuestion, unanswered_id)


async def claim_unanswered(session: AsyncSession, *, unanswered_id: int, text: str) -> bool:
    """Remove one question from the curators' list; False if it was gone already.

    Run it first in the transaction: of two concurrent claims exactly one gets True, on SQLite
    (the write lock is taken at once) as on PostgreSQL (the row lock). The text must match too,
    so a button can never reach a newer row that reused the id (SQLite may reuse the highest).
    """
    result = await session.execute(
        delete(UnansweredQuestion).where(
            UnansweredQuestion.id == unanswered_id, UnansweredQuestion.text == text
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def drop_unanswered_text(session: AsyncSession, *, text: str) -> int:
    """Remove every copy of this exact question from the curators' list; returns how many."""
    result = await session.execute(
        delete(UnansweredQuestion).where(UnansweredQuestion.text == text)
    )
    return int(getattr(result, "rowcount", 0) or 0)
