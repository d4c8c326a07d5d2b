"""One way to wait for a person's next message: a row in the database per (chat, person).

Every multi-step flow (/join, /report, /broadcast, /newevent, a coordinator's decline reason
or ask-back question, a partner's new due date, the office's question about a report item and
the partner's answer) says here what it expects next and keeps its
draft in the payload. So a restart between two steps loses nothing, a second bot process
continues the flow where the first left it, and a button from an old message that no longer
fits finds no matching state (and is answered "expired", never with an error).

A new prompt replaces the old one: one thing waits per person and chat at a time. Changes
are compare-and-set on the row's version, so of two updates that read the same step (a double
tap, two processes) exactly one moves the flow on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from bot.db import waiting as queries
from bot.db.models import Handover, Waiting, utcnow
from bot.services.base import Clock, Service, Sessions
from bot.services.batching import GroupCommit


class WaitKind(StrEnum):
    """What the bot waits for."""

    JOIN = "join"  # an answer to the /join form's current step (the draft has its own table)
    BROADCAST = "broadcast"  # the next step of writing a notice
    NEW_EVENT = "newevent"  # the next step of creating a meeting
    DECLINE = "decline"  # a coordinator's reason for declining a request
    ASK_BACK = "ask"  # a coordinator's question to a requester
    DUE_DATE = "due"  # a coordinator's new report due date for a partner
    REPORT = "report"  # an answer to the /report form's current step (the report has its table)
    REPORT_ASK = "report_ask"  # a coordinator's question to a partner about one report item
    REPORT_REPLY = "report_reply"  # a partner's answer to the office's question about an item


# How long a prompt waits for its answer: a coordinator's one-line answer belongs to the
# moment. The /join form keeps its own rule (text answers it while its draft was touched in the
# last 12 hours; /join resumes an older one), so its row lasts as long as drafts are kept.
LIFETIME: dict[WaitKind, timedelta] = {
    WaitKind.JOIN: timedelta(days=30),
    WaitKind.BROADCAST: timedelta(minutes=30),
    WaitKind.NEW_EVENT: timedelta(minutes=30),
    WaitKind.DECLINE: timedelta(minutes=10),
    WaitKind.ASK_BACK: timedelta(minutes=10),
    WaitKind.DUE_DATE: timedelta(minutes=10),
    WaitKind.REPORT: timedelta(days=30),  # like /join: the form's own 12-hour rule decides
    WaitKind.REPORT_ASK: timedelta(minutes=10),
    WaitKind.REPORT_REPLY: timedelta(days=2),  # the partner may answer the office a day later
}


@dataclass(frozen=True, slots=True)
class Wait:
    """What one person's next message in one chat answers, as read at `version`."""

    chat_id: int
    user_id: int
    kind: WaitKind
    version: int
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> str:
        """The flow's step ("" when the kind has only one)."""
        return str(self.payload.get("step") or "")


@dataclass(frozen=True, slots=True)
class Pending:
    """What a private message may answer, read together: the flow waiting for it and the
    chat's newest hand-over (whose follow-up rule may claim the message)."""

    wait: Wait | None
    handover: Handover | None


@dataclass(frozen=True, slots=True)
class HeldQuestion:
    """An offered question, claimed for the hand-over."""

    question: str
    language: str


SIGHTINGS_PER_STATEMENT = 500  # two values a row: far below SQLite's 32,766 parameters
OFFERS_PER_STATEMENT = 500  # four values a row


class WaitingService(Service):
    """expect / current / advance / take / clear, with the service clock for expiry.

    `current` and `pending`, read for every private message, use `readers` (see
    bot.db.engine.create_readers); what they return is only acted on through `advance` and
    `take`, which check the version on the writing connection.
    """

    def __init__(
        self, sessions: Sessions, *, readers: Sessions | None = None, clock: Clock = utcnow
    ) -> None:
        super().__init__(sessions, clock=clock)
        self._readers = readers or sessions
        # first_delivery's update ids, noted in batches: whether each was the first sighting.
        self._sightings: GroupCommit[int, None, bool] = GroupCommit(
            self._note_sightings, name="update-sightings", limit=SIGHTINGS_PER_STATEMENT
        )
        self._offers: GroupCommit[int, queries.Offer, int] = GroupCommit(
            self._hold_offers, name="offered-questions", limit=OFFERS_PER_STATEMENT
        )
        self._offer_keys = itertools.count()

    async def expect(
        self, *, chat_id: int, user_id: int, kind: WaitKind, payload: dict[str, Any] | None = None
    ) -> None:
        """From now on, this person's next message in this chat answers `kind`."""
        now = self._clock()
        async with self._sessions.begin() as session:
            await queries.put(
                session,
                chat_id=chat_id,
                user_id=user_id,
                kind=kind.value,
                payload=_dump(payload or {}),
                expires_at=now + LIFETIME[kind],
                now=now,
            )

    async def current(self, *, chat_id: int, user_id: int) -> Wait | None:
        """What the person's next message answers; None when nothing waits (or it expired)."""
        async with self._readers() as session:
            return self._wait(await queries.get(session, chat_id=chat_id, user_id=user_id))

    async def pending(self, *, chat_id: int, user_id: int) -> Pending:
        """`current` and the chat's newest hand-over in one read (one connection and one
        transaction per private message instead of two: every question asks both)."""
        async with self._readers() as session:
            waits, handover_id = await queries.pending_keys(
                session, chat_id=chat_id, user_id=user_id
            )
            # Most messages are questions with neither: then that one statement was all.
            row = await queries.get(session, chat_id=chat_id, user_id=user_id) if waits else None
            handover = None
            if handover_id is not None:
                handover = await session.get(Handover, handover_id, populate_existing=True)
            return Pending(self._wait(row), handover)

    def _wait(self, row: Waiting | None) -> Wait | None:
        if row is None or row.expires_at <= self._clock():
            return None
        try:
            kind = WaitKind(row.kind)
        except ValueError:  # a kind this version does not know (a newer process wrote it)
            return None
        return Wait(row.chat_id, row.user_id, kind, row.version, _load(row.payload))

    async def advance(self, wait: Wait, payload: dict[str, Any]) -> Wait | None:
        """The flow's next step, if nobody moved it on since `wait` was read (else None: the
        other update, e.g. the first of two taps, did)."""
        now = self._clock()
        async with self._sessions.begin() as session:
            changed = await queries.change(
                session,
                chat_id=wait.chat_id,
                user_id=wait.user_id,
                version=wait.version,
                payload=_dump(payload),
                expires_at=now + LIFETIME[wait.kind],
                now=now,
            )
        if not changed:
            return None
        return Wait(wait.chat_id, wait.user_id, wait.kind, wait.version + 1, payload)

    async def take(self, wait: Wait) -> bool:
        """Finish the flow (stop waiting), if it is still as read: True for exactly one of
        two updates that try at once."""
        async with self._sessions.begin() as session:
            return await queries.remove(
                session, chat_id=wait.chat_id, user_id=wait.user_id, version=wait.version
            )

    async def clear(self, *, chat_id: int, user_id: int) -> Wait | None:
        """Stop waiting (/cancel); what was waiting and not yet expired, else None."""
        waiting = await self.current(chat_id=chat_id, user_id=user_id)
        async with self._sessions.begin() as session:
            await queries.remove(session, chat_id=chat_id, user_id=user_id)
        return waiting

    async def first_delivery(self, update_id: int) -> bool:
        """Whether this is the first delivery of the update to any bot process: Telegram, or a
        proxy in front of several processes, may deliver an update again when the answer came
        late, and a form answer taken twice would answer the next question too.

        Every update of every person passes here, so the ids are noted in batches: those that
        arrive while a batch is being written go together in the next one, one statement
        (under load, 20 people at once, this was one write per update and most of the time of
        SQLite's one writing connection). The same update twice at once in this
        process: the second is the second delivery, unless the first one's write fails.
        """
        earlier = self._sightings.pending(update_id)
        if earlier is not None:
            try:
                await asyncio.shield(earlier)
            except Exception:  # its write failed, so nothing took the update: try again
                return await self.first_delivery(update_id)
            return False
        return await self._sightings.submit(update_id, None)

    async def _note_sightings(self, batch: Mapping[int, None]) -> dict[int, bool]:
        async with self._sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                # One statement in autocommit: no BEGIN and COMMIT round trips. On SQLite the
                # switch to autocommit and back costs more of aiosqlite's thread hops (9
                # against 6) than the transaction it saves.
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            # In id order: two processes' batches then lock shared ids in the same order on
            # PostgreSQL (in arrival order they could deadlock).
            first = await queries.first_sightings(
                session, update_ids=sorted(batch), now=self._clock()
            )
            await session.commit()
        return {update_id: update_id in first for update_id in batch}

    async def offer_question(self, *, chat_id: int, language: str, question: str) -> int:
        """Hold a question the asker may hand over; the id for the button. Questions offered
        while others are written go together in the next statement (the reply waits for its
        id, and one write each queued on SQLite's writer under load)."""
        return await self._offers.submit(
            next(self._offer_keys), queries.Offer(chat_id, language, question)
        )

    async def _hold_offers(self, batch: Mapping[int, queries.Offer]) -> dict[int, int]:
        async with self._sessions.begin() as session:
            ids = await queries.offer_questions(session, list(batch.values()), now=self._clock())
        return dict(zip(batch, ids, strict=True))

    async def claim_question(self, *, question_id: int, chat_id: int) -> HeldQuestion | bool:
        """The offered question, now marked handed over; True if it was handed over before
        (a second tap), False if it is unknown (a forged or erased button)."""
        async with self._sessions.begin() as session:
            row = await queries.claim_question(
                session, question_id=question_id, chat_id=chat_id, now=self._clock()
            )
            if row is not None:
                return HeldQuestion(row.question, row.language)
            return await queries.question_handed(session, question_id=question_id, chat_id=chat_id)


def _dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def _load(raw: str) -> dict[str, Any]:
    value = json.loads(raw or "{}")
    return value if isinstance(value, dict) else {}
