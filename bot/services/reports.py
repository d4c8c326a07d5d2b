"""The yearly report filled in the bot, and the office's review that feeds the directory.

A linked partner contact opens the report of the partner's current due date (from the
reminder or `/report`). For each measure: the topic, what was done, the result, optionally a
figure, a link and a PDF, and whether it may be published as an example; then an opt-in
contact person, a review screen, and submit. Every answer is written at once (the step and
the item being written live in the `reports` row), so a restart loses nothing, and every
write applies only to the version of the report it read: of two taps at once, one counts.

Submitting marks the report received (the reminders stop, as with "Bericht eingereicht") and
tells the office. Coordinators then publish, skip or ask back per item; only published items
become examples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot import callbacks
from bot.db import outbox
from bot.db import reports as db
from bot.db.models import (
    ItemReview,
    Partner,
    Report,
    ReportItem,
    ReportState,
    utcnow,
)
from bot.services.base import Clock, Service, Sessions
from bot.services.reminders import ReminderService
from bot.services.typed import Unfit, typed_text
from bot.texts import Texts
from knowledge import KnowledgeBase, Lang

ItemContext = tuple[ReportItem, Report, Partner]  # an item with its report and partner
FORM = callbacks.REPORT_FORM
REVIEW = callbacks.REPORT_REVIEW

# The form's steps in order; text steps take a typed answer, `file` a PDF.
STEPS = (
    "topic",
    "done",
    "result",
    "figure",
    "link",
    "file",
    "publish",
    "more",
    "contact",
    "review",
)
TEXT_STEPS = frozenset({"topic", "done", "result", "figure", "link", "contact"})
SKIPPABLE = frozenset({"figure", "link", "file", "contact"})
MAX_LENGTH = {"topic": 200, "done": 1000, "result": 500, "figure": 200, "link": 500, "contact": 300}
MAX_PDF_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*\.[^\s]+$", re.IGNORECASE)


class Opened(StrEnum):
    """What `/report` found."""

    OPEN = "open"  # the form is ready
    NOT_PARTNER = "not_partner"  # the chat is linked to no partner (or not to this one)
    SUBMITTED = "submitted"  # the report of the current due date is in already
    NO_DUE = "no_due"  # no due date is known for the partner


class Problem(StrEnum):
    """Why a typed answer was not taken (the handler says it in the person's language)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_LINK = "bad_link"
    NOT_PDF = "not_pdf"
    TOO_BIG = "too_big"
    STALE = "stale"  # the form moved on meanwhile (a second message or tap)


class Decision(StrEnum):
    """The office's answer to one item."""

    PUBLISH = "publish"
    SKIP = "skip"


@dataclass(slots=True)
class Form:
    """A report as the form shows it: the row, its partner, its items, the item being written."""

    report: Report
    partner: Partner
    items: list[ReportItem]
    measures: list[str] = field(default_factory=list)  # topic ids of the agreement

    @property
    def current(self) -> dict[str, object]:
        """The item being written (topic, done, result, figure, link, file)."""
        try:
            value = json.loads(self.report.current or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def open_measures(self) -> list[str]:
        """Agreement measures no item covers yet."""
        covered = {i.topic_id for i in self.items}
        return [m for m in self.measures if m not in covered]


@dataclass(frozen=True, slots=True)
class Reviewed:
    """The outcome of a coordinator's decision on an item."""

    changed: bool  # False: decided before (a double tap) or unknown
    item: ReportItem | None
    published: bool = False


def clean(step: str, raw: str) -> tuple[str | None, Problem | None]:
    """The accepted answer of a text step, or why not."""
    value = typed_text(raw, limit=MAX_LENGTH[step], keep_lines=step == "done")
    if isinstance(value, Unfit):
        return None, Problem(value.value)
    if step == "link" and not _URL.match(value):
        return None, Problem.BAD_LINK
    return value, None


class ReportService(Service):
    """Opens, fills in and submits reports; records the office's review."""

    def __init__(
        self,
        sessions: Sessions,
        texts: Texts,
        kb: KnowledgeBase,
        reminders: ReminderService,
        *,
        office_chat_ids: Sequence[int] = (),
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(sessions, clock=clock)
        self._texts = texts
        self._kb = kb
        self._reminders = reminders
        self._office = tuple(office_chat_ids)

    # ------------------------------------------------------------------ opening
    async def open(
        self, *, chat_id: int, language: str, partner_id: int | None = None, due: date | None = None
    ) -> tuple[Opened, Form | None, date | None]:
        """The report this chat should fill in now: of the given partner and due date (from a
        reminder), else of the first partner the chat belongs to whose report is not in."""
        if partner_id is not None and due is not None:
            async with self._sessions() as session:
                if not await db.is_contact(session, partner_id=partner_id, chat_id=chat_id):
                    return Opened.NOT_PARTNER, None, None
                if await db.is_submitted(session, partner_id=partner_id, due=due):
                    return Opened.SUBMITTED, None, due
            target = (partner_id, due)
        else:
            deadlines = await self._reminders.deadlines_for_chat(chat_id=chat_id)
            if not deadlines:
                async with self._sessions() as session:
                    linked = await db.is_linked(session, chat_id=chat_id)
                return (Opened.NO_DUE if linked else Opened.NOT_PARTNER), None, None
            waiting = [d for d in deadlines if not d.submitted]
            if not waiting:
                return Opened.SUBMITTED, None, deadlines[0].due
            target = (waiting[0].partner.id, waiting[0].due)
        now = self._clock()
        async with self._sessions.begin() as session:
            report = await db.create_report(
                session,
                partner_id=target[0],
                due=target[1],
                chat_id=chat_id,
                language=language,
                now=now,
            )
            if report.state != ReportState.DRAFT.value:
                return Opened.SUBMITTED, None, report.due_date
            if report.chat_id != chat_id:
                # A colleague started it: this chat carries on with what is there.
                await db.change_report(
                    session,
                    report_id=report.id,
                    version=report.version,
                    values={"chat_id": chat_id, "updated_at": now},
                )
        form = await self.form(report_id=report.id)
        return (Opened.OPEN, form, target[1]) if form else (Opened.NOT_PARTNER, None, None)

    async def form(self, *, report_id: int) -> Form | None:
        """A report with its partner and items, read fresh."""
        async with self._sessions() as session:
            pair = await db.report_with_partner(session, report_id=report_id)
            if pair is None:
                return None
            report, partner = pair
            found = await db.items(session, report_id=report.id)
            measures = await db.agreement_measures(session, partner_id=partner.id)
        known = [m for m in measures if self._kb.topic(m) is not None]
        return Form(report, partner, found, known)

    async def form_of_chat(self, *, chat_id: int) -> Form | None:
        """The draft this chat is filling in, if any."""
        async with self._sessions() as session:
            report = await db.draft_of_chat(session, chat_id=chat_id)
        return await self.form(report_id=report.id) if report else None

    # ------------------------------------------------------------------ filling in
    async def _write(self, form: Form, **values: object) -> bool:
        """Save the next state of the form if nobody changed it since `form` was read."""
        async with self._sessions.begin() as session:
            return await db.change_report(
                session,
                report_id=form.report.id,
                version=form.report.version,
                values={**values, "updated_at": self._clock()},
            )

    def _with(self, form: Form, **changes: object) -> str:
        current = form.current
        current.update(changes)
        return json.dumps(current, ensure_ascii=False)

    async def choose_topic(self, form: Form, topic_id: str) -> bool:
        """The topic of the item being written; next: what was done."""
        if form.report.step != "topic" or self._kb.topic(topic_id) is None:
            return False
        return await self._write(form, step="done", current=json.dumps({"topic": topic_id}))

    async def answer(self, form: Form, text: str) -> Problem | None:
        """A typed answer to the current text step (not the topic: that is a search)."""
        step = form.report.step
        if step not in TEXT_STEPS or step == "topic":
            return Problem.STALE
        value, problem = clean(step, text)
        if problem is not None or value is None:
            return problem or Problem.EMPTY
        if step == "contact":
            saved = await self._write(form, step="review", contact=value, contact_chosen=True)
        else:
            saved = await self._write(
                form, step=STEPS[STEPS.index(step) + 1], current=self._with(form, **{step: value})
            )
        return None if saved else Problem.STALE

    async def attach(
        self, form: Form, *, file_id: str, file_name: str, mime: str, size: int
    ) -> Problem | None:
        """A PDF for the item being written; next: the publish consent."""
        if form.report.step != "file":
            return Problem.STALE
        if mime != "application/pdf" and not file_name.lower().endswith(".pdf"):
            return Problem.NOT_PDF
        if size > MAX_PDF_BYTES:
            return Problem.TOO_BIG
        saved = await self._write(
            form,
            step="publish",
            current=self._with(form, file_id=file_id, file_name=file_name[:200]),
        )
        return None if saved else Problem.STALE

    async def skip(self, form: Form, step: str) -> bool:
        """Leave out an optional answer (`step` is the step the button was shown for)."""
        if form.report.step != step or step not in SKIPPABLE:
            return False
        if step == "contact":
            return await self._write(form, step="review", contact=None, contact_chosen=True)
        return await self._write(form, step=STEPS[STEPS.index(step) + 1])

    async def consent(self, form: Form, *, publish: bool) -> bool:
        """Whether the item may be published; the item is stored, next: another one?"""
        if form.report.step != "publish":
            return False
        current = form.current
        topic = str(current.get("topic") or "")
        if not topic or not current.get("done") or not current.get("result"):
            return False
        async with self._sessions.begin() as session:
            moved = await db.change_report(
                session,
                report_id=form.report.id,
                version=form.report.version,
                values={"step": "more", "current": "{}", "updated_at": self._clock()},
            )
            if not moved:
                return False
            await db.add_item(
                session,
                report_id=form.report.id,
                values={
                    "topic_id": topic,
                    "done": str(current["done"]),
                    "result": str(current["result"]),
                    "figure": _optional(current.get("figure")),
                    "link": _optional(current.get("link")),
                    "file_id": _optional(current.get("file_id")),
                    "file_name": _optional(current.get("file_name")),
                    "publish": publish,
                    "review": ItemReview.PENDING.value,
                },
            )
        return True

    async def go(self, form: Form, target: str) -> bool:
        """From "another item?", the review screen or a topic not yet chosen: a new item, the
        contact, or the review.

        `target` is "topic" (another item), "contact" (change it) or "review" (done)."""
        step = form.report.step
        allowed = {
            "more": ("topic", "review"),
            "review": ("topic", "contact"),
            "topic": ("review",),  # changed one's mind about another item
        }.get(step, ())
        if target not in allowed or (target == "review" and not form.items):
            return False
        if target == "review" and not form.report.contact_chosen:
            target = "contact"  # the contact is asked once, before the first review
        return await self._write(form, step=target, current="{}")

    async def remove(self, form: Form, item_id: int) -> bool:
        """Delete an item on the review screen."""
        if form.report.step != "review" or item_id not in {i.id for i in form.items}:
            return False
        async with self._sessions.begin() as session:
            moved = await db.change_report(
                session,
                report_id=form.report.id,
                version=form.report.version,
                values={"updated_at": self._clock()},
            )
            if not moved:
                return False
            await db.remove_item(session, report_id=form.report.id, item_id=item_id)
            if len(form.items) == 1:  # the last one: the form asks for a new item
                await db.change_report(
                    session,
                    report_id=form.report.id,
                    version=form.report.version + 1,
                    values={"step": "topic"},
                )
        return True

    async def submit(self, form: Form, *, by: int) -> bool:
        """Send the report: marked received (reminders stop), the office is told; False when
        it was sent already (a double tap) or is not ready."""
        if form.report.step != "review" or not form.items:
            return False
        now = self._clock()
        report = form.report
        async with self._sessions.begin() as session:
            moved = await db.change_report(
                session,
                report_id=report.id,
                version=report.version,
                values={
                    "state": ReportState.SUBMITTED.value,
                    "submitted_at": now,
                    "updated_at": now,
                },
            )
            if not moved:
                return False
            await db.record_submission(
                session, partner_id=report.partner_id, due=report.due_date, at=now, by=by
            )
            publishable = sum(1 for i in form.items if i.publish)
            await self._tell_office(
                session,
                f"report:submitted:{report.id}",
                report_id=report.id,
                data=f"{REVIEW}open:{report.id}",
                now=now,
                text_key="reports.office_new",
                partner=form.partner.name,
                year=report.year,
                items=len(form.items),
                publishable=publishable,
            )
        return True

    # ------------------------------------------------------------------ the office's review
    async def review_list(self) -> list[tuple[Report, Partner | None, int]]:
        """Submitted reports with items still to decide on."""
        async with self._sessions() as session:
            found = await db.open_reviews(session)
            return [(r, await db.partner(session, partner_id=r.partner_id), n) for r, n in found]

    async def item_context(self, *, item_id: int) -> ItemContext | None:
        """An item with its report and partner."""
        async with self._sessions() as session:
            found = await db.item(session, item_id=item_id)
            pair = (
                await db.report_with_partner(session, report_id=found.report_id) if found else None
            )
        return (found, *pair) if found and pair else None

    async def decide(self, *, item_id: int, decision: Decision, by: int) -> Reviewed:
        """Publish an item (it becomes an example) or keep it out of the directory."""
        now = self._clock()
        async with self._sessions.begin() as session:
            found = await db.item(session, item_id=item_id)
            if found is None:
                return Reviewed(False, None)
            publish = decision is Decision.PUBLISH and found.publish
            changed = await db.review_item(
                session,
                item_id=item_id,
                decision=(ItemReview.APPROVED if publish else ItemReview.NOT_PUBLISHED).value,
                by=by,
                at=now,
                allowed_from=(ItemReview.PENDING.value, ItemReview.ASKED.value),
            )
            if not changed:
                return Reviewed(False, found)
            if publish:
                report = await db.report(session, report_id=found.report_id)
                partner = (
                    await db.partner(session, partner_id=report.partner_id) if report else None
                )
                if report is None or partner is None:
                    return Reviewed(False, found)
                await db.put_example(
                    session,
                    values={
                        "key": f"item:{found.id}",
                        "item_id": found.id,
                        "topic_id": found.topic_id,
                        "partner": partner.name,
                        "org_type": partner.org_type,
                        "region": partner.region or "",
                        "year": report.year,
                        "language": report.language,
                        "done": found.done,
                        "result": found.result,
                        "done_en": None,
                        "result_en": None,
                        "link": found.link,
                        "source": None,
                        "contact": report.contact,
                        "created_at": now,
                    },
                )
        return Reviewed(True, found, publish)

    async def ask_back(self, *, item_id: int, question: str, by: int) -> bool:
        """Send the office's question about an item to the contact who filled in the report."""
        now = self._clock()
        async with self._sessions.begin() as session:
            found = await db.item(session, item_id=item_id)
            report = await db.report(session, report_id=found.report_id) if found else None
            if found is None or report is None or report.chat_id is None:
                return False
            await db.review_item(
                session,
                item_id=item_id,
                decision=ItemReview.ASKED.value,
                by=by,
                at=now,
                allowed_from=(ItemReview.PENDING.value, ItemReview.ASKED.value),
            )
            topic = self._kb.topic(found.topic_id)
            lang: Lang = "en" if report.language == "en" else "de"
            await outbox.enqueue(
                session,
                key=f"report:ask:{item_id}:{now.timestamp():.0f}",
                chat_id=report.chat_id,
                kind="notification",
                ref_id=report.id,
                text=self._texts.get(
                    lang,
                    "reports.asked",
                    topic=topic.title[lang] if topic else found.topic_id,
                    question=question,
                ),
                buttons=[
                    [
                        {
                            "text": self._texts.plain(lang, "reports.reply_button"),
                            "data": f"{FORM}reply:{item_id}",
                        }
                    ]
                ],
                priority=3,
                now=now,
            )
        return True

    async def reply_to_office(self, *, item_id: int, chat_id: int, text: str) -> bool:
        """The contact's answer to the office's question goes to the office chat(s)."""
        now = self._clock()
        async with self._sessions.begin() as session:
            found = await db.item(session, item_id=item_id)
            report = await db.report(session, report_id=found.report_id) if found else None
            if found is None or report is None or report.chat_id != chat_id:
                return False
            partner = await db.partner(session, partner_id=report.partner_id)
            await self._tell_office(
                session,
                f"report:reply:{item_id}:{now.timestamp():.3f}",
                report_id=report.id,
                data=f"{REVIEW}item:{item_id}",
                now=now,
                text_key="reports.office_reply",
                partner=partner.name if partner else "",
                item=found.position,
                text=text,
            )
        return True

    async def _tell_office(
        self,
        session: AsyncSession,
        key: str,
        /,
        *,
        report_id: int,
        data: str,
        now: datetime,
        text_key: str,
        **values: object,
    ) -> None:
        """Queue the text `text_key` with a "Prüfen" button to each office chat (in German,
        like every office message); `data` is what the button opens."""
        label = self._texts.plain("de", "reports.office_review_button")
        await outbox.enqueue_each(
            session,
            key=key,
            chat_ids=self._office,
            kind="notification",
            ref_id=report_id,
            text=self._texts.get("de", text_key, **values),
            buttons=[[{"text": label, "data": data}]],
            priority=3,
            now=now,
        )


def _optional(value: object) -> str | None:
    return str(value) if value else None
