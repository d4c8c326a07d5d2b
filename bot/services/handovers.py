"""Questions handed over to the network office, the office's answers and the asker's additions.

Every message of a hand-over goes through the outbox (so a Telegram hiccup delays it, never
loses it): the question to the office chat (or to each coordinator), the office's answer to
the asker, and the asker's additions to the office. The delivered copies' message ids lead a
Telegram reply back to its hand-over, whichever copy was replied to.

The follow-up rule: a private text message of a person whose hand-over is open reaches the
office (instead of only the knowledge base) when it is

1. a reply (Telegram's Reply) to the office's answer, at any time while the hand-over is kept;
2. the person's first message after an answer of the office (the office may have asked back),
   within FOLLOWUP_WINDOW of that answer;
3. an addition by its first words ("ach ja, und …", "übrigens", "P.S.", "one more thing" …,
   see ADDITION_OPENERS), within FOLLOWUP_WINDOW of the hand-over or of the office's last answer.

Anything else is a new question and answered as usual.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import outbox, privacy, queries
from bot.db.models import Handover, utcnow
from bot.texts import Texts

FOLLOWUP_WINDOW = timedelta(hours=24)
# First words that make a message an addition to what was asked before (after lower-casing
# and collapsing spaces; umlauts also as ae/oe/ue/ss). Whole words only: "undankbar" is none.
ADDITION_OPENERS = (
    "ach ja",
    "ach und",
    "achso",
    "ach so",
    "und",
    "übrigens",
    "uebrigens",
    "nachtrag",
    "ergänzung",
    "ergaenzung",
    "noch was",
    "noch etwas",
    "noch eine frage",
    "noch eine sache",
    "außerdem",
    "ausserdem",
    "zusätzlich",
    "zusaetzlich",
    "ich habe vergessen",
    "hab vergessen",
    "vergessen",
    "ps",
    "p.s.",
    "p. s.",
    "oh and",
    "and",
    "by the way",
    "btw",
    "one more thing",
    "in addition",
    "additionally",
    "i forgot",
    "forgot to",
)
_OPENER = re.compile(
    r"^(?:" + "|".join(re.escape(o) for o in ADDITION_OPENERS) + r")(?=$|[\s,.:;!?\-–])"
)
QUESTION_PREVIEW = 300  # characters of the original question shown with an addition


class Unread(Enum):
    """Marks an argument the caller did not read (None would mean "read: there is none")."""

    UNREAD = "unread"


UNREAD = Unread.UNREAD


class FollowupReason(StrEnum):
    """Why a message of the asker goes to the office (see the module's rule)."""

    REPLY = "reply"
    AFTER_ANSWER = "after_answer"
    ADDITION = "addition"


def looks_like_addition(text: str) -> bool:
    """Whether the message begins like an addition to an earlier question."""
    return bool(_OPENER.match(" ".join(text.casefold().split())))


def followup_reason(
    handover: Handover, *, now: datetime, text: str, replies_to_answer: bool
) -> FollowupReason | None:
    """The rule of the module docstring for one message; None: a new question."""
    if replies_to_answer:
        return FollowupReason.REPLY
    answered = handover.answered_at
    last = max(handover.created_at, answered) if answered else handover.created_at
    if now - last > FOLLOWUP_WINDOW:
        return None
    if answered is not None and answered > (handover.followed_up_at or handover.created_at):
        return FollowupReason.AFTER_ANSWER  # the office spoke last: this is the answer to it
    return FollowupReason.ADDITION if looks_like_addition(text) else None


class Relay(StrEnum):
    """What became of an office answer."""

    QUEUED = "queued"
    AGAIN = "again"  # this very message was relayed already (Telegram delivered it twice)
    BLOCKED = "blocked"  # the asker blocked the bot: it cannot reach them


@dataclass(frozen=True, slots=True)
class Followup:
    """An addition passed on to the office: to which question, and why."""

    number: int
    reason: FollowupReason


@dataclass(frozen=True, slots=True)
class HandoverService:
    """Opens hand-overs and carries their messages both ways, each in one transaction."""

    sessions: async_sessionmaker[AsyncSession]
    texts: Texts
    clock: Callable[[], datetime] = utcnow

    async def _to_office(
        self,
        session: AsyncSession,
        handover: Handover,
        *,
        part: str,
        kind: str,
        text: str,
        targets: Sequence[int],
        now: datetime,
    ) -> None:
        """Queue one message of the hand-over for each of `targets`."""
        await outbox.enqueue_each(
            session,
            key=f"handover:{handover.id}:{part}",
            chat_ids=targets,
            kind=kind,
            ref_id=handover.id,
            text=text,
            priority=2,
            now=now,
        )

    async def open(
        self, *, asker_chat_id: int, language: str, question: str, targets: Sequence[int]
    ) -> int:
        """Register the question and queue a copy for each of `targets` (the office chat, or
        each coordinator); its number."""
        now = self.clock()
        async with self.sessions.begin() as session:
            handover = await queries.create_handover(
                session, asker_chat_id=asker_chat_id, language=language, question=question, at=now
            )
            text = self.texts.get(
                "de",
                "handover.office_message",
                number=handover.id,
                language=language,
                question=handover.question,
            )
            await self._to_office(
                session,
                handover,
                part="office",
                kind=outbox.HANDOVER_KIND,
                text=text,
                targets=targets,
                now=now,
            )
            return handover.id

    async def replied_to(self, *, office_chat_id: int, message_id: int) -> Handover | None:
        """The hand-over whose copy (the question, or an addition) in this chat a coordinator
        replied to; None if that message is no such copy."""
        async with self.sessions() as session:
            row = await outbox.delivered_as(
                session,
                chat_id=office_chat_id,
                message_id=message_id,
                kinds=(outbox.HANDOVER_KIND, outbox.FOLLOWUP_KIND),
            )
            if row is None or row.ref_id is None:
                return await queries.find_handover(
                    session, office_chat_id=office_chat_id, office_message_id=message_id
                )
            return await session.get(Handover, row.ref_id)

    async def asker_erased(self, *, office_chat_id: int, message_id: int) -> bool:
        """Whether the message a coordinator replied to is a copy of a question whose asker
        has erased their data since (the answer can reach no one)."""
        async with self.sessions() as session:
            row = await outbox.delivered_as(
                session,
                chat_id=office_chat_id,
                message_id=message_id,
                kinds=(privacy.ERASED_COPY_KIND,),
            )
            return row is not None

    async def relay(
        self, *, handover: Handover, office_chat_id: int, message_id: int, answer: str
    ) -> Relay:
        """Queue a coordinator's answer (their message `message_id`) for the asker and note
        that the office answered."""
        now = self.clock()
        async with self.sessions.begin() as session:
            chat = await queries.get_chat(session, chat_id=handover.asker_chat_id)
            if chat is not None and not chat.active:
                return Relay.BLOCKED
            added = await outbox.enqueue(
                session,
                key=f"handover:{handover.id}:reply:{office_chat_id}:{message_id}",
                chat_id=handover.asker_chat_id,
                kind=outbox.RELAY_KIND,
                ref_id=handover.id,
                text=self.texts.get(handover.language, "handover.relay", answer=answer),
                priority=2,
                now=now,
            )
            if not added:
                return Relay.AGAIN
            await queries.mark_handover_answered(session, handover_id=handover.id, at=now)
        return Relay.QUEUED

    async def pass_on_followup(
        self,
        *,
        asker_chat_id: int,
        message_id: int,
        text: str,
        replied_to: int | None,
        targets: Sequence[int],
        latest: Handover | Unread | None = UNREAD,
    ) -> Followup | None:
        """Queue the asker's message for the office if the follow-up rule says it belongs to
        an open hand-over (`replied_to`: the bot's message it replies to, if any; `latest`:
        the chat's newest hand-over when the caller read it already for this message); None:
        it is a new question."""
        now = self.clock()
        handover: Handover | None = None
        if replied_to is not None or isinstance(latest, Unread):
            # Read first, without a write transaction: most messages belong to no hand-over.
            async with self.sessions() as session:
                if replied_to is not None:
                    relay = await outbox.delivered_as(
                        session,
                        chat_id=asker_chat_id,
                        message_id=replied_to,
                        kinds=(outbox.RELAY_KIND,),
                    )
                    if relay is not None and relay.ref_id is not None:
                        handover = await session.get(Handover, relay.ref_id)
                if handover is None and isinstance(latest, Unread):
                    latest = await queries.latest_handover(session, asker_chat_id=asker_chat_id)
        replies = handover is not None
        handover = handover or (None if isinstance(latest, Unread) else latest)
        if handover is None or not targets:
            return None
        reason = followup_reason(handover, now=now, text=text, replies_to_answer=replies)
        if reason is None:
            return None
        async with self.sessions.begin() as session:
            question = handover.question
            if len(question) > QUESTION_PREVIEW:
                question = question[: QUESTION_PREVIEW - 1] + "…"
            copy = self.texts.get(
                "de",
                "handover.followup_office",
                number=handover.id,
                language=handover.language,
                question=question,
                text=text,
            )
            await self._to_office(
                session,
                handover,
                part=f"followup:{message_id}",
                kind=outbox.FOLLOWUP_KIND,
                text=copy,
                targets=targets,
                now=now,
            )
            await queries.mark_handover_followed_up(session, handover_id=handover.id, at=now)
            return Followup(number=handover.id, reason=reason)
