"""The person's data: export (/mydata), erasure (/deleteme), and retention periods."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.db import outbox, privacy, reports
from bot.db.models import (
    AnswerVote,
    AuditEntry,
    Broadcast,
    Chat,
    Coordinator,
    Feedback,
    Handover,
    Invite,
    LearnedQuestion,
    Meeting,
    OfferedQuestion,
    OnboardingDraft,
    OnboardingRequest,
    OutboxMessage,
    PartnerContact,
    Report,
    ReportItem,
    ReportSubmission,
    Rsvp,
    SeenUpdate,
    UnansweredQuestion,
    Waiting,
    utcnow,
)
from bot.services.base import Clock, Service, Sessions

# Every table and the columns that hold a person's user id or private chat id. A test walks
# the schema and fails if a table with such a column is missing here.
PERSONAL_COLUMNS: dict[type[Any], tuple[str, ...]] = {
    Chat: ("chat_id", "user_id"),
    Handover: ("asker_chat_id",),
    OnboardingDraft: ("chat_id", "user_id"),
    OnboardingRequest: ("chat_id", "user_id"),
    PartnerContact: ("chat_id",),
    Rsvp: ("chat_id",),
    OutboxMessage: ("chat_id",),
    Coordinator: ("user_id",),
    AuditEntry: ("actor_id",),
    Waiting: ("chat_id", "user_id"),
    OfferedQuestion: ("chat_id",),
    AnswerVote: ("chat_id",),
    # Before the rows go, `reports.forget_chat` deletes the person's drafts and unlinks the
    # submitted reports (the organisation's record) from them; nothing is left to delete.
    Report: ("chat_id",),
}
# Columns that only say who did something to the organisation's records: emptied on erasure.
ACTOR_COLUMNS: dict[type[Any], tuple[str, ...]] = {
    ReportSubmission: ("marked_by",),
    OnboardingRequest: ("decided_by",),
    Invite: ("created_by",),
    Meeting: ("created_by",),
    Broadcast: ("created_by",),
    Coordinator: ("added_by",),
    LearnedQuestion: ("coordinator_id",),
    ReportItem: ("reviewed_by",),
}
# Columns of those rows that hold someone else's id (the office chat a question went to, the
# coordinator who decided or added): left out of the person's export.
OTHER_PEOPLE_COLUMNS: dict[type[Any], tuple[str, ...]] = {
    Handover: ("office_chat_id", "office_message_id"),
    OnboardingRequest: ("decided_by",),
    Coordinator: ("added_by",),
}
# Audit actions whose subject is the id of the person acted upon.
PERSON_SUBJECTS = frozenset({"coordinator_add", "coordinator_remove"})
# Tables without personal data (for the schema test): counts, topics, partners as bodies.
NOT_PERSONAL = frozenset(
    {
        "unanswered_questions",
        "learned_questions",
        "feedback",
        "question_stats",
        "partners",
        "broadcasts",
        "send_budget",
        "delivery_workers",  # worker ids and heartbeats: no person
        "seen_updates",  # update ids and when they arrived: no person, kept a day
        "invites",
        "meetings",
        "report_submissions",
        "report_items",  # the organisation's measures; who reviewed is an actor column
        # Published examples: organisations, and a contact text only with the partner's
        # opt-in, emptied when that person erases their data or the report's retention ends.
        "examples",
        "alembic_version",
    }
)


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(row: object) -> dict[str, object]:
    """A row for the person's export, without other people's ids."""
    table = row.__table__  # type: ignore[attr-defined]
    others = OTHER_PEOPLE_COLUMNS.get(type(row), ())
    out = {c.name: _plain(getattr(row, c.key)) for c in table.columns if c.name not in others}
    if isinstance(row, AuditEntry) and row.action in PERSON_SUBJECTS:
        out["subject"] = "(another person)"
    return out


# An unanswered question waits this long for its "An die Netzwerkstelle" button; then it goes
# (the button answers "expired").
OFFERED_QUESTION_DAYS = 7
# A sent reminder's row (its key) stays this long, longer than a yearly report cycle with its
# reminders, so that none goes out twice; its text goes after `Retention.delivered` days.
REMINDER_KEYS_DAYS = 400


@dataclass(frozen=True, slots=True)
class Retention:
    """How long things are kept (days)."""

    drafts: int = 30
    unanswered: int = 180
    delivered: int = 30
    handovers: int = 180
    audit: int = 365
    reports: int = 730  # uploads and opt-in contacts of submitted reports


class PrivacyService(Service):
    """Export and erase everything keyed by a person; enforce retention periods."""

    def __init__(
        self,
        sessions: Sessions,
        retention: Retention | None = None,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(sessions, clock=clock)
        self.retention = retention or Retention()

    async def export(self, *, user_id: int, chat_id: int) -> dict[str, list[dict[str, object]]]:
        """Every row keyed by this person, table by table (without other people's ids)."""
        ids = tuple({user_id, chat_id})
        out: dict[str, list[dict[str, object]]] = {}
        async with self._sessions() as session:
            for model, columns in PERSONAL_COLUMNS.items():
                rows = await privacy.person_rows(session, model, columns=columns, ids=ids)
                out[model.__tablename__] = [_row(r) for r in rows]
        for request in out.get("onboarding_requests", []):
            request["measures"] = json.loads(str(request["measures"]))
        for draft in out.get("onboarding_drafts", []):
            draft["data"] = json.loads(str(draft["data"]))
        return out

    async def erase(self, *, user_id: int, chat_id: int) -> int:
        """Delete every row keyed by this person; returns how many rows were deleted."""
        ids = tuple({user_id, chat_id})
        deleted = 0
        async with self._sessions.begin() as session:
            # Apart from a reminder planner run: one that read this person as a contact before
            # the erasure committed would queue a reminder to them afterwards.
            await outbox.hold_reminder_plans(session)
            # What their requests copied elsewhere: the office notifications and a partner's
            # e-mail taken over from the request.
            requests = await privacy.person_rows(
                session,
                OnboardingRequest,
                columns=PERSONAL_COLUMNS[OnboardingRequest],
                ids=ids,
            )
            for request in requests:
                deleted += await outbox.forget_keyed(
                    session, key_prefix=f"onboarding:{request.id}:"
                )
                if request.partner_id is not None:
                    await privacy.forget_partner_email(
                        session, partner_id=request.partner_id, email=request.email
                    )
            # The copies of their handed-over questions, additions and answers to them (of
            # the office's copies only Telegram's message id stays: a reply there is told).
            handovers = await privacy.person_row_ids(
                session, Handover, columns=PERSONAL_COLUMNS[Handover], ids=ids
            )
            for handover_id in handovers:
                deleted += await privacy.forget_conversation(
                    session, key_prefix=f"handover:{handover_id}:", person_ids=ids
                )
            deleted += await reports.forget_chat(session, chat_id=chat_id)
            for identifier in ids:
                await privacy.erase_audit_subject(session, subject=str(identifier))
            for model, columns in PERSONAL_COLUMNS.items():
                deleted += await privacy.delete_person_rows(
                    session, model, columns=columns, ids=ids
                )
            for model, names in ACTOR_COLUMNS.items():
                for name in names:
                    deleted += await privacy.clear_actor(session, model, column=name, ids=ids)
        return deleted

    async def apply_retention(self) -> dict[str, int]:
        """Delete what has been kept long enough; returns counts per kind."""
        now = self._clock()
        r = self.retention

        def before(days: int) -> datetime:
            return now - timedelta(days=days)

        counts: dict[str, int] = {}
        async with self._sessions.begin() as session:
            counts["drafts"] = await privacy.drop_older(
                session, OnboardingDraft.updated_at, before=before(r.drafts)
            )
            counts["unanswered"] = await privacy.drop_older(
                session, UnansweredQuestion.created_at, before=before(r.unanswered)
            )
            counts["feedback"] = await privacy.drop_older(
                session, Feedback.created_at, before=before(r.unanswered)
            )
            # Telegram delivers an update again within a day at the most.
            counts["seen updates"] = await privacy.drop_older(
                session, SeenUpdate.seen_at, before=before(1)
            )
            counts["delivered"] = await outbox.drop_delivered(
                session,
                before=before(r.delivered),
                reminders_before=before(max(r.delivered, REMINDER_KEYS_DAYS)),
                conversations_before=before(max(r.delivered, r.handovers)),
            )
            # What stays longer than the messages (reminder keys, a hand-over's copies) stays
            # without them: /privacy promises delivered messages for `delivered` days.
            counts["delivered texts"] = await privacy.empty_delivered(
                session, before=before(r.delivered)
            )
            counts["handovers"] = await privacy.drop_older(
                session, Handover.created_at, before=before(r.handovers)
            )
            counts["waiting"] = await privacy.drop_older(session, Waiting.expires_at, before=now)
            counts["offered"] = await privacy.drop_older(
                session, OfferedQuestion.created_at, before=before(OFFERED_QUESTION_DAYS)
            )
            counts["votes"] = await privacy.drop_older(
                session, AnswerVote.created_at, before=before(r.unanswered)
            )
            counts["audit"] = await privacy.drop_older(
                session, AuditEntry.at, before=before(r.audit)
            )
            counts["report_drafts"] = await reports.drop_stale_drafts(
                session, before=before(r.drafts)
            )
            counts["report_files"] = await reports.drop_old_uploads(
                session, before=before(r.reports)
            )
        return counts
