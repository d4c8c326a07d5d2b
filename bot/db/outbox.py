"""The delivery outbox: enqueue idempotently, claim due rows with a lease, record outcomes.

On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so several workers can share the queue
without sending a row twice; SQLite serialises writers, so one worker runs there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from bot.db.models import (
    Broadcast,
    Chat,
    DeliveryWorkerBeat,
    OutboxMessage,
    OutboxStatus,
    Partner,
    PartnerContact,
    SendBudget,
)
from bot.db.upsert import dialect_insert, insert_missing, lock_name, upsert

Buttons = list[list[dict[str, str]]]

# Messages a person can reply to with Telegram's Reply, continuing a conversation: the
# delivered copy's message id leads back to it, so these rows are kept as long as hand-overs.
HANDOVER_KIND = "handover"  # a question handed over to the office (ref: the hand-over)
FOLLOWUP_KIND = "handover_followup"  # the asker's addition to it, to the office (ref: same)
RELAY_KIND = "handover_reply"  # the office's answer, to the asker (ref: same)
ASK_BACK_KIND = "ask_back"  # the office's question about a request (ref: the request)
# An office copy of a hand-over whose asker erased their data: no text, no reference (see
# bot.db.privacy.forget_conversation); a reply to it is told that no one can be answered.
ERASED_COPY_KIND = "erased_copy"
# What a reply finds its conversation by: kept as long as hand-overs are.
CONVERSATION_KINDS = (HANDOVER_KIND, FOLLOWUP_KIND, RELAY_KIND, ASK_BACK_KIND, ERASED_COPY_KIND)


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    chat_id: int,
    kind: str,
    text: str,
    ref_id: int | None = None,
    buttons: Buttons | None = None,
    attachment_name: str | None = None,
    attachment: str | None = None,
    priority: int = 5,
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
    now: datetime,
) -> bool:
    """Add one message; False if a message with this key exists already (nothing changes).

    A message with `expires_at` is never sent after that moment (see `expire_stale`)."""
    statement = (
        dialect_insert(session, OutboxMessage)
        .values(
            key=key,
            chat_id=chat_id,
            kind=kind,
            ref_id=ref_id,
            text=text,
            buttons=json.dumps(buttons, ensure_ascii=False) if buttons else None,
            attachment_name=attachment_name,
            attachment=attachment,
            priority=priority,
            status=OutboxStatus.PENDING.value,
            attempts=0,
            next_attempt_at=not_before or now,
            expires_at=expires_at,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def enqueue_each(
    session: AsyncSession,
    *,
    key: str,
    chat_ids: Sequence[int],
    kind: str,
    text: str,
    ref_id: int | None = None,
    buttons: Buttons | None = None,
    priority: int = 5,
    now: datetime,
) -> int:
    """The same message to several chats in one statement (key `<key>:<chat id>` each, so
    a chat that has it already gets nothing new); how many were added."""
    stored_buttons = json.dumps(buttons, ensure_ascii=False) if buttons else None
    rows = [
        {
            "key": f"{key}:{chat_id}",
            "chat_id": chat_id,
            "kind": kind,
            "ref_id": ref_id,
            "text": text,
            "buttons": stored_buttons,
            "priority": priority,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for chat_id in chat_ids
    ]
    if not rows:
        return 0
    statement = (
        dialect_insert(session, OutboxMessage)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def audience_chats(
    audience: str,
    language: str | None = None,
    *,
    partner_type: str | None = None,
    region: str | None = None,
) -> Select[int, str | None]:
    """Chat ids (and languages) of an audience: partners' contacts, subscribers, or both.

    A partner type or region filter narrows the audience to contacts of matching partners
    (subscribers have neither).
    """
    partner_chat = (
        select(PartnerContact.chat_id)
        .join(Partner, Partner.id == PartnerContact.partner_id)
        .where(Partner.active.is_(True))
    )
    if partner_type:
        partner_chat = partner_chat.where(Partner.org_type == partner_type)
    if region:
        partner_chat = partner_chat.where(func.lower(Partner.region).contains(region.lower()))
    is_contact = Chat.chat_id.in_(partner_chat)
    subscribed: ColumnElement[bool] = false() if partner_type or region else Chat.notices.is_(True)
    if audience == "partners":
        condition = and_(is_contact, Chat.opted_out.is_(False))
    elif audience == "subscribers":
        condition = subscribed
    elif audience == "all":
        condition = or_(subscribed, and_(is_contact, Chat.opted_out.is_(False)))
    else:
        raise ValueError(f"unknown audience {audience!r}")
    query = select(Chat.chat_id, Chat.language).where(Chat.active.is_(True), condition)
    if language is not None:
        query = query.where(func.coalesce(Chat.language, "de") == language)
    return query


async def reminder_audience(
    session: AsyncSession, *, audience: str
) -> list[tuple[int, str | None]]:
    """Chat ids and languages of the audience's chats that want reminders."""
    rows = await session.execute(audience_chats(audience).where(Chat.reminders.is_(True)))
    return [(chat_id, language) for chat_id, language in rows.all()]


async def count_pending(session: AsyncSession) -> int:
    """How many messages wait for delivery."""
    pending = await session.scalar(
        select(func.count()).where(OutboxMessage.status == OutboxStatus.PENDING.value)
    )
    return int(pending or 0)


async def count_audience(
    session: AsyncSession,
    *,
    audience: str,
    language: str | None,
    partner_type: str | None = None,
    region: str | None = None,
) -> int:
    """How many chats a broadcast to this audience would reach now."""
    sub = audience_chats(audience, language, partner_type=partner_type, region=region).subquery()
    return int(await session.scalar(select(func.count()).select_from(sub)) or 0)


async def enqueue_broadcast(
    session: AsyncSession,
    broadcast: Broadcast,
    *,
    footer: dict[str, str],
    buttons: dict[str, Buttons],
    now: datetime,
) -> int:
    """One outbox row per recipient, computed inside the database (no chat list in memory).

    `footer` and `buttons` are per language ("de", "en"); each recipient gets its own.
    Returns how many rows were added (0 when run again: keys are unique).
    """
    recipients = audience_chats(
        broadcast.audience,
        broadcast.language,
        partner_type=broadcast.partner_type,
        region=broadcast.region,
    ).subquery()
    english = func.coalesce(recipients.c.language, "de") == "en"
    body = case(
        (english, literal(broadcast.text + footer["en"])),
        else_=literal(broadcast.text + footer["de"]),
    )
    markup = case(
        (english, literal(json.dumps(buttons["en"], ensure_ascii=False))),
        else_=literal(json.dumps(buttons["de"], ensure_ascii=False)),
    )
    rows = select(
        (literal(f"broadcast:{broadcast.id}:") + cast(recipients.c.chat_id, String)).label("key"),
        recipients.c.chat_id,
        literal("broadcast").label("kind"),
        literal(broadcast.id).label("ref_id"),
        body.label("text"),
        markup.label("buttons"),
        literal(7).label("priority"),
        literal(OutboxStatus.PENDING.value).label("status"),
        literal(0).label("attempts"),
        literal(now, OutboxMessage.next_attempt_at.type).label("next_attempt_at"),
        literal(now, OutboxMessage.created_at.type).label("created_at"),
    ).where(true())  # SQLite needs a WHERE in INSERT … SELECT … ON CONFLICT (parser ambiguity)
    columns = [
        "key",
        "chat_id",
        "kind",
        "ref_id",
        "text",
        "buttons",
        "priority",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    statement = (
        dialect_insert(session, OutboxMessage)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def expire_stale(session: AsyncSession, *, now: datetime) -> int:
    """Mark the waiting rows whose moment has passed (`expires_at`) expired instead of sending
    them; how many. The row stays, so its key still keeps the same message from being queued
    again. Rows another worker holds locked right now are left for the next call."""
    stale = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.expires_at <= now,
        )
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(stale))
        .values(status=OutboxStatus.EXPIRED.value, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def mark_expired(session: AsyncSession, *, message_id: int, worker: str | None) -> bool:
    """A claimed row whose moment passed while it waited in its batch: expired, not sent;
    False if the row is no longer this worker's (cancelled or released meanwhile)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(_owned(message_id, worker))
        .values(status=OutboxStatus.EXPIRED.value, lease_until=None)
    )
    return bool(getattr(result, "rowcount", 0))


async def claim_due(
    session: AsyncSession, *, worker: str, now: datetime, limit: int, lease: timedelta
) -> Sequence[OutboxMessage]:
    """Take up to `limit` due rows for this worker (status sending, lease until now + lease)."""
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.priority, OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = await session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due))
        .values(
            status=OutboxStatus.SENDING.value,
            lease_until=now + lease,
            worker=worker,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage),
        execution_options={"synchronize_session": False},
    )
    rows = list(claimed.all())
    rows.sort(key=lambda r: (r.priority, r.next_attempt_at, r.id))
    return rows


async def _fast_commit(session: AsyncSession) -> None:
    """On PostgreSQL, do not wait for the WAL flush when recording an outcome: if the database
    server itself crashes, the last outcomes may be lost and those messages are sent again,
    which the resend policy allows anyway (a worker crash loses nothing either way)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _owned(message_id: int, worker: str | None) -> Any:
    """The row, while it is still being sent by this worker (not cancelled, not reclaimed)."""
    condition = and_(
        OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.SENDING.value
    )
    return and_(condition, OutboxMessage.worker == worker) if worker else condition


async def touch_lease(
    session: AsyncSession, *, message_id: int, worker: str, until: datetime
) -> bool:
    """Extend this worker's lease on a row right before sending it; False if the row is no
    longer this worker's to send (cancelled meanwhile, or released after a long stall)."""
    await _fast_commit(session)
    result = await session.execute(
        update(OutboxMessage).where(_owned(message_id, worker)).values(lease_until=until)
    )
    return bool(getattr(result, "rowcount", 0))


def _sent_by(message_id: int, worker: str | None) -> Any:
    """The row, as this worker sent it: also when it was cancelled while on its way."""
    sent_by = and_(
        OutboxMessage.id == message_id,
        OutboxMessage.status.in_((OutboxStatus.SENDING.value, OutboxStatus.CANCELLED.value)),
    )
    return and_(sent_by, OutboxMessage.worker == worker) if worker else sent_by


async def mark_sent(
    session: AsyncSession,
    *,
    message_id: int,
    now: datetime,
    worker: str | None = None,
    delivered_message_id: int | None = None,
) -> None:
    """Delivered (as Telegram's message `delivered_message_id`, for replies to it).

    Also when the row was cancelled while its send was on the way (the worker checks just
    before sending): it did go out, and "send the rest" must not send it a second time.
    """
    await _fast_commit(session)
    await session.execute(
        update(OutboxMessage)
        .where(_sent_by(message_id, worker))
        .values(
            status=OutboxStatus.SENT.value,
            sent_at=now,
            lease_until=None,
            last_error=None,
            delivered_message_id=delivered_message_id,
        )
    )


async def mark_text_sent(
    session: AsyncSession, *, message_id: int, delivered_message_id: int, worker: str
) -> None:
    """The text of a message sent in two parts (text, then its file) went out as Telegram's
    `delivered_message_id`: a retry sends only the file, and a reply to the text finds it."""
    await session.execute(
        update(OutboxMessage)
        .where(_sent_by(message_id, worker))
        .values(delivered_message_id=delivered_message_id)
    )


async def delivered_as(
    session: AsyncSession, *, chat_id: int, message_id: int, kinds: Sequence[str]
) -> OutboxMessage | None:
    """The row of one of `kinds` that was delivered to `chat_id` as Telegram's `message_id`
    (the message a person replied to), if any."""
    row: OutboxMessage | None = await session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.delivered_message_id == message_id,
            OutboxMessage.kind.in_(kinds),
        )
        .limit(1)
    )
    return row


async def mark_retry(
    session: AsyncSession,
    *,
    message_id: int,
    at: datetime,
    error: str,
    worker: str | None = None,
    count_attempt: bool = True,
) -> None:
    """Try again at `at` (unless it was cancelled meanwhile). A flood-control wait does not
    count as a failed attempt."""
    values: dict[str, object] = {
        "status": OutboxStatus.PENDING.value,
        "next_attempt_at": at,
        "lease_until": None,
        "last_error": error[:500],
    }
    if not count_attempt:
        values["attempts"] = OutboxMessage.attempts - 1
    await session.execute(update(OutboxMessage).where(_owned(message_id, worker)).values(**values))
    await _release_cancelled(session, message_id=message_id, worker=worker)


async def _release_cancelled(session: AsyncSession, *, message_id: int, worker: str | None) -> None:
    """A send that failed after its message was cancelled: it stays cancelled (no retry), but
    without the lease, so that "send the rest" (`resume_cancelled`) takes it."""
    cancelled = and_(
        OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.CANCELLED.value
    )
    await session.execute(
        update(OutboxMessage)
        .where(and_(cancelled, OutboxMessage.worker == worker) if worker else cancelled)
        .values(lease_until=None)
    )


async def mark_failed(
    session: AsyncSession, *, message_id: int, error: str, worker: str | None = None
) -> None:
    """Given up: the reason is kept for the report."""
    await session.execute(
        update(OutboxMessage)
        .where(_owned(message_id, worker))
        .values(status=OutboxStatus.FAILED.value, lease_until=None, last_error=error[:500])
    )
    await _release_cancelled(session, message_id=message_id, worker=worker)


async def _distinct(session: AsyncSession, column: Any, *where: Any) -> list[Any]:
    rows = await session.scalars(select(column).where(*where).distinct().order_by(column))
    return list(rows.all())


async def recipients(session: AsyncSession, *, kind: str, ref_id: int) -> list[int]:
    """The chats that received a message of `kind` about `ref_id`, in order."""
    return await _distinct(
        session,
        OutboxMessage.chat_id,
        OutboxMessage.kind == kind,
        OutboxMessage.ref_id == ref_id,
        OutboxMessage.status == OutboxStatus.SENT.value,
    )


async def open_refs(session: AsyncSession, *, chat_id: int, kind: str) -> list[int]:
    """The `ref_id`s of the messages of `kind` to `chat_id` that are not sent yet."""
    return await _distinct(
        session,
        OutboxMessage.ref_id,
        OutboxMessage.chat_id == chat_id,
        OutboxMessage.kind == kind,
        OutboxMessage.ref_id.is_not(None),
        OutboxMessage.status.in_((OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)),
    )


async def mark_chat_blocked(session: AsyncSession, *, chat_id: int, error: str) -> None:
    """The person blocked the bot: chat inactive, subscriptions off, its messages not sent."""
    await session.execute(
        update(Chat).where(Chat.chat_id == chat_id).values(active=False, notices=False)
    )
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.status.in_((OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)),
        )
        .values(status=OutboxStatus.BLOCKED.value, lease_until=None, last_error=error[:500])
    )


async def move_chat(session: AsyncSession, *, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its id changes everywhere it is stored."""
    exists = await session.get(Chat, new_chat_id)
    if exists is None:
        await session.execute(
            update(Chat).where(Chat.chat_id == old_chat_id).values(chat_id=new_chat_id)
        )
    # A partner the new chat is a contact of already keeps that one link.
    await session.execute(
        delete(PartnerContact).where(
            PartnerContact.chat_id == old_chat_id,
            PartnerContact.partner_id.in_(
                select(PartnerContact.partner_id).where(PartnerContact.chat_id == new_chat_id)
            ),
        )
    )
    await session.execute(
        update(PartnerContact)
        .where(PartnerContact.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
    )
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.chat_id == old_chat_id,
            OutboxMessage.status.in_((OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)),
        )
        .values(chat_id=new_chat_id)
    )


async def release_expired(session: AsyncSession, *, now: datetime, policy: str = "resend") -> int:
    """Rows left in `sending` by a crashed worker: due again (resend) or `unknown`."""
    status = OutboxStatus.PENDING if policy == "resend" else OutboxStatus.UNKNOWN
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.SENDING.value,
            OutboxMessage.lease_until < now,
        )
        .values(status=status.value, lease_until=None, next_attempt_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def heartbeat(session: AsyncSession, *, worker: str, now: datetime) -> None:
    """Note that `worker` is alive now (registering it on its first beat)."""
    await _fast_commit(session)
    await upsert(
        session,
        DeliveryWorkerBeat,
        key=("name",),
        values={"name": worker, "started_at": now, "last_seen": now},
        update_values={"last_seen": now},
    )


async def forget_worker(session: AsyncSession, *, worker: str) -> None:
    """A worker that stopped cleanly (nothing of it is in flight any more)."""
    await session.execute(delete(DeliveryWorkerBeat).where(DeliveryWorkerBeat.name == worker))


async def release_orphaned(
    session: AsyncSession,
    *,
    now: datetime,
    stale_after: timedelta,
    caller: str,
    policy: str = "resend",
) -> int:
    """Rows in `sending` whose worker has not beaten for `stale_after` (it crashed or hangs):
    due again (resend) or `unknown`, without waiting for their lease; the silent workers are
    forgotten. A worker that was only stalled finds its rows gone when it re-checks them.

    The calling worker is alive by definition: on a loaded machine its own beat can be late,
    and releasing its own rows would make it send them twice."""
    # Only workers known to have beaten: rows of a worker that never did (one of a version
    # before heartbeats) wait for their lease as before.
    dead = (DeliveryWorkerBeat.last_seen < now - stale_after) & (DeliveryWorkerBeat.name != caller)
    silent = select(DeliveryWorkerBeat.name).where(dead)
    status = OutboxStatus.PENDING if policy == "resend" else OutboxStatus.UNKNOWN
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.SENDING.value,
            OutboxMessage.worker.in_(silent),
        )
        .values(status=status.value, lease_until=None, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(DeliveryWorkerBeat).where(dead))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the delivery of one broadcast (or anything with a ref id) is."""

    total: int
    pending: int
    sent: int
    blocked: int
    failed: int
    cancelled: int

    @property
    def done(self) -> bool:
        """Nothing left to send."""
        return self.pending == 0


async def status_counts(session: AsyncSession, *, kind: str, ref_id: int) -> dict[str, int]:
    """How many rows of one `kind` and `ref_id` (e.g. a broadcast) are in each status."""
    rows = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.kind == kind, OutboxMessage.ref_id == ref_id)
        .group_by(OutboxMessage.status)
    )
    return {status: int(count) for status, count in rows.all()}


async def progress(session: AsyncSession, *, kind: str, ref_id: int) -> Progress:
    """Counts per status of the rows that belong to one broadcast."""
    counts = await status_counts(session, kind=kind, ref_id=ref_id)
    pending = counts.get("pending", 0) + counts.get("sending", 0)
    return Progress(
        total=sum(counts.values()),
        pending=pending,
        sent=counts.get("sent", 0),
        blocked=counts.get("blocked", 0),
        failed=counts.get("failed", 0) + counts.get("unknown", 0),
        cancelled=counts.get("cancelled", 0),
    )


async def cancel_pending(session: AsyncSession, *, kind: str, ref_id: int) -> int:
    """Stop what has not been sent yet; how many messages that stopped."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.kind == kind,
            OutboxMessage.ref_id == ref_id,
            # Rows being sent right now are cancelled too: their retry, if any, is dropped.
            OutboxMessage.status.in_((OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)),
        )
        .values(status=OutboxStatus.CANCELLED.value)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def hold_reminder_plans(session: AsyncSession) -> None:
    """Run this transaction apart from the reminder planner's (until it ends).

    The planner reads who is to be reminded (contacts, their language and "reminders on",
    reports not in yet) and queues rows; a change that cancels or rewrites queued reminders
    (reminders off, another language, a contact removed, a report marked received, a person
    erased) takes this first, as the planner does. Otherwise, on PostgreSQL, a planner run
    that read the chat before the change committed could queue a row the change no longer
    sees: a reminder despite "off", in the old language, or to someone erased.
    """
    await lock_name(session, "reminder plans")


async def cancel_keyed(
    session: AsyncSession, *, key_prefix: str, chat_id: int | None = None
) -> int:
    """Cancel the pending rows under `key_prefix` (only those to `chat_id`, when given); how
    many."""
    statement = update(OutboxMessage).where(
        OutboxMessage.key.like(f"{key_prefix}%"),
        OutboxMessage.status == OutboxStatus.PENDING.value,
    )
    if chat_id is not None:
        statement = statement.where(OutboxMessage.chat_id == chat_id)
    result = await session.execute(statement.values(status=OutboxStatus.CANCELLED.value))
    return int(getattr(result, "rowcount", 0) or 0)


async def keyed(
    session: AsyncSession, *, key_prefix: str, chat_id: int, status: OutboxStatus
) -> Sequence[OutboxMessage]:
    """The rows under `key_prefix` to `chat_id` in `status`, oldest first."""
    rows = await session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.key.like(f"{key_prefix}%"),
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.status == status.value,
        )
        .order_by(OutboxMessage.id)
    )
    return rows.all()


async def rewrite_pending(
    session: AsyncSession,
    *,
    message_id: int,
    text: str,
    buttons: Buttons | None,
    attachment_name: str | None,
) -> bool:
    """A waiting row's text, buttons and file name anew (e.g. in another language); False if
    it is no longer waiting (a worker has it, or it is done): what is on its way stays as it
    is and goes out once."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == OutboxStatus.PENDING.value,
        )
        .values(
            text=text,
            buttons=json.dumps(buttons, ensure_ascii=False) if buttons else None,
            attachment_name=attachment_name,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def forget_cancelled(
    session: AsyncSession, *, key_prefix: str, chat_id: int | None = None
) -> int:
    """Delete the cancelled rows under `key_prefix` (only those to `chat_id`, when given), so
    their keys can be planned anew; how many."""
    statement = delete(OutboxMessage).where(
        OutboxMessage.key.like(f"{key_prefix}%"),
        OutboxMessage.status == OutboxStatus.CANCELLED.value,
    )
    if chat_id is not None:
        statement = statement.where(OutboxMessage.chat_id == chat_id)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def forget_keyed(session: AsyncSession, *, key_prefix: str) -> int:
    """Delete every row under `key_prefix`, whatever its status; how many."""
    result = await session.execute(
        delete(OutboxMessage).where(OutboxMessage.key.like(f"{key_prefix}%"))
    )
    return int(getattr(result, "rowcount", 0) or 0)


# The statuses of rows that will not be sent (any more): what retention may empty and delete.
DONE = tuple(
    status.value
    for status in (
        OutboxStatus.SENT,
        OutboxStatus.CANCELLED,
        OutboxStatus.BLOCKED,
        OutboxStatus.FAILED,
        OutboxStatus.EXPIRED,
    )
)


async def drop_delivered(
    session: AsyncSession,
    *,
    before: datetime,
    reminders_before: datetime,
    conversations_before: datetime,
) -> int:
    """Delete the rows that are done with (`DONE`) and older than `before`; reminders and
    conversations have their own, longer, limits. How many."""
    result = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status.in_(DONE),
            OutboxMessage.created_at < before,
            # Reminder rows are the keys that keep a reminder from going out twice:
            # they stay until their report cycle is long over.
            or_(OutboxMessage.kind != "reminder", OutboxMessage.created_at < reminders_before),
            # A reply to a hand-over's or an ask-back's message finds its
            # conversation through the row: kept as long as hand-overs are.
            or_(
                OutboxMessage.kind.not_in(CONVERSATION_KINDS),
                OutboxMessage.created_at < conversations_before,
            ),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def resume_cancelled(session: AsyncSession, *, kind: str, ref_id: int, now: datetime) -> int:
    """Undo `cancel_pending`: the cancelled messages are due again; how many.

    Not a message whose send is still on the way (cancelled while a worker held its lease):
    when that send comes back, it is recorded sent (`mark_sent`), or, if it failed, its lease
    goes and a later undo takes it (`_release_cancelled`); resumed now, it would go out twice.
    """
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.kind == kind,
            OutboxMessage.ref_id == ref_id,
            OutboxMessage.status == OutboxStatus.CANCELLED.value,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now),
        )
        .values(status=OutboxStatus.PENDING.value, next_attempt_at=now, lease_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def reserve_slots(
    session: AsyncSession, *, name: str, count: int, interval: float, now: datetime
) -> datetime:
    """Reserve `count` sending slots of the shared budget; returns when the first one starts.

    One row per bot token holds the next free slot. Every worker reserves through it, so
    together they stay under the flood limit. PostgreSQL only (row lock on UPDATE).
    """
    span = timedelta(seconds=interval * count)
    row = await _budget(session, name=name, now=now)
    start = max(row.next_slot, now)
    row.next_slot = start + span
    return start


async def _budget(session: AsyncSession, *, name: str, now: datetime) -> SendBudget:
    """The budget row, locked; created first if missing (two workers starting at once)."""
    await insert_missing(
        session, SendBudget, key=("name",), values={"name": name, "next_slot": now}
    )
    row = await session.get(SendBudget, name, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


async def pause_budget(session: AsyncSession, *, name: str, until: datetime) -> None:
    """After a RetryAfter: no worker sends before `until`."""
    row = await _budget(session, name=name, now=until)
    if row.next_slot < until:
        row.next_slot = until
