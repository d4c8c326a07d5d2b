"""What the bot waits for from a person, and the questions it holds for a hand-over.

Query functions; the caller owns the transaction. Every change of a waiting row raises its
version, and the writes that continue a flow name the version they read (compare-and-set):
of two updates that read the same state (a double tap, or one update per bot process), one
changes it and the other learns it lost, in one statement on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AnswerVote, Handover, OfferedQuestion, SeenUpdate, Waiting
from bot.db.upsert import dialect_insert, insert_missing, upsert


@dataclass(frozen=True, slots=True)
class Offer:
    """A question the bot could not answer, for its asker's "to the office" button."""

    chat_id: int
    language: str
    question: str


async def get(session: AsyncSession, *, chat_id: int, user_id: int) -> Waiting | None:
    """The person's waiting row in this chat, expired or not."""
    return await session.get(Waiting, (chat_id, user_id), populate_existing=True)


# Built once: every private message runs it, and building the statement and its cache key
# anew for each call cost 0.2 of the read's 1.1 ms of CPU on SQLite.
_WAITING = Waiting.__table__.c
_PENDING_KEYS = select(
    select(func.count())
    .select_from(Waiting.__table__)
    .where(_WAITING.chat_id == bindparam("chat_id"), _WAITING.user_id == bindparam("user_id"))
    .scalar_subquery(),
    select(func.max(Handover.__table__.c.id))
    .where(Handover.__table__.c.asker_chat_id == bindparam("chat_id"))
    .scalar_subquery(),
)


async def pending_keys(
    session: AsyncSession, *, chat_id: int, user_id: int
) -> tuple[bool, int | None]:
    """Whether the person has a waiting row in this chat, and the id of the chat's newest
    hand-over: one statement for every private message, where most have neither."""
    connection = await session.connection()
    values = {"chat_id": chat_id, "user_id": user_id}
    row = (await connection.execute(_PENDING_KEYS, values)).one()
    return bool(row[0]), row[1]


async def put(
    session: AsyncSession,
    *,
    chat_id: int,
    user_id: int,
    kind: str,
    payload: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Wait for `kind` from now on (replacing whatever waited before), with a new version."""
    fresh = {
        "kind": kind,
        "payload": payload,
        "expires_at": expires_at,
        "updated_at": now,
    }
    await upsert(
        session,
        Waiting,
        key=("chat_id", "user_id"),
        values={"chat_id": chat_id, "user_id": user_id, **fresh, "version": 1},
        update_values={**fresh, "version": Waiting.version + 1},
    )


async def change(
    session: AsyncSession,
    *,
    chat_id: int,
    user_id: int,
    version: int,
    payload: str,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """Store the next step's payload if the row is still at `version`; False if it moved on."""
    result = await session.execute(
        update(Waiting)
        .where(Waiting.chat_id == chat_id, Waiting.user_id == user_id, Waiting.version == version)
        .values(payload=payload, version=Waiting.version + 1, expires_at=expires_at, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def remove(
    session: AsyncSession, *, chat_id: int, user_id: int, version: int | None = None
) -> bool:
    """Stop waiting (only if still at `version`, when given); False if there was nothing."""
    statement = delete(Waiting).where(Waiting.chat_id == chat_id, Waiting.user_id == user_id)
    if version is not None:
        statement = statement.where(Waiting.version == version)
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


async def remove_expired(session: AsyncSession, *, now: datetime) -> int:
    """Forget every prompt nobody answered in time."""
    result = await session.execute(delete(Waiting).where(Waiting.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)


async def offer_questions(
    session: AsyncSession, offers: Sequence[Offer], *, now: datetime
) -> list[int]:
    """Hold questions the askers may pass on to the office, in one statement; their ids, in
    the order of `offers` (each goes on its asker's button).

    The rows come back with what they hold, and each offer takes the id of a row that holds
    the same: asked for in parameter order instead, SQLAlchemy sends SQLite one INSERT a row.
    Two equal offers (a double send) may take each other's id, which holds the same question.
    """
    if not offers:
        return []
    table = OfferedQuestion.__table__.c
    statement = insert(OfferedQuestion).returning(
        table.id, table.chat_id, table.language, table.question
    )
    rows = [
        {"chat_id": o.chat_id, "language": o.language, "question": o.question, "created_at": now}
        for o in offers
    ]
    connection = await session.connection()
    held: dict[Offer, list[int]] = {}
    for row in await connection.execute(statement, rows):
        held.setdefault(Offer(row.chat_id, row.language, row.question), []).append(row.id)
    return [held[offer].pop() for offer in offers]


async def claim_question(
    session: AsyncSession, *, question_id: int, chat_id: int, now: datetime
) -> OfferedQuestion | None:
    """Mark the offered question handed over; None if it is unknown here or was handed over
    already (the first of two taps, in any process, gets it)."""
    result = await session.execute(
        update(OfferedQuestion)
        .where(
            OfferedQuestion.id == question_id,
            OfferedQuestion.chat_id == chat_id,
            OfferedQuestion.handed_at.is_(None),
        )
        .values(handed_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return None
    return await session.get(OfferedQuestion, question_id, populate_existing=True)


async def question_handed(session: AsyncSession, *, question_id: int, chat_id: int) -> bool:
    """True if this chat's offered question went to the office already."""
    handed = await session.scalar(
        select(OfferedQuestion.handed_at).where(
            OfferedQuestion.id == question_id, OfferedQuestion.chat_id == chat_id
        )
    )
    return handed is not None


async def first_vote(
    session: AsyncSession, *, chat_id: int, message_id: int, now: datetime
) -> bool:
    """Note a vote on an answer message; False if it had one already."""
    return await insert_missing(
        session,
        AnswerVote,
        key=("chat_id", "message_id"),
        values={"chat_id": chat_id, "message_id": message_id, "created_at": now},
    )


async def first_sightings(
    session: AsyncSession, *, update_ids: Sequence[int], now: datetime
) -> set[int]:
    """Note the update ids in one statement; those no process noted before (the others are
    second deliveries).

    Run on the connection with one row of parameters per id: compiled once and cached
    whatever the number of ids (SQLAlchemy sends them as one multi-row INSERT), where a
    session's insert of a list of values is compiled anew for every length and goes through
    the ORM's bulk insert.
    """
    if not update_ids:
        return set()
    statement = (
        dialect_insert(session, SeenUpdate)
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(SeenUpdate.update_id)
    )
    connection = await session.connection()
    rows = [{"update_id": update_id, "seen_at": now} for update_id in update_ids]
    return set((await connection.execute(statement, rows)).scalars().all())
