"""Small query functions. The caller owns the transaction: `async with session.begin(): ...`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Chat,
    Feedback,
    Handover,
    Partner,
    PartnerContact,
    QuestionStat,
    UnansweredQuestion,
    utcnow,
)
from bot.db.upsert import dialect_insert


async def ping(session: AsyncSession) -> None:
    """`SELECT 1`: raises when the database does not answer."""
    await session.execute(text("SELECT 1"))


async def get_chat(session: AsyncSession, *, chat_id: int) -> Chat | None:
    """The stored chat, or None if the bot has not seen it."""
    return await session.get(Chat, chat_id)


@dataclass(frozen=True, slots=True)
class Contact:
    """Who wrote from a chat, for its row on first contact."""

    user_id: int | None
    kind: str
    language: str | None  # the person's Telegram language (None in groups)


@dataclass(frozen=True, slots=True)
class Registered:
    """What a chat chose, as stored (language None: not chosen, and not a private chat)."""

    language: str | None
    plain: bool
    region: str | None


_STORED = select(Chat.chat_id, Chat.active, Chat.language, Chat.plain_language, Chat.region).where(
    Chat.chat_id.in_(bindparam("ids", expanding=True))
)
_REACTIVATE = (
    update(Chat)
    .where(Chat.chat_id.in_(bindparam("ids", expanding=True)), Chat.active.is_(False))
    .values(active=True, updated_at=bindparam("now"))
)


async def ensure_chats(
    session: AsyncSession, contacts: Mapping[int, Contact], *, now: datetime
) -> dict[int, Registered]:
    """Each chat's stored choices, its row created on first contact; a chat that had blocked
    the bot and writes again becomes active again.

    One read when every chat is known and active (most registrations: a chat's first message
    after a restart or a minute's quiet), so they never wait for a row another transaction
    holds (on PostgreSQL even `INSERT … ON CONFLICT DO NOTHING` waits for that). Otherwise
    the missing rows are inserted and the inactive ones woken, in id order (two processes
    lock shared new ids in the same order), and all are read again. Two first messages at
    once (or two processes) both find no row: the insert skips the one that exists by then,
    so both get the same row instead of the second failing on the primary key.
    """
    ids = sorted(contacts)
    if not ids:
        return {}
    connection = await session.connection()
    stored = (await connection.execute(_STORED, {"ids": ids})).all()
    if len(stored) < len(ids) or not all(row.active for row in stored):
        known = {row.chat_id for row in stored}
        rows = [
            {
                "chat_id": chat_id,
                "user_id": contacts[chat_id].user_id,
                "kind": contacts[chat_id].kind,
                "language": contacts[chat_id].language,
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for chat_id in ids
            if chat_id not in known
        ]
        if rows:
            insert = dialect_insert(session, Chat).on_conflict_do_nothing(
                index_elements=["chat_id"]
            )
            await connection.execute(insert, rows)
        asleep = [row.chat_id for row in stored if not row.active]
        if asleep:
            await connection.execute(_REACTIVATE, {"ids": asleep, "now": now})
        stored = (await connection.execute(_STORED, {"ids": ids})).all()
    return {row.chat_id: Registered(row.language, row.plain_language, row.region) for row in stored}


async def set_preferences(
    session: AsyncSession,
    *,
    chat_id: int,
    language: str | None = None,
    plain_language: bool | None = None,
    notices: bool | None = None,
    reminders: bool | None = None,
    region: str | None = None,
) -> None:
    """Change the given preferences of a chat; others stay as they are."""
    values: dict[str, object] = {"updated_at": utcnow()}
    if region is not None:
        values["region"] = region
    if reminders is not None:
        values["reminders"] = reminders
    if language is not None:
        values["language"] = language
    if plain_language is not None:
        values["plain_language"] = plain_language
    if notices is not None:
        values["notices"] = notices
    await session.execute(update(Chat).where(Chat.chat_id == chat_id).values(**values))


async def record_unanswered(
    session: AsyncSession,
    *,
    text: str,
    language: str,
    outcome: str,
    best_topic: str | None,
    score: float,
) -> None:
    """Keep an unanswered question for curators (no user id is stored)."""
    session.add(
        UnansweredQuestion(
            text=text[:2000],
            language=language,
            outcome=outcome,
            best_topic=best_topic,
            score=score,
        )
    )


async def list_unanswered(
    session: AsyncSession, *, limit: int = 20, offset: int = 0
) -> tuple[Sequence[UnansweredQuestion], int]:
    """The newest unanswered questions and how many there are in all."""
    total = await session.scalar(select(func.count()).select_from(UnansweredQuestion)) or 0
    rows = await session.scalars(
        select(UnansweredQuestion)
        .order_by(UnansweredQuestion.created_at.desc(), UnansweredQuestion.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total


async def record_feedback(session: AsyncSession, *, topic_id: str, helpful: bool) -> None:
    """Count a thumbs up or down for a topic."""
    session.add(Feedback(topic_id=topic_id, helpful=helpful))


async def create_handover(
    session: AsyncSession, *, asker_chat_id: int, language: str, question: str, at: datetime
) -> Handover:
    """Register a question passed to the network office."""
    handover = Handover(
        asker_chat_id=asker_chat_id, language=language, question=question[:3500], created_at=at
    )
    session.add(handover)
    await session.flush()
    return handover


async def find_handover(
    session: AsyncSession, *, office_chat_id: int, office_message_id: int
) -> Handover | None:
    """The handover whose office copy (sent before migration 0012) this message is."""
    return await session.scalar(
        select(Handover).where(
            Handover.office_chat_id == office_chat_id,
            Handover.office_message_id == office_message_id,
        )
    )


async def mark_handover_answered(session: AsyncSession, *, handover_id: int, at: datetime) -> None:
    """Note that the office answered (last at `at`)."""
    await session.execute(update(Handover).where(Handover.id == handover_id).values(answered_at=at))


async def mark_handover_followed_up(
    session: AsyncSession, *, handover_id: int, at: datetime
) -> None:
    """Note that the asker's addition went to the office (last at `at`)."""
    await session.execute(
        update(Handover).where(Handover.id == handover_id).values(followed_up_at=at)
    )


async def latest_handover(session: AsyncSession, *, asker_chat_id: int) -> Handover | None:
    """The newest question this chat handed over, if any."""
    return await session.scalar(
        select(Handover)
        .where(Handover.asker_chat_id == asker_chat_id)
        .order_by(Handover.id.desc())
        .limit(1)
    )


async def set_subscription(session: AsyncSession, *, chat_id: int, subscribed: bool) -> None:
    """Event notices on (subscribed) or off (also for partner contacts: an explicit opt-out)."""
    await session.execute(
        update(Chat)
        .where(Chat.chat_id == chat_id)
        .values(notices=subscribed, opted_out=not subscribed, updated_at=utcnow())
    )


async def set_chat_active(session: AsyncSession, *, chat_id: int, active: bool) -> None:
    """Blocked/removed (inactive, and notices off) or reachable again."""
    values: dict[str, object] = {"active": active, "updated_at": utcnow()}
    if not active:
        values["notices"] = False
    await session.execute(update(Chat).where(Chat.chat_id == chat_id).values(**values))


async def partners_of_chat(session: AsyncSession, *, chat_id: int) -> Sequence[Partner]:
    """The active partners this chat is a linked contact of."""
    rows = await session.scalars(
        select(Partner)
        .join(PartnerContact, PartnerContact.partner_id == Partner.id)
        .where(PartnerContact.chat_id == chat_id, Partner.active.is_(True))
        .order_by(Partner.name)
    )
    return rows.all()


async def count_questions(session: AsyncSession, counts: Mapping[tuple[date, str], int]) -> None:
    """Add to each day's count for an outcome (no text, no person): {(day, outcome): n}.

    One atomic upsert for all of them, so concurrent writers never collide on the first
    question of a day.
    """
    if not counts:
        return
    statement = dialect_insert(session, QuestionStat).values(
        [
            {"day": day, "outcome": outcome, "count": count}
            for (day, outcome), count in sorted(counts.items())
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "outcome"],
            set_={"count": QuestionStat.count + statement.excluded["count"]},
        )
    )


async def question_outcomes(session: AsyncSession, *, since: date) -> dict[str, int]:
    """How many questions had each outcome from `since` on."""
    rows = await session.execute(
        select(QuestionStat.outcome, func.sum(QuestionStat.count))
        .where(QuestionStat.day >= since)
        .group_by(QuestionStat.outcome)
    )
    return {outcome: int(count) for outcome, count in rows.all()}


async def feedback_votes(session: AsyncSession) -> dict[bool, int]:
    """How many answers were voted helpful (True) and not helpful (False)."""
    rows = await session.execute(select(Feedback.helpful, func.count()).group_by(Feedback.helpful))
    return {helpful: int(count) for helpful, count in rows.all()}


async def chat_counts(session: AsyncSession) -> tuple[int, int]:
    """How many chats the bot knows, and how many of them subscribed to notices."""
    chats = await session.scalar(select(func.count()).select_from(Chat))
    subscribed = await session.scalar(select(func.count()).where(Chat.notices.is_(True)))
    return int(chats or 0), int(subscribed or 0)
