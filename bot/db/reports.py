"""Query functions for yearly reports, their items and the directory of practice.

The caller owns the transaction. Every write that a double tap could repeat is either an
upsert, an insert that skips an existing key, or an update that applies only to the version
(or state) it read, so of two taps at once exactly one changes something.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import outbox
from bot.db.models import (
    Example,
    ItemReview,
    OnboardingRequest,
    Partner,
    PartnerContact,
    Report,
    ReportItem,
    ReportState,
    ReportSubmission,
)
from bot.db.upsert import insert_missing, upsert


async def record_submission(
    session: AsyncSession, *, partner_id: int, due: date, at: datetime, by: int | None
) -> bool:
    """Mark the report of `due` received and cancel its queued reminders; False if known."""
    await outbox.hold_reminder_plans(session)
    recorded = await insert_missing(
        session,
        ReportSubmission,
        key=("partner_id", "due_date"),
        values={"partner_id": partner_id, "due_date": due, "submitted_at": at, "marked_by": by},
    )
    if not recorded:
        return False
    await outbox.cancel_keyed(
        session, key_prefix=f"reminder:report:{partner_id}:{due.isoformat()}:"
    )
    return True


async def unrecord_submission(session: AsyncSession, *, partner_id: int, due: date) -> bool:
    """Mark the report of `due` not received again; False if it was not marked.

    One statement: of two taps at once, one deletes the row, the other finds none.
    """
    removed = await session.execute(
        delete(ReportSubmission)
        .where(ReportSubmission.partner_id == partner_id, ReportSubmission.due_date == due)
        .returning(ReportSubmission.partner_id)
    )
    return removed.first() is not None


async def is_submitted(session: AsyncSession, *, partner_id: int, due: date) -> bool:
    """Whether the report of `due` is marked received (in the bot or by the office)."""
    return await session.get(ReportSubmission, (partner_id, due)) is not None


async def is_contact(session: AsyncSession, *, partner_id: int, chat_id: int) -> bool:
    """Whether the chat is linked to the partner."""
    found = await session.scalar(
        select(PartnerContact.id).where(
            PartnerContact.partner_id == partner_id, PartnerContact.chat_id == chat_id
        )
    )
    return found is not None


async def create_report(
    session: AsyncSession, *, partner_id: int, due: date, chat_id: int, language: str, now: datetime
) -> Report:
    """The partner's report for `due`, created on first use (two first opens: one row)."""
    await insert_missing(
        session,
        Report,
        key=("partner_id", "due_date"),
        values={
            "partner_id": partner_id,
            "due_date": due,
            "year": due.year,
            "state": ReportState.DRAFT.value,
            "chat_id": chat_id,
            "language": language,
            "step": "topic",
            "current": "{}",
            "contact_chosen": False,
            "version": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    report = await session.scalar(
        select(Report)
        .where(Report.partner_id == partner_id, Report.due_date == due)
        .execution_options(populate_existing=True)
    )
    assert report is not None  # inserted above or there already
    return report


async def report(session: AsyncSession, *, report_id: int) -> Report | None:
    """One report, read fresh."""
    return await session.get(Report, report_id, populate_existing=True)


async def draft_of_chat(session: AsyncSession, *, chat_id: int) -> Report | None:
    """The report this chat is filling in, if any (the latest opened)."""
    return await session.scalar(
        select(Report)
        .where(Report.chat_id == chat_id, Report.state == ReportState.DRAFT.value)
        .order_by(Report.updated_at.desc())
        .limit(1)
    )


async def change_report(
    session: AsyncSession,
    *,
    report_id: int,
    version: int,
    values: Mapping[str, object],
    state: str = ReportState.DRAFT.value,
) -> bool:
    """Apply `values` if the report is still at `version` and in `state`; False otherwise
    (someone else, or a second tap, changed it first)."""
    result = await session.execute(
        update(Report)
        .where(Report.id == report_id, Report.version == version, Report.state == state)
        .values(**values, version=Report.version + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def items(session: AsyncSession, *, report_id: int) -> list[ReportItem]:
    """A report's items in order."""
    rows = await session.scalars(
        select(ReportItem).where(ReportItem.report_id == report_id).order_by(ReportItem.position)
    )
    return list(rows.all())


async def add_item(session: AsyncSession, *, report_id: int, values: Mapping[str, object]) -> None:
    """Append an item to a report."""
    last = await session.scalar(
        select(func.max(ReportItem.position)).where(ReportItem.report_id == report_id)
    )
    session.add(ReportItem(report_id=report_id, position=(last or 0) + 1, **values))


async def remove_item(session: AsyncSession, *, report_id: int, item_id: int) -> bool:
    """Delete one item of a report; False when it is gone already."""
    result = await session.execute(
        delete(ReportItem).where(ReportItem.id == item_id, ReportItem.report_id == report_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def item(session: AsyncSession, *, item_id: int) -> ReportItem | None:
    """One report item, read fresh."""
    return await session.get(ReportItem, item_id, populate_existing=True)


async def review_item(
    session: AsyncSession,
    *,
    item_id: int,
    decision: str,
    by: int,
    at: datetime,
    allowed_from: Sequence[str],
) -> bool:
    """Record the office's decision if the item is still in one of `allowed_from`."""
    result = await session.execute(
        update(ReportItem)
        .where(ReportItem.id == item_id, ReportItem.review.in_(list(allowed_from)))
        .values(review=decision, reviewed_by=by, reviewed_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def submitted_reports(session: AsyncSession, *, year: int | None = None) -> list[Report]:
    """Submitted reports (of one year), newest first."""
    statement = select(Report).where(Report.state == ReportState.SUBMITTED.value)
    if year is not None:
        statement = statement.where(Report.year == year)
    rows = await session.scalars(statement.order_by(Report.submitted_at.desc()))
    return list(rows.all())


async def open_reviews(session: AsyncSession, *, limit: int = 20) -> list[tuple[Report, int]]:
    """Submitted reports with items the office has not decided on, and how many."""
    rows = await session.execute(
        select(Report, func.count(ReportItem.id))
        .join(ReportItem, ReportItem.report_id == Report.id)
        .where(
            Report.state == ReportState.SUBMITTED.value,
            ReportItem.review.in_([ItemReview.PENDING.value, ItemReview.ASKED.value]),
        )
        .group_by(Report.id)
        .order_by(Report.submitted_at)
        .limit(limit)
    )
    return [(r, int(n)) for r, n in rows.all()]


async def export_rows(
    session: AsyncSession, *, year: int | None = None
) -> list[tuple[Report, Partner, ReportItem]]:
    """Every item of the submitted reports (of one year) with its report and partner."""
    statement = (
        select(Report, Partner, ReportItem)
        .join(Partner, Partner.id == Report.partner_id)
        .join(ReportItem, ReportItem.report_id == Report.id)
        .where(Report.state == ReportState.SUBMITTED.value)
    )
    if year is not None:
        statement = statement.where(Report.year == year)
    rows = await session.execute(statement.order_by(Partner.name, Report.year, ReportItem.position))
    return [(r, p, i) for r, p, i in rows.all()]


async def report_counts(session: AsyncSession) -> dict[str, int]:
    """Reports by state."""
    rows = await session.execute(select(Report.state, func.count()).group_by(Report.state))
    return {str(state): int(n) for state, n in rows.all()}


# ---------------------------------------------------------------- the directory of practice
async def put_example(session: AsyncSession, *, values: Mapping[str, object]) -> None:
    """Insert or refresh an example by its key."""
    await upsert(session, Example, key=("key",), values=values)


async def drop_seeds_except(session: AsyncSession, *, keep: Sequence[str]) -> int:
    """Delete seeded examples whose id is no longer in the knowledge base."""
    statement = delete(Example).where(Example.key.like("seed:%"))
    if keep:
        statement = statement.where(Example.key.not_in(list(keep)))
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def _filtered(
    statement: Select[Any],
    *,
    topic_id: str | None,
    org_type: str | None,
    region: str | None,
) -> Select[Any]:
    if topic_id is not None:
        statement = statement.where(Example.topic_id == topic_id)
    if org_type is not None:
        statement = statement.where(Example.org_type == org_type)
    if region is not None:
        statement = statement.where(Example.region == region)
    return statement


async def examples(
    session: AsyncSession,
    *,
    topic_id: str | None = None,
    org_type: str | None = None,
    region: str | None = None,
    offset: int = 0,
    limit: int = 5,
) -> tuple[list[Example], int]:
    """One page of examples (newest year first) and how many match in all."""
    base = _filtered(select(Example), topic_id=topic_id, org_type=org_type, region=region)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(
        base.order_by(Example.year.desc(), Example.id.desc()).offset(offset).limit(limit)
    )
    return list(rows.all()), int(total or 0)


async def facet(session: AsyncSession, *, column: str) -> list[tuple[str, int]]:
    """The values of `topic_id`, `org_type` or `region` with their example counts."""
    field = {"topic_id": Example.topic_id, "org_type": Example.org_type, "region": Example.region}[
        column
    ]
    rows = await session.execute(
        select(field, func.count()).group_by(field).order_by(func.count().desc(), field)
    )
    return [(str(value), int(n)) for value, n in rows.all()]


# ---------------------------------------------------------------- privacy
async def reports_of_chat(session: AsyncSession, *, chat_id: int) -> list[Report]:
    """Reports this chat filled in."""
    rows = await session.scalars(select(Report).where(Report.chat_id == chat_id))
    return list(rows.all())


async def forget_chat(session: AsyncSession, *, chat_id: int) -> int:
    """Erase a person from reports: their open drafts go, submitted reports lose the link to
    the chat and the opt-in contact they gave, and published examples lose that contact."""
    drafts = await session.execute(
        delete(Report).where(Report.chat_id == chat_id, Report.state == ReportState.DRAFT.value)
    )
    submitted = (await session.scalars(select(Report.id).where(Report.chat_id == chat_id))).all()
    if submitted:
        item_ids = select(ReportItem.id).where(ReportItem.report_id.in_(submitted))
        await session.execute(
            update(Example).where(Example.item_id.in_(item_ids)).values(contact=None)
        )
        await session.execute(
            update(Report)
            .where(Report.id.in_(submitted))
            .values(chat_id=None, contact=None)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(drafts, "rowcount", 0) or 0) + len(submitted)


async def drop_stale_drafts(session: AsyncSession, *, before: datetime) -> int:
    """Delete report drafts untouched since `before`."""
    result = await session.execute(
        delete(Report).where(Report.state == ReportState.DRAFT.value, Report.updated_at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def drop_old_uploads(session: AsyncSession, *, before: datetime) -> int:
    """Forget the uploaded files and the opt-in contact of reports submitted before `before`
    (the brochure is out long since); their examples lose the contact too."""
    old = select(Report.id).where(
        Report.state == ReportState.SUBMITTED.value, Report.submitted_at < before
    )
    await session.execute(
        update(Example)
        .where(Example.item_id.in_(select(ReportItem.id).where(ReportItem.report_id.in_(old))))
        .values(contact=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Report)
        .where(Report.id.in_(old), Report.contact.is_not(None))
        .values(contact=None)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        update(ReportItem)
        .where(ReportItem.report_id.in_(old), ReportItem.file_id.is_not(None))
        .values(file_id=None, file_name=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def example_counts(session: AsyncSession) -> dict[str, int]:
    """Examples per topic."""
    return dict(await facet(session, column="topic_id"))


async def agreement_measures(session: AsyncSession, *, partner_id: int) -> list[str]:
    """The topic ids of the measures the partner agreed to (from its approved request)."""
    rows = await session.scalars(
        select(OnboardingRequest.measures).where(OnboardingRequest.partner_id == partner_id)
    )
    out: list[str] = []
    for raw in rows.all():
        try:
            ids = json.loads(raw or "[]")
        except ValueError:
            continue
        out += [str(i) for i in ids if str(i) not in out] if isinstance(ids, list) else []
    return out


async def partner(session: AsyncSession, *, partner_id: int) -> Partner | None:
    """One partner."""
    return await session.get(Partner, partner_id)


async def report_with_partner(
    session: AsyncSession, *, report_id: int
) -> tuple[Report, Partner] | None:
    """A report (read fresh) and its partner, or None."""
    found = await report(session, report_id=report_id)
    owner = await partner(session, partner_id=found.partner_id) if found else None
    return (found, owner) if found and owner else None


async def is_linked(session: AsyncSession, *, chat_id: int) -> bool:
    """Whether the chat is a contact of any partner."""
    found = await session.scalar(
        select(PartnerContact.id).where(PartnerContact.chat_id == chat_id).limit(1)
    )
    return found is not None
