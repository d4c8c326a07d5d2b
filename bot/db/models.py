"""The database schema (SQLAlchemy 2 declarative models). Changes go through Alembic."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Base class of all tables."""


class Chat(Base):
    """A private chat (a person) or a group the bot talks to, with the person's preferences."""

    __tablename__ = "chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="private")
    language: Mapped[str | None] = mapped_column(String(2))
    plain_language: Mapped[bool] = mapped_column(Boolean, default=False)
    region: Mapped[str | None] = mapped_column(String(2))  # chosen Land; None: the network's
    notices: Mapped[bool] = mapped_column(Boolean, default=False)  # subscribed to event notices
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)  # said /unsubscribe
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)  # report/meeting reminders
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class UnansweredQuestion(Base):
    """A question the knowledge base could not answer, kept for curators, without who asked."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2))
    outcome: Mapped[str] = mapped_column(String(16))
    best_topic: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class LearnedQuestion(Base):
    """A question a coordinator attached to a topic (or marked out of scope) in the bot.

    The search answers it (and questions worded almost the same) with that topic. Who asked is
    never stored; `coordinator_id` says who taught it, for the audit, and is emptied when that
    coordinator erases their data.
    """

    __tablename__ = "learned_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    # SHA-256 of the folded question (the search's own folding): teaching the same question
    # again updates the row. A hash, because a long question's text may exceed what a
    # PostgreSQL index entry can hold.
    fold_key: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(2))
    topic_id: Mapped[str | None] = mapped_column(String(64), index=True)  # None: out of scope
    coordinator_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Feedback(Base):
    """A thumbs up or down on an answer, anonymous."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic_id: Mapped[str] = mapped_column(String(64), index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Handover(Base):
    """A question passed to the network office; a coordinator's reply is relayed to the asker."""

    __tablename__ = "handovers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asker_chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    language: Mapped[str] = mapped_column(String(2))
    question: Mapped[str] = mapped_column(Text)
    # Where the copy of a hand-over from before 0012 is; later copies are found through the
    # outbox row that delivered them (any coordinator's copy, and every addition).
    office_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    office_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the office's last answer
    followed_up_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime
    )  # the asker's last addition


class Partner(Base):
    """An organisation with a partnership agreement."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[str] = mapped_column(String(32), default="other")
    region: Mapped[str] = mapped_column(String(100), default="")
    agreement_date: Mapped[date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))
    report_due: Mapped[str | None] = mapped_column(String(5))  # "MM-DD" overriding the default
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PartnerContact(Base):
    """A Telegram chat linked to a partner (through an invite link)."""

    __tablename__ = "partner_contacts"
    __table_args__ = (UniqueConstraint("partner_id", "chat_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OutboxStatus(StrEnum):
    """Where a proactive message is in its delivery."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # was in flight during a crash and the resend policy is "unknown"
    EXPIRED = "expired"  # no longer true when the worker got to it (a reminder): never sent


class BroadcastStatus(StrEnum):
    """Where a broadcast is: waiting for its time, being delivered, finished, or cancelled."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class Audience(StrEnum):
    """Who a broadcast or a meeting is for."""

    PARTNERS = "partners"  # the partners' linked contacts
    SUBSCRIBERS = "subscribers"  # chats that turned notices on
    ALL = "all"


class OutboxMessage(Base):
    """One message to one chat, delivered by the worker; the key makes enqueuing idempotent."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "priority", "next_attempt_at"),
        # A reply in a chat names the message it replies to: which row delivered it.
        Index("ix_outbox_delivered", "chat_id", "delivered_message_id"),
        # The worker drops the waiting rows whose moment has passed before each claim.
        Index("ix_outbox_expiring", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # broadcast, reminder, notification
    ref_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # e.g. the broadcast id
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[str | None] = mapped_column(Text)  # JSON [[{"text":…, "data"|"url":…}]]
    attachment_name: Mapped[str | None] = mapped_column(String(100))
    attachment: Mapped[str | None] = mapped_column(Text)  # small text files, e.g. .ics
    priority: Mapped[int] = mapped_column(Integer, default=5)  # lower goes first
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    worker: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Telegram's id of the delivered message (its first one, with an attachment after it).
    delivered_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # After this moment the message is no longer true and is never sent (a reminder's day
    # count is for its day; a meeting reminder is pointless once the meeting began). None:
    # sent however late (broadcasts, notifications).
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Broadcast(Base):
    """An event notice a coordinator sends to an audience."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Who asked for it and from where, e.g. "meeting:7": a second tap finds it instead of
    # sending the notice twice (NULL for notices from the command line).
    key: Mapped[str | None] = mapped_column(String(100), unique=True, index=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16))  # partners, subscribers, all
    language: Mapped[str | None] = mapped_column(String(2))  # only chats with this language
    partner_type: Mapped[str | None] = mapped_column(String(32))  # only contacts of such partners
    region: Mapped[str | None] = mapped_column(String(100))  # only partners whose region matches
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.SCHEDULED)
    send_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    report_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SendBudget(Base):
    """The shared flood budget of one bot token: the next free sending slot (PostgreSQL)."""

    __tablename__ = "send_budget"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_slot: Mapped[datetime] = mapped_column(UtcDateTime)


class DeliveryWorkerBeat(Base):
    """A running delivery worker and when it last said it is alive (its heartbeat)."""

    __tablename__ = "delivery_workers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)


class OnboardingDraft(Base):
    """A partnership request being filled in; one per chat, saved after every step."""

    __tablename__ = "onboarding_drafts"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(2), default="de")
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON of the answers so far
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    # Raised by every save: a save that read an older version lost a race (a double tap, a
    # second process) and is repeated on the fresh draft instead of overwriting it.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class OnboardingRequest(Base):
    """A submitted partnership request, reviewed by the coordinators."""

    __tablename__ = "onboarding_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(2), default="de")
    org_name: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[str] = mapped_column(String(32))
    place: Mapped[str] = mapped_column(String(100))
    size: Mapped[str] = mapped_column(String(16))
    contact_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    measures: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of topic ids
    measures_text: Mapped[str | None] = mapped_column(Text)
    timeframe: Mapped[str] = mapped_column(String(200))
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id", ondelete="SET NULL"))
    ask_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def measure_ids(self) -> list[str]:
        """The chosen measures' topic ids (stored as a JSON list)."""
        ids = json.loads(self.measures or "[]")
        return [str(i) for i in ids] if isinstance(ids, list) else []


class Invite(Base):
    """A deep link that links chats to a partner as its contacts (limited uses, expires)."""

    __tablename__ = "invites"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    max_uses: Mapped[int] = mapped_column(Integer, default=5)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ReportSubmission(Base):
    """A partner's annual activity report for one due date, marked as received."""

    __tablename__ = "report_submissions"

    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True
    )
    due_date: Mapped[date] = mapped_column(Date, primary_key=True)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    marked_by: Mapped[int | None] = mapped_column(BigInteger)  # chat or coordinator user id


class Meeting(Base):
    """A network meeting or event."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    place: Mapped[str | None] = mapped_column(String(300))
    online_url: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16), default=Audience.PARTNERS)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Rsvp(Base):
    """Whether a chat attends a meeting."""

    __tablename__ = "rsvps"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    attending: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Coordinator(Base):
    """A coordinator added in the bot by an admin (configured ones are not stored)."""

    __tablename__ = "coordinators"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditEntry(Base):
    """One coordinator action (approve, decline, broadcast, role change), kept for a while."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200), default="")


class QuestionStat(Base):
    """Questions per day and outcome: counts only, nothing about who asked or what."""

    __tablename__ = "question_stats"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Waiting(Base):
    """What the bot waits for from one person in one chat: the next step of a multi-step flow
    (/join, /broadcast, /newevent, a decline reason, an ask-back question, a due date) with its
    draft so far. One row per (chat, person): a new prompt replaces the old one. In the
    database, so a restart or a second bot process continues the same flow."""

    __tablename__ = "waiting"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON: the step and the draft
    # Raised by every change: a change based on an older version lost a race (compare-and-set).
    version: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SeenUpdate(Base):
    """An update some bot process took on: Telegram (or a proxy) may deliver one update again,
    to either process, when the first answer came late; the second delivery is dropped. Kept a
    day (Telegram keeps an undelivered update no longer)."""

    __tablename__ = "seen_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class OfferedQuestion(Base):
    """A question the bot could not answer, held while the asker may still pass it on to the
    office ("An die Netzwerkstelle"): the button carries the id, not the text."""

    __tablename__ = "offered_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    language: Mapped[str] = mapped_column(String(2))
    question: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    handed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AnswerVote(Base):
    """That an answer message got its 👍/👎 (which one, and on what, stays anonymous in
    `feedback`): the key makes a second vote on the same message a no-op."""

    __tablename__ = "answer_votes"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class ReportState(StrEnum):
    """Where a partner's yearly report filled in the bot stands."""

    DRAFT = "draft"  # being filled in, editable
    SUBMITTED = "submitted"  # sent to the office; reminders stopped


class ItemReview(StrEnum):
    """The office's decision on one report item."""

    PENDING = "pending"
    APPROVED = "approved"  # published as an example in the directory
    NOT_PUBLISHED = "not_published"
    ASKED = "asked"  # the office asked the partner a question about it


class Report(Base):
    """A partner's yearly report for one due date, filled in the bot step by step.

    `step` and `current` (the item being written, JSON) are saved after every answer, so the
    form survives a restart; `version` grows with every write, and a write only applies to the
    version it read (two taps at once: one wins, the other is told it happened already).
    """

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("partner_id", "due_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    due_date: Mapped[date] = mapped_column(Date)
    year: Mapped[int] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16), default=ReportState.DRAFT, index=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # who is filling it in
    language: Mapped[str] = mapped_column(String(2), default="de")
    step: Mapped[str] = mapped_column(String(32), default="topic")
    current: Mapped[str] = mapped_column(Text, default="{}")  # JSON: the item being written
    contact: Mapped[str | None] = mapped_column(String(300))  # opt-in contact person
    contact_chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReportItem(Base):
    """One measure of a report: topic, what was done, the result, extras, publish consent."""

    __tablename__ = "report_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    topic_id: Mapped[str] = mapped_column(String(64), index=True)
    done: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)
    figure: Mapped[str | None] = mapped_column(String(200))
    link: Mapped[str | None] = mapped_column(String(500))
    file_id: Mapped[str | None] = mapped_column(String(200))  # a PDF the partner uploaded
    file_name: Mapped[str | None] = mapped_column(String(200))
    publish: Mapped[bool] = mapped_column(Boolean, default=False)  # consent to publish
    review: Mapped[str] = mapped_column(String(16), default=ItemReview.PENDING)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Example(Base):
    """An entry of the directory of practice: an approved report item, or a public example
    seeded from the knowledge base (`key` "seed:<id>" or "item:<id>")."""

    __tablename__ = "examples"
    __table_args__ = (Index("ix_examples_topic", "topic_id", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("report_items.id", ondelete="CASCADE"), index=True
    )
    topic_id: Mapped[str] = mapped_column(String(64))
    partner: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[str] = mapped_column(String(32), default="other", index=True)
    region: Mapped[str] = mapped_column(String(100), default="", index=True)
    year: Mapped[int] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(2))  # None: both (seeded, de + en)
    done: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text, default="")
    done_en: Mapped[str | None] = mapped_column(Text)
    result_en: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str | None] = mapped_column(String(300))  # a seeded example's source title
    contact: Mapped[str | None] = mapped_column(String(300))  # only with the partner's opt-in
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
