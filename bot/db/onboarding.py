"""Query functions for partnership requests and their drafts.

The caller owns the transaction. A draft carries a version that every write raises, and a
save names the version it read (compare-and-set); a request changes status only from an
open one, in one conditional UPDATE: of two taps at once, exactly one changes something.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import OnboardingDraft, OnboardingRequest
from bot.db.upsert import upsert


async def start_draft(
    session: AsyncSession,
    *,
    chat_id: int,
    user_id: int | None,
    language: str,
    step: str,
    now: datetime,
) -> int:
    """A fresh, empty draft for the chat (replacing an old one); returns its version."""
    fresh = {
        "user_id": user_id,
        "language": language,
        "step": step,
        "data": "{}",
        "created_at": now,
        "updated_at": now,
    }
    await upsert(
        session,
        OnboardingDraft,
        key=("chat_id",),
        values={"chat_id": chat_id, **fresh, "version": 1},
        # A fresh draft over an old one: a new version, so an update that read the
        # old draft cannot write into the new one.
        update_values={**fresh, "version": OnboardingDraft.version + 1},
    )
    version = await session.scalar(
        select(OnboardingDraft.version).where(OnboardingDraft.chat_id == chat_id)
    )
    return int(version or 0)


async def save_draft(
    session: AsyncSession,
    *,
    chat_id: int,
    version: int,
    step: str,
    data: str,
    language: str,
    now: datetime,
) -> bool:
    """Store the draft's step and answers if it is still at `version`; False if it moved on."""
    result = await session.execute(
        update(OnboardingDraft)
        .where(OnboardingDraft.chat_id == chat_id, OnboardingDraft.version == version)
        .values(
            step=step,
            data=data,
            language=language,
            updated_at=now,
            version=OnboardingDraft.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def delete_draft(session: AsyncSession, *, chat_id: int, version: int | None = None) -> bool:
    """Delete the chat's draft (only if still at `version`, when given); False if there was
    none (or a concurrent update took or changed it)."""
    where = [OnboardingDraft.chat_id == chat_id]
    if version is not None:
        where.append(OnboardingDraft.version == version)
    result = await session.execute(delete(OnboardingDraft).where(*where))
    return bool(getattr(result, "rowcount", 0))


async def requests_of_chat(session: AsyncSession, *, chat_id: int) -> list[OnboardingRequest]:
    """The chat's requests, newest first."""
    rows = await session.scalars(
        select(OnboardingRequest)
        .where(OnboardingRequest.chat_id == chat_id)
        .order_by(OnboardingRequest.id.desc())
    )
    return list(rows.all())


async def requests_in(session: AsyncSession, *, statuses: Sequence[str]) -> list[OnboardingRequest]:
    """The requests in one of `statuses`, newest first."""
    rows = await session.scalars(
        select(OnboardingRequest)
        .where(OnboardingRequest.status.in_(statuses))
        .order_by(OnboardingRequest.id.desc())
    )
    return list(rows.all())


async def all_requests(session: AsyncSession) -> list[OnboardingRequest]:
    """Every request, oldest first."""
    rows = await session.scalars(select(OnboardingRequest).order_by(OnboardingRequest.id))
    return list(rows.all())


async def move_request(
    session: AsyncSession, *, request_id: int, status: str, among: Sequence[str]
) -> OnboardingRequest | None:
    """The request, after setting its status if it is one of `among` now; None if it is not
    (any more).

    One conditional UPDATE: exactly one of several concurrent changes wins, on SQLite as
    on PostgreSQL, and a decision is never overwritten.
    """
    result = await session.execute(
        update(OnboardingRequest)
        .where(OnboardingRequest.id == request_id, OnboardingRequest.status.in_(among))
        .values(status=status)
    )
    if not getattr(result, "rowcount", 0):
        return None
    return await session.get(OnboardingRequest, request_id, populate_existing=True)


async def request_of_chat(
    session: AsyncSession, *, chat_id: int, request_id: int | None
) -> OnboardingRequest | None:
    """The request `request_id` if it is the chat's own."""
    return await session.scalar(
        select(OnboardingRequest).where(
            OnboardingRequest.chat_id == chat_id, OnboardingRequest.id == request_id
        )
    )


async def request_asked_as(
    session: AsyncSession, *, chat_id: int, message_id: int
) -> OnboardingRequest | None:
    """The chat's request whose ask-back went out as `message_id` (noted on the request by
    ask-backs from before migration 0012)."""
    return await session.scalar(
        select(OnboardingRequest).where(
            OnboardingRequest.chat_id == chat_id, OnboardingRequest.ask_message_id == message_id
        )
    )


async def count_drafts(session: AsyncSession) -> int:
    """How many forms are unfinished."""
    return int(await session.scalar(select(func.count()).select_from(OnboardingDraft)) or 0)


async def request_counts(session: AsyncSession) -> dict[str, int]:
    """How many requests are in each status."""
    rows = await session.execute(
        select(OnboardingRequest.status, func.count()).group_by(OnboardingRequest.status)
    )
    return {status: int(count) for status, count in rows.all()}
