"""Query functions for a person's data: export, erasure and retention periods.

The caller owns the transaction and says which columns of a table hold a person's ids (the
policy lives in `bot.services.privacy`); these functions only build the statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.db import outbox
from bot.db.models import AuditEntry, OutboxMessage, OutboxStatus, Partner

# The kind of an office's delivered copy of a handed-over question (or an addition to it)
# whose asker erased their data: no text, no link to the hand-over, only Telegram's id of the
# message in the office chat, so that a reply to it is told the answer cannot reach anyone
# (instead of being taken for a question). Kept as long as the other copies of hand-overs.
ERASED_COPY_KIND = outbox.ERASED_COPY_KIND


def _of_person(model: type[Any], columns: Sequence[str], ids: Sequence[int]) -> ColumnElement[bool]:
    """Any of the model's `columns` holds one of the person's `ids`."""
    return or_(*(getattr(model, name).in_(ids) for name in columns))


async def person_rows(
    session: AsyncSession, model: type[Any], *, columns: Sequence[str], ids: Sequence[int]
) -> Sequence[Any]:
    """The rows of `model` whose `columns` hold one of the person's `ids`."""
    return (await session.scalars(select(model).where(_of_person(model, columns, ids)))).all()


async def person_row_ids(
    session: AsyncSession, model: type[Any], *, columns: Sequence[str], ids: Sequence[int]
) -> Sequence[int]:
    """The primary keys (`id`) of those rows."""
    return (await session.scalars(select(model.id).where(_of_person(model, columns, ids)))).all()


async def delete_person_rows(
    session: AsyncSession, model: type[Any], *, columns: Sequence[str], ids: Sequence[int]
) -> int:
    """Delete those rows; how many."""
    result = await session.execute(delete(model).where(_of_person(model, columns, ids)))
    return int(getattr(result, "rowcount", 0) or 0)


async def clear_actor(
    session: AsyncSession, model: type[Any], *, column: str, ids: Sequence[int]
) -> int:
    """Empty the actor column where it holds one of `ids`; how many rows changed.

    A column that may not be NULL gets 0: "someone, erased".
    """
    attribute = getattr(model, column)
    erased = None if attribute.nullable else 0
    result = await session.execute(update(model).where(attribute.in_(ids)).values({column: erased}))
    return int(getattr(result, "rowcount", 0) or 0)


async def forget_conversation(
    session: AsyncSession, *, key_prefix: str, person_ids: Sequence[int]
) -> int:
    """Forget the outbox rows of one hand-over (`key_prefix`) of a person who erases their
    data: the office's delivered copies become `ERASED_COPY_KIND` rows without text; every
    other row (pending copies, the answers to the person, notes about them) is deleted. How
    many rows were emptied or deleted."""
    copies = (
        OutboxMessage.key.like(f"{key_prefix}%"),
        OutboxMessage.kind.in_((outbox.HANDOVER_KIND, outbox.FOLLOWUP_KIND)),
        OutboxMessage.chat_id.not_in(person_ids),
        OutboxMessage.status == OutboxStatus.SENT.value,
        OutboxMessage.delivered_message_id.is_not(None),
    )
    emptied = await session.execute(
        update(OutboxMessage)
        .where(*copies)
        .values(
            kind=ERASED_COPY_KIND,
            ref_id=None,
            text="",
            buttons=None,
            attachment_name=None,
            attachment=None,
            last_error=None,
        )
    )
    deleted = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.key.like(f"{key_prefix}%"), OutboxMessage.kind != ERASED_COPY_KIND
        )
    )
    return sum(int(getattr(r, "rowcount", 0) or 0) for r in (emptied, deleted))


async def empty_delivered(session: AsyncSession, *, before: datetime) -> int:
    """Empty the text, buttons and attachment of the outbox rows done with (`outbox.DONE`,
    expired reminders included) and created before `before`: the rows kept longer than the
    messages (a reminder's key keeps it from going out twice; a hand-over's copy finds its
    conversation) keep no message. How many were emptied."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status.in_(outbox.DONE),
            OutboxMessage.created_at < before,
            or_(
                OutboxMessage.text != "",
                OutboxMessage.buttons.is_not(None),
                OutboxMessage.attachment.is_not(None),
            ),
        )
        .values(text="", buttons=None, attachment=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def erase_audit_subject(session: AsyncSession, *, subject: str) -> None:
    """Audit entries about `subject` (a person acted upon) say "(erased)" instead."""
    await session.execute(
        update(AuditEntry).where(AuditEntry.subject == subject).values(subject="(erased)")
    )


async def forget_partner_email(session: AsyncSession, *, partner_id: int, email: str) -> None:
    """Empty the partner's e-mail if it is still the one taken over from a person's request."""
    await session.execute(
        update(Partner).where(Partner.id == partner_id, Partner.email == email).values(email=None)
    )


async def drop_older(
    session: AsyncSession, column: InstrumentedAttribute[datetime], *, before: datetime
) -> int:
    """Delete the rows of the column's table whose `column` is before `before`; how many."""
    result = await session.execute(delete(column.class_).where(column < before))
    return int(getattr(result, "rowcount", 0) or 0)
