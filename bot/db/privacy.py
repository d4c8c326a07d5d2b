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

from bot.db.models import AuditEntry, Partner


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
