"""Partnership onboarding: a draft saved after every step, submitted requests, the coordinators'
decision, and invite links that link chats to the new partner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot import callbacks
from bot.db import onboarding, outbox, partners, privacy
from bot.db.models import (
    AuditEntry,
    Invite,
    OnboardingDraft,
    OnboardingRequest,
    Partner,
    PartnerContact,
    utcnow,
)
from bot.db.reports import is_contact
from bot.db.upsert import insert_missing
from bot.services.base import Clock, Service, Sessions
from bot.services.partners import DEFAULT_INVITES, InviteTerms, invite_link
from bot.services.typed import Unfit, typed_text
from bot.texts import Texts
from knowledge import ORGANISATION_TYPES, KnowledgeBase, Topic

ORG_TYPES = ORGANISATION_TYPES  # the network's one list (knowledge.model)
SIZES = ("xs", "s", "m", "l")  # < 50, 50-249, 250-999, 1000+
TEXT_STEPS = ("org_name", "place", "contact_name", "email", "phone", "measures_text", "timeframe")
STEPS = (
    "org_name",
    "org_type",
    "place",
    "size",
    "contact_name",
    "email",
    "phone",
    "measures",
    "measures_text",
    "timeframe",
    "consent",
    "review",
)
OPTIONAL = frozenset({"phone", "measures_text"})
MAX_LENGTH = {
    "org_name": 200,
    "place": 100,
    "contact_name": 100,
    "email": 254,
    "phone": 40,
    "measures_text": 1000,
    "timeframe": 200,
}
MEASURE_CATEGORIES = ("concept", "hr", "services")
_NOT_MEASURES = frozenset({"ikoe_definition", "business_case", "first_steps"})
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)
_PHONE = re.compile(r"^\+?[0-9 ()/.-]{6,30}$")


class RequestStatus(StrEnum):
    """Where a partnership request stands."""

    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    DECLINED = "declined"


OPEN = (RequestStatus.SUBMITTED.value, RequestStatus.IN_REVIEW.value)


class Problem(StrEnum):
    """Why an answer was not accepted (the handler turns it into a localised prompt)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    TOO_SHORT = "too_short"
    BAD_EMAIL = "bad_email"
    BAD_PHONE = "bad_phone"


@dataclass(slots=True)
class Draft:
    """The answers so far and where the person is."""

    chat_id: int
    language: str
    step: str
    answers: dict[str, object] = field(default_factory=dict)
    updated_at: datetime | None = None
    version: int = 0  # as read; a save from an older version is refused (compare-and-set)

    @property
    def editing(self) -> bool:
        """True while one field is being changed from the review screen."""
        return bool(self.answers.get("_editing"))

    def text(self, name: str) -> str:
        """A text answer, or ""."""
        value = self.answers.get(name)
        return value if isinstance(value, str) else ""

    def measures(self) -> list[str]:
        """The chosen measure topic ids."""
        value = self.answers.get("measures")
        return [str(v) for v in value] if isinstance(value, list) else []


def measure_topics(kb: KnowledgeBase) -> list[Topic]:
    """The topics offered as concrete measures to pick from."""
    return [t for t in kb.topics if t.category in MEASURE_CATEGORIES and t.id not in _NOT_MEASURES]


def clean(step: str, raw: str) -> tuple[str | None, Problem | None]:
    """The accepted value for a text step, or why it is not accepted."""
    value = typed_text(raw, limit=MAX_LENGTH[step], keep_lines=step == "measures_text")
    if isinstance(value, Unfit):
        return None, Problem(value.value)
    if step in ("org_name", "place", "contact_name", "timeframe") and len(value) < 2:
        return None, Problem.TOO_SHORT
    if step == "email" and not EMAIL.match(value):
        return None, Problem.BAD_EMAIL
    if step == "phone" and (not _PHONE.match(value) or sum(c.isdigit() for c in value) < 6):
        return None, Problem.BAD_PHONE
    return value, None


def next_step(draft: Draft) -> str:
    """The step after the current one (back to the review when a field was being edited)."""
    if draft.editing:
        return "review"
    index = STEPS.index(draft.step)
    return STEPS[min(index + 1, len(STEPS) - 1)]


def complete(draft: Draft) -> bool:
    """Every required answer is there, and measures are chosen or described."""
    required = ("org_name", "org_type", "place", "size", "contact_name", "email", "timeframe")
    if any(not draft.text(name) for name in required):
        return False
    return bool(draft.measures() or draft.text("measures_text"))


class LinkResult(StrEnum):
    """What happened to an invite link."""

    LINKED = "linked"
    ALREADY = "already"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED_UP = "used_up"


@dataclass(frozen=True, slots=True)
class Approval:
    """The outcome of approving a request."""

    request: OnboardingRequest
    partner: Partner
    invite: Invite


class OnboardingService(Service):
    """Drafts, requests, decisions and invites."""

    def __init__(
        self,
        sessions: Sessions,
        texts: Texts,
        kb: KnowledgeBase,
        *,
        office_chat_ids: Sequence[int] = (),
        invites: InviteTerms = DEFAULT_INVITES,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(sessions, clock=clock)
        self._texts = texts
        self._kb = kb
        self._office = tuple(office_chat_ids)
        self._invites = invites

    # ------------------------------------------------------------------ drafts
    async def draft(self, *, chat_id: int) -> Draft | None:
        """The chat's unfinished request, if any."""
        async with self._sessions() as session:
            row = await session.get(OnboardingDraft, chat_id)
        if row is None:
            return None
        answers = json.loads(row.data)
        return Draft(row.chat_id, row.language, row.step, answers, row.updated_at, row.version)

    async def start(self, *, chat_id: int, user_id: int | None, language: str) -> Draft:
        """A fresh draft (an old one is replaced)."""
        draft = Draft(chat_id=chat_id, language=language, step=STEPS[0])
        now = self._clock()
        async with self._sessions.begin() as session:
            draft.version = await onboarding.start_draft(
                session,
                chat_id=chat_id,
                user_id=user_id,
                language=language,
                step=draft.step,
                now=now,
            )
        draft.updated_at = now
        return draft

    async def save(self, draft: Draft) -> bool:
        """Store the draft as it is now (called after every accepted answer), if nobody saved
        it since it was read; False when another update (a double tap, a second process) was
        first: the caller reads the draft again and decides anew."""
        now = self._clock()
        async with self._sessions.begin() as session:
            saved = await onboarding.save_draft(
                session,
                chat_id=draft.chat_id,
                version=draft.version,
                step=draft.step,
                data=json.dumps(draft.answers, ensure_ascii=False),
                language=draft.language,
                now=now,
            )
        if not saved:
            return False
        draft.version += 1
        draft.updated_at = now
        return True

    async def discard(self, *, chat_id: int) -> bool:
        """Delete the chat's draft; False if there was none."""
        async with self._sessions.begin() as session:
            return await onboarding.delete_draft(session, chat_id=chat_id)

    async def expire_drafts(self, *, older_than: timedelta) -> int:
        """Delete drafts untouched for longer than `older_than`."""
        async with self._sessions.begin() as session:
            return await privacy.drop_older(
                session, OnboardingDraft.updated_at, before=self._clock() - older_than
            )

    # ------------------------------------------------------------------ requests
    def office_message(self, request: OnboardingRequest) -> tuple[str, outbox.Buttons]:
        """The request as the office sees it (German), with approve / decline / ask back."""
        texts = self._texts
        titles = [t.title["de"] for t in (self._kb.topic(i) for i in request.measure_ids) if t]
        none = texts.get("de", "onboarding.none")
        text = texts.get(
            "de",
            "onboarding.office_new",
            number=reference(request.id),
            org_name=request.org_name,
            org_type=texts.get("de", f"onboarding.type.{request.org_type}"),
            place=request.place,
            size=texts.get("de", f"onboarding.size.{request.size}"),
            contact_name=request.contact_name,
            email=request.email,
            phone=f", {request.phone}" if request.phone else "",
            measures=", ".join(titles) or none,
            measures_text=request.measures_text or none,
            timeframe=request.timeframe,
        )
        buttons = [
            [
                {
                    "text": texts.plain("de", f"onboarding.{label}"),
                    "data": f"{callbacks.REVIEW}{action}:{request.id}",
                }
                for label, action in (("approve", "ok"), ("decline", "no"), ("ask_back", "ask"))
            ]
        ]
        return text, buttons

    async def submit(self, draft: Draft, *, user_id: int | None) -> OnboardingRequest | None:
        """Turn a complete draft (the caller checks `complete`) into a request and, in the
        same transaction, queue the notification to the office (so neither can exist without
        the other). None when the draft is not as read any more: submitted by a concurrent
        tap, cancelled, or changed by another update (the caller reads it again)."""
        if not complete(draft):
            raise ValueError("an incomplete draft cannot be submitted")
        now = self._clock()
        async with self._sessions.begin() as session:
            # Deleting the draft, as read, first makes a second, concurrent submit find nothing.
            deleted = await onboarding.delete_draft(
                session, chat_id=draft.chat_id, version=draft.version
            )
            if not deleted:
                return None
            request = OnboardingRequest(
                chat_id=draft.chat_id,
                user_id=user_id,
                language=draft.language,
                org_name=draft.text("org_name"),
                org_type=draft.text("org_type"),
                place=draft.text("place"),
                size=draft.text("size"),
                contact_name=draft.text("contact_name"),
                email=draft.text("email"),
                phone=draft.text("phone") or None,
                measures=json.dumps(draft.measures()),
                measures_text=draft.text("measures_text") or None,
                timeframe=draft.text("timeframe"),
                consent_at=now,
                status=RequestStatus.SUBMITTED,
                created_at=now,
            )
            session.add(request)
            await session.flush()
            text, buttons = self.office_message(request)
            await self._tell_office(
                session, f"onboarding:{request.id}:office", text, buttons=buttons, now=now
            )
        return request

    async def requests_of(self, *, chat_id: int) -> list[OnboardingRequest]:
        """A requester's own requests, newest first."""
        async with self._sessions() as session:
            return await onboarding.requests_of_chat(session, chat_id=chat_id)

    async def open_requests(self) -> list[OnboardingRequest]:
        """Requests waiting for a decision, newest first."""
        async with self._sessions() as session:
            return await onboarding.requests_in(session, statuses=OPEN)

    async def all_requests(self) -> list[OnboardingRequest]:
        """Every request, oldest first (for the export)."""
        async with self._sessions() as session:
            return await onboarding.all_requests(session)

    async def get(self, *, request_id: int) -> OnboardingRequest | None:
        """One request."""
        async with self._sessions() as session:
            return await session.get(OnboardingRequest, request_id)

    async def approve(
        self, *, request_id: int, coordinator_id: int, bot_username: str | None
    ) -> Approval | None:
        """Create the partner, link the requester's chat, make an invite, note it in the audit
        log and queue the requester's message with the invite link: all in one transaction, so
        none of it exists without the rest. None if the request is not open."""
        now = self._clock()
        async with self._sessions.begin() as session:
            request = await onboarding.move_request(
                session, request_id=request_id, status=RequestStatus.APPROVED, among=OPEN
            )
            if request is None:
                return None  # decided already (e.g. a second coordinator's tap)
            partner = Partner(
                name=request.org_name,
                org_type=request.org_type,
                region=request.place,
                agreement_date=None,
                email=request.email,
                active=True,
                created_at=now,
            )
            session.add(partner)
            await session.flush()
            session.add(
                PartnerContact(partner_id=partner.id, chat_id=request.chat_id, added_at=now)
            )
            invite = self._invites.new(partner_id=partner.id, created_by=coordinator_id, now=now)
            session.add(invite)
            request.status = RequestStatus.APPROVED
            request.partner_id = partner.id
            request.decided_at = now
            request.decided_by = coordinator_id
            approval = Approval(request=request, partner=partner, invite=invite)
            text = self._texts.get(
                request.language,
                "onboarding.approved_requester",
                **self.approval_values(approval, bot_username),
            )
            await self._decided(session, request, coordinator_id, "approved", text, now)
        return approval

    def approval_values(self, approval: Approval, bot_username: str | None) -> dict[str, object]:
        """What the approval texts (requester's and office's) fill in."""
        return {
            "number": reference(approval.request.id),
            "org_name": approval.partner.name,
            "uses": approval.invite.max_uses,
            "days": self._invites.days,
            "link": invite_link(bot_username, approval.invite.token),
        }

    async def _decided(
        self,
        session: AsyncSession,
        request: OnboardingRequest,
        coordinator_id: int,
        outcome: str,
        text: str,
        now: datetime,
    ) -> None:
        """The audit entry and the requester's message of a decision, in its transaction."""
        session.add(
            AuditEntry(
                actor_id=coordinator_id,
                action="request_approve" if outcome == "approved" else "request_decline",
                subject=reference(request.id),
                at=now,
            )
        )
        await outbox.enqueue(
            session,
            key=f"onboarding:{request.id}:{outcome}",
            chat_id=request.chat_id,
            kind="notification",
            text=text,
            priority=3,
            now=now,
        )

    async def decline(
        self, *, request_id: int, coordinator_id: int, reason: str
    ) -> OnboardingRequest | None:
        """Decline with a reason, note it in the audit log and queue the requester's message,
        in one transaction; None if the request is not open."""
        now = self._clock()
        async with self._sessions.begin() as session:
            request = await onboarding.move_request(
                session, request_id=request_id, status=RequestStatus.DECLINED, among=OPEN
            )
            if request is None:
                return None
            request.status = RequestStatus.DECLINED
            request.decline_reason = reason
            request.decided_at = now
            request.decided_by = coordinator_id
            text = self._texts.get(
                request.language,
                "onboarding.declined_requester",
                number=reference(request.id),
                reason=reason,
            )
            await self._decided(session, request, coordinator_id, "declined", text, now)
        return request

    async def ask_back(
        self, *, request_id: int, question: str, source: str
    ) -> OnboardingRequest | None:
        """Queue the office's question to the requester and set the request in review, in
        one transaction; None if the request is decided. `source` (the coordinator's chat
        and message) makes it idempotent: the same message asks once."""
        now = self._clock()
        async with self._sessions.begin() as session:
            # Conditional, so an approval or decline at the same moment is never overwritten.
            request = await onboarding.move_request(
                session, request_id=request_id, status=RequestStatus.IN_REVIEW, among=OPEN
            )
            if request is None:
                return None
            await outbox.enqueue(
                session,
                key=f"onboarding:{request.id}:ask:{source}",
                chat_id=request.chat_id,
                kind=outbox.ASK_BACK_KIND,
                ref_id=request.id,
                text=self._texts.get(
                    request.language,
                    "onboarding.asked_requester",
                    number=reference(request.id),
                    question=question,
                ),
                priority=3,
                now=now,
            )
        return request

    async def request_asked_in(self, *, chat_id: int, message_id: int) -> OnboardingRequest | None:
        """The request whose ask-back message (any of them) this is, in the requester's chat."""
        async with self._sessions() as session:
            asked = await outbox.delivered_as(
                session, chat_id=chat_id, message_id=message_id, kinds=(outbox.ASK_BACK_KIND,)
            )
            if asked is not None:
                return await onboarding.request_of_chat(
                    session, chat_id=chat_id, request_id=asked.ref_id
                )
            # Ask-backs from before migration 0012 noted their message on the request.
            return await onboarding.request_asked_as(
                session, chat_id=chat_id, message_id=message_id
            )

    async def forward_answer(
        self, *, request: OnboardingRequest, message_id: int, answer: str
    ) -> bool:
        """Queue the requester's answer to an ask-back for the office (each office chat);
        False if this message was passed on already."""
        now = self._clock()
        text = self._texts.get(
            "de",
            "onboarding.answer_office",
            number=reference(request.id),
            org_name=request.org_name,
            answer=answer,
        )
        async with self._sessions.begin() as session:
            added = await self._tell_office(
                session,
                f"onboarding:{request.id}:answer:{message_id}",
                text,
                ref_id=request.id,
                now=now,
            )
        return added > 0

    async def _tell_office(
        self,
        session: AsyncSession,
        key: str,
        text: str,
        *,
        ref_id: int | None = None,
        buttons: outbox.Buttons | None = None,
        now: datetime,
    ) -> int:
        """Queue `text` for each office chat (key `<key>:<chat id>` each); how many were new."""
        return await outbox.enqueue_each(
            session,
            key=key,
            chat_ids=self._office,
            kind="notification",
            ref_id=ref_id,
            text=text,
            buttons=buttons,
            priority=3,
            now=now,
        )

    # ------------------------------------------------------------------ invites
    async def link(self, *, token: str, chat_id: int) -> tuple[LinkResult, Partner | None]:
        """Link a chat to the invite's partner (within the invite's uses and time).

        Opening the link twice at once links once and counts one use: the use is claimed by a
        conditional UPDATE (which also locks the invite) and the contact is inserted unless it
        exists.
        """
        now = self._clock()
        async with self._sessions.begin() as session:
            invite = await session.get(Invite, token)
            partner = await session.get(Partner, invite.partner_id) if invite else None
            if invite is None or partner is None or not partner.active:
                return LinkResult.UNKNOWN, None
            if not await partners.claim_invite_use(session, token=token, now=now):
                if await is_contact(session, partner_id=partner.id, chat_id=chat_id):
                    return LinkResult.ALREADY, partner
                expired = invite.expires_at < now
                return (LinkResult.EXPIRED if expired else LinkResult.USED_UP), partner
            linked = await insert_missing(
                session,
                PartnerContact,
                key=("partner_id", "chat_id"),
                values={"partner_id": partner.id, "chat_id": chat_id, "added_at": now},
            )
            if not linked:  # a contact already: give the use back
                await partners.give_back_invite_use(session, token=token)
                return LinkResult.ALREADY, partner
        return LinkResult.LINKED, partner


def reference(request_id: int) -> str:
    """The reference number people see, e.g. A-0007."""
    return f"A-{request_id:04d}"
