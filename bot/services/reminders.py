"""Annual report reminders and network meetings: planning into the outbox, exactly once.

Every reminder has a fixed local time (REMINDER_TIME in TIMEZONE) on a calendar day, turned
into UTC for that very day, so the clock changes in March and October never shift it. The
planner runs regularly (and at start-up) and puts reminders due within the next day into the
outbox with an idempotency key; the worker sends each at its time. Keys make restarts and
several bot processes harmless: a reminder is queued once, whoever plans it.

After downtime: of the reminders of one report or meeting that fell due meanwhile, only the
latest is sent (one message instead of a burst), and none if the next one follows within a
day. A reminder before a due date is dropped once that date has passed (overdue reminders
take over), and a meeting reminder once the meeting has begun.

The same holds for reminders already queued: each row carries the moment after which it is
no longer true (`expires_at`: the end of the local day whose day count it states, or the
meeting's start), and the worker drops it after that instead of sending it (e.g. when the
bot was down on the day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy.ext.asyncio import AsyncSession

from bot import callbacks
from bot.db import meetings, outbox, partners, queries
from bot.db.models import (
    Meeting,
    OutboxMessage,
    OutboxStatus,
    Partner,
    ReportSubmission,
    utcnow,
)
from bot.db.reports import is_contact, record_submission, unrecord_submission
from bot.services.base import Clock, Service, Sessions
from bot.services.localtime import TIME, local
from bot.texts import Markup, Texts, escape, link

HORIZON = timedelta(days=1)
REMINDER_KEYS = "reminder:"  # every report and meeting reminder's outbox key starts so
REPORT_BUTTON = callbacks.REPORT
MEETING_BUTTON = callbacks.MEETING


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` o'clock local time on `day`, in UTC (correct on both sides of a DST change)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def due_in_year(month_day: str, year: int) -> date:
    """The "MM-DD" due date in `year` (29 February becomes 28 February in other years)."""
    month, day = (int(p) for p in month_day.split("-"))
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, month, 28)


@dataclass(frozen=True, slots=True)
class Instant:
    """One reminder of a series: its label (for the key) and when it is sent."""

    label: str
    at: datetime
    before_deadline: bool


@dataclass(frozen=True, slots=True)
class ReminderRules:
    """When the network's reminders go out (read from the settings once)."""

    zone: ZoneInfo
    at: time  # every reminder goes out at this local time of day
    default_due: str = ""  # "MM-DD" of a partner's report when the partner has none
    offsets: tuple[int, ...] = (28, 7, 1)  # days before a report's due date
    overdue_every_days: int = 7
    overdue_count: int = 4
    meeting_offsets: tuple[int, ...] = (7, 1)  # days before a meeting
    snooze_days: int = 3

    def sending_time(self, day: date) -> datetime:
        """When reminders go out on `day`, in UTC."""
        return local_instant(day, self.at, self.zone)

    def end_of_day(self, day: date) -> datetime:
        """When the local `day` ends (midnight after it), in UTC: a reminder that counts the
        days left from `day` is no longer true after this."""
        return local_instant(day + timedelta(days=1), time(0), self.zone)

    def report_instants(self, due: date) -> list[Instant]:
        """The reminders of one report: before the due date, then while overdue."""
        instants = [
            Instant(str(k), self.sending_time(due - timedelta(days=k)), True)
            for k in sorted(set(self.offsets), reverse=True)
        ]
        instants += [
            Instant(
                f"overdue{j}",
                self.sending_time(due + timedelta(days=j * self.overdue_every_days)),
                False,
            )
            for j in range(1, self.overdue_count + 1)
        ]
        return instants


def to_plan(
    instants: Sequence[Instant], *, now: datetime, useful_until: datetime | None
) -> list[Instant]:
    """Which instants to queue now: those coming within a day, or else the latest one already
    due (if still useful). A missed reminder is not sent right before the next one."""
    due = [i for i in instants if i.at <= now]
    upcoming = [i for i in instants if now < i.at <= now + HORIZON]
    chosen: list[Instant] = []
    if due and not upcoming:
        latest = max(due, key=lambda i: i.at)
        stale = latest.before_deadline and useful_until is not None and now >= useful_until
        if not stale:
            chosen.append(latest)
    return chosen + upcoming


def _report_key(partner_id: int, due: date, label: str, chat_id: int) -> str:
    """The outbox key of one report reminder (`label`: the instant, or "snooze") to one chat."""
    return f"reminder:report:{partner_id}:{due.isoformat()}:{label}:{chat_id}"


def _read_report_key(key: str) -> tuple[int, date, str] | None:
    """The partner, due date and label of a `_report_key`, else None."""
    parts = key.split(":")
    if len(parts) != 6 or parts[:2] != ["reminder", "report"]:
        return None
    return int(parts[2]), date.fromisoformat(parts[3]), parts[4]


def _snoozed_report(key: str) -> tuple[int, date] | None:
    """The partner and due date of a "remind me later" row's key, else None."""
    read = _read_report_key(key)
    if read is None or read[2] != "snooze":
        return None
    return read[0], read[1]


class Snooze(StrEnum):
    """What "Später erinnern" did."""

    SNOOZED = "snoozed"  # one more reminder is queued
    USED = "used"  # this chat snoozed this report before
    SUBMITTED = "submitted"  # the report is in: no more reminders
    GONE = "gone"  # the partner is no longer in the network


@dataclass(frozen=True, slots=True)
class Deadline:
    """A partner's next (or overdue) report and its state."""

    partner: Partner
    due: date
    submitted: bool

    def state(self, today: date) -> str:
        """submitted, overdue, or due."""
        if self.submitted:
            return "submitted"
        return "overdue" if today > self.due else "due"


# What a meeting's texts may hold (/newevent asks again, `events add` refuses): the whole
# meeting then fits one message (4,096 characters), whatever its HTML.
MEETING_LIMITS = {"title": 200, "place": 300, "description": 1500}


@dataclass(frozen=True, slots=True)
class MeetingPlan:
    """A meeting as a coordinator plans it (/newevent or `events add`); aware times."""

    title: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    online_url: str | None
    description: str | None
    audience: str


class ReminderService(Service):
    """Plans report and meeting reminders; records submissions, snoozes and RSVPs."""

    def __init__(
        self, sessions: Sessions, texts: Texts, rules: ReminderRules, *, clock: Clock = utcnow
    ) -> None:
        super().__init__(sessions, clock=clock)
        self._texts = texts
        self.rules = rules

    def today(self) -> date:
        """The local date now."""
        return self._clock().astimezone(self.rules.zone).date()

    # ------------------------------------------------------------------ reports
    def _cycles(self, month_day: str, now: datetime) -> list[date]:
        year = now.astimezone(self.rules.zone).year
        reach_before = timedelta(days=max(self.rules.offsets, default=0) + 1)
        reach_after = timedelta(days=self.rules.overdue_every_days * self.rules.overdue_count + 1)
        return [
            due
            for due in (due_in_year(month_day, y) for y in (year - 1, year, year + 1))
            if self.rules.sending_time(due) - reach_before <= now + HORIZON
            and now <= self.rules.sending_time(due) + reach_after
        ]

    async def plan_report_reminders(self) -> int:
        """Queue the report reminders that are due now or within a day; returns rows added."""
        now = self._clock()
        added = 0
        async with self._sessions.begin() as session:
            await outbox.hold_reminder_plans(session)
            for partner in await partners.active_partners(session):
                month_day = partner.report_due or self.rules.default_due
                if not month_day:
                    continue
                contacts = await self._contacts(session, partner.id)
                if not contacts:
                    continue
                for due in self._cycles(month_day, now):
                    if due < self._start(partner):
                        continue  # before the partnership existed
                    if await session.get(ReportSubmission, (partner.id, due)) is not None:
                        continue
                    instants = self.rules.report_instants(due)
                    end_of_due_day = self.rules.end_of_day(due)
                    for instant in to_plan(instants, now=now, useful_until=end_of_due_day):
                        for chat_id, lang in contacts:
                            added += await self._enqueue_report(
                                session, partner, due, instant, chat_id, lang, now
                            )
        return added

    async def _contacts(self, session: AsyncSession, partner_id: int) -> list[tuple[int, str]]:
        rows = await partners.reminder_contacts(session, partner_id=partner_id)
        return [(chat_id, language or "de") for chat_id, language in rows]

    def report_text(
        self, lang: str, partner: Partner, due: date, *, overdue: bool, today: date
    ) -> str:
        """The reminder text for one partner and due date."""
        shown = due.strftime(self._texts.get(lang, "answer.date_format"))
        key = "reminders.report_overdue" if overdue else "reminders.report_due"
        return self._texts.get(
            lang,
            key,
            partner=partner.name,
            date=shown,
            days=(due - today).days,
        )

    def report_buttons(self, lang: str, partner_id: int, due: date) -> outbox.Buttons:
        """ "Report submitted" and "remind me later"."""
        stamp = due.strftime("%Y%m%d")
        return [
            [
                {
                    "text": self._texts.get(lang, "reminders.fill_button"),
                    "data": f"{callbacks.REPORT_FORM}o:{partner_id}:{stamp}",
                }
            ],
            [
                {
                    "text": self._texts.get(lang, "reminders.submitted_button"),
                    "data": f"{REPORT_BUTTON}done:{partner_id}:{stamp}",
                }
            ],
            [
                {
                    "text": self._texts.get(lang, "reminders.later_button"),
                    "data": f"{REPORT_BUTTON}later:{partner_id}:{stamp}",
                }
            ],
        ]

    async def _enqueue_report(
        self,
        session: AsyncSession,
        partner: Partner,
        due: date,
        instant: Instant,
        chat_id: int,
        lang: str,
        now: datetime,
    ) -> int:
        # The day count is from the day it actually goes out (a catch-up goes out now).
        sent_day = max(instant.at, now).astimezone(self.rules.zone).date()
        text = self.report_text(
            lang, partner, due, overdue=not instant.before_deadline, today=sent_day
        )
        added = await outbox.enqueue(
            session,
            key=_report_key(partner.id, due, instant.label, chat_id),
            chat_id=chat_id,
            kind="reminder",
            ref_id=partner.id,
            text=text,
            buttons=self.report_buttons(lang, partner.id, due),
            priority=4,
            not_before=max(instant.at, now) if instant.at > now else now,
            # "N days left" (or overdue) is said for that day: not sent on a later one.
            expires_at=self.rules.end_of_day(sent_day),
            now=now,
        )
        return int(added)

    async def mark_submitted(self, *, partner_id: int, due: date, by: int | None) -> bool:
        """Record the report as received and cancel its pending reminders; False if known."""
        async with self._sessions.begin() as session:
            return await record_submission(
                session, partner_id=partner_id, due=due, at=self._clock(), by=by
            )

    async def unmark_submitted(self, *, partner_id: int, due: date) -> bool:
        """Undo `mark_submitted`: the report counts as not received again, and its reminders
        are planned again as if it had never been marked (those to come, or the one catch-up
        the planner allows; never a burst of the ones missed meanwhile). False if it was not
        marked (a double tap)."""
        async with self._sessions.begin() as session:
            if not await unrecord_submission(session, partner_id=partner_id, due=due):
                return False
            # The marking cancelled them; their keys would keep the planner from queuing them.
            await outbox.forget_cancelled(
                session, key_prefix=f"reminder:report:{partner_id}:{due.isoformat()}:"
            )
        await self.plan_report_reminders()
        return True

    async def snooze(self, *, partner_id: int, due: date, chat_id: int, lang: str) -> Snooze:
        """One extra reminder `snooze_days` later (once per report and chat)."""
        now = self._clock()
        day = now.astimezone(self.rules.zone).date() + timedelta(days=self.rules.snooze_days)
        async with self._sessions.begin() as session:
            partner = await session.get(Partner, partner_id)
            if partner is None:
                return Snooze.GONE
            if await session.get(ReportSubmission, (partner_id, due)) is not None:
                return Snooze.SUBMITTED
            queued = await outbox.enqueue(
                session,
                key=_report_key(partner_id, due, "snooze", chat_id),
                chat_id=chat_id,
                kind="reminder",
                ref_id=partner_id,
                text=self.report_text(lang, partner, due, overdue=day > due, today=day),
                buttons=self.report_buttons(lang, partner_id, due),
                priority=4,
                not_before=self.rules.sending_time(day),
                expires_at=self.rules.end_of_day(day),
                now=now,
            )
            return Snooze.SNOOZED if queued else Snooze.USED

    async def hold_plans(self, session: AsyncSession) -> None:
        """Run the caller's transaction apart from the planner's (see
        `outbox.hold_reminder_plans`); the switches below take it too."""
        await outbox.hold_reminder_plans(session)

    async def reminders_switched(self, session: AsyncSession, *, chat_id: int, on: bool) -> None:
        """The chat turned its reminders off or on (in the caller's transaction).

        Off: its queued reminders are cancelled, as when a contact is removed (one already on
        its way still arrives). On: the planner may queue again what is still useful (the
        cancelled keys would keep it from that), and a "remind me later" the switch had
        cancelled waits again, unless its report is in or the chat is no longer a contact:
        the planner cannot make that one anew. Doing it twice changes nothing more."""
        await outbox.hold_reminder_plans(session)
        if not on:
            await outbox.cancel_keyed(session, key_prefix=REMINDER_KEYS, chat_id=chat_id)
            return
        for row in await outbox.keyed(
            session,
            key_prefix=REMINDER_KEYS,
            chat_id=chat_id,
            status=OutboxStatus.CANCELLED,
        ):
            snoozed = _snoozed_report(row.key)
            if snoozed is None:
                continue
            partner_id, due = snoozed
            partner = await session.get(Partner, partner_id)
            if (
                partner is not None
                and partner.active
                and await session.get(ReportSubmission, (partner_id, due)) is None
                and await is_contact(session, partner_id=partner_id, chat_id=chat_id)
            ):
                row.status = OutboxStatus.PENDING.value
        await session.flush()
        await outbox.forget_cancelled(session, key_prefix=REMINDER_KEYS, chat_id=chat_id)

    async def language_changed(self, session: AsyncSession, *, chat_id: int, lang: str) -> int:
        """The chat chose another language (in the caller's transaction): its queued
        reminders are written anew in it (text, buttons, calendar file name), so each arrives
        in the language the person has when it goes out; how many. A row a worker holds
        already goes out as it is, once; one whose text went out before its file keeps it."""
        await outbox.hold_reminder_plans(session)
        rewritten = 0
        for row in await outbox.keyed(
            session, key_prefix=REMINDER_KEYS, chat_id=chat_id, status=OutboxStatus.PENDING
        ):
            if row.delivered_message_id is not None:
                continue
            rendered = await self._render_again(session, row, lang)
            if rendered is None:
                continue
            text, buttons, attachment_name = rendered
            rewritten += await outbox.rewrite_pending(
                session,
                message_id=row.id,
                text=text,
                buttons=buttons,
                attachment_name=attachment_name,
            )
        return rewritten

    async def _render_again(
        self, session: AsyncSession, row: OutboxMessage, lang: str
    ) -> tuple[str, outbox.Buttons, str | None] | None:
        """A queued reminder as the planner would write it in `lang` (None: its partner or
        meeting is gone, or the key is not a reminder's)."""
        report = _read_report_key(row.key)
        if report is not None:
            partner_id, due, label = report
            partner = await session.get(Partner, partner_id)
            if partner is None:
                return None
            day = self._sending_day(row)
            overdue = label.startswith("overdue") or (label == "snooze" and day > due)
            text = self.report_text(lang, partner, due, overdue=overdue, today=day)
            return text, self.report_buttons(lang, partner_id, due), row.attachment_name
        parts = row.key.split(":")
        if len(parts) == 5 and parts[1] == "meeting":  # reminder:meeting:<m>:<label>:<chat>
            meeting = await session.get(Meeting, int(parts[2]))
            if meeting is None:
                return None
            return (
                self.meeting_text(lang, meeting, reminder=True),
                self.meeting_buttons(lang, meeting.id),
                self.calendar_file_name(lang, meeting),
            )
        return None

    def _sending_day(self, row: OutboxMessage) -> date:
        """The local day whose day count a queued report reminder states: the day before its
        expiry (the day it was planned for), else the day it is due to go out."""
        if row.expires_at is not None:
            return (row.expires_at.astimezone(self.rules.zone) - timedelta(seconds=1)).date()
        return row.next_attempt_at.astimezone(self.rules.zone).date()

    async def is_contact(self, *, partner_id: int, chat_id: int) -> bool:
        """Whether the chat is linked to the partner."""
        async with self._sessions() as session:
            return await is_contact(session, partner_id=partner_id, chat_id=chat_id)

    @staticmethod
    def _start(partner: Partner) -> date:
        """Reports are due from the partnership's start on (agreement, else record creation)."""
        return partner.agreement_date or partner.created_at.date()

    async def _deadline(
        self, session: AsyncSession, partner: Partner, today: date
    ) -> Deadline | None:
        """An unsubmitted past report (overdue) if there is one, else the next due date."""
        month_day = partner.report_due or self.rules.default_due
        if not month_day:
            return None
        this_year = due_in_year(month_day, today.year)
        last_due = this_year if this_year <= today else due_in_year(month_day, today.year - 1)
        next_due = due_in_year(month_day, today.year + 1) if this_year <= today else this_year
        started = last_due >= self._start(partner)
        series_end = last_due + timedelta(
            days=self.rules.overdue_every_days * max(self.rules.overdue_count, 1)
        )
        recent = today <= series_end
        if (
            started
            and recent
            and await session.get(ReportSubmission, (partner.id, last_due)) is None
        ):
            return Deadline(partner, last_due, False)
        submitted = await session.get(ReportSubmission, (partner.id, next_due)) is not None
        return Deadline(partner, next_due, submitted)

    async def deadlines_for_chat(self, *, chat_id: int) -> list[Deadline]:
        """The report deadlines of every partner this chat is a contact of."""
        today = self.today()
        async with self._sessions() as session:
            linked = await queries.partners_of_chat(session, chat_id=chat_id)
            found = [await self._deadline(session, p, today) for p in linked]
        return [d for d in found if d is not None]

    async def deadline_of(self, partner: Partner) -> Deadline | None:
        """One partner's report state (None: no due date known)."""
        async with self._sessions() as session:
            return await self._deadline(session, partner, self.today())

    async def overview(self) -> list[Deadline | Partner]:
        """Every active partner with its report state (a Partner alone: no due date known)."""
        today = self.today()
        async with self._sessions() as session:
            out: list[Deadline | Partner] = []
            for partner in await partners.active_partners(session):
                deadline = await self._deadline(session, partner, today)
                out.append(deadline or partner)
        return out

    async def set_due(self, *, partner_id: int, month_day: str | None) -> bool:
        """Override (or with None reset) a partner's due date "MM-DD"."""
        if month_day is not None:
            due_in_year(month_day, 2024)  # raises ValueError when impossible
        async with self._sessions.begin() as session:
            partner = await session.get(Partner, partner_id)
            if partner is None:
                return False
            partner.report_due = month_day
        return True

    # ------------------------------------------------------------------ meetings
    async def create_meeting(self, plan: MeetingPlan, *, created_by: int | None) -> Meeting:
        """A new meeting (times in UTC); ValueError says what is wrong with the plan."""
        if not plan.title.strip():
            raise ValueError("the title is empty")
        for field, limit in MEETING_LIMITS.items():
            if len(getattr(plan, field) or "") > limit:
                raise ValueError(f"the {field} is longer than {limit} characters")
        # In UTC: two times of one zone compare by their wall clocks, which is wrong across
        # the change to summer time.
        if plan.ends_at.astimezone(UTC) <= plan.starts_at.astimezone(UTC):
            raise ValueError("the end must be after the start")
        async with self._sessions.begin() as session:
            # The plan's fields are the meeting's columns, one for one.
            meeting = Meeting(**asdict(plan), created_by=created_by, created_at=self._clock())
            session.add(meeting)
            await session.flush()
        return meeting

    async def upcoming(self, *, limit: int = 10) -> list[Meeting]:
        """Meetings that have not ended, soonest first."""
        async with self._sessions() as session:
            return await meetings.upcoming_meetings(session, now=self._clock(), limit=limit)

    async def meeting(self, *, meeting_id: int) -> Meeting | None:
        """One meeting."""
        async with self._sessions() as session:
            return await session.get(Meeting, meeting_id)

    def meeting_text(self, lang: str, meeting: Meeting, *, reminder: bool = False) -> str:
        """A meeting as HTML: title, local time, place or link, description."""
        start = meeting.starts_at.astimezone(self.rules.zone)
        end = meeting.ends_at.astimezone(self.rules.zone)
        same_day = end.date() == start.date()
        when = (
            local(start, self.rules.zone)
            + "–"
            + (end.strftime(TIME) if same_day else local(end, self.rules.zone))
        )
        where = self._texts.get(lang, "onboarding.none")
        if meeting.place or meeting.online_url:
            where = Markup(escape(meeting.place or ""))
        if meeting.online_url:
            label = self._texts.get(lang, "reminders.online_link")
            where = Markup(f"{where} {link(meeting.online_url, label)}".strip())
        return self._texts.get(
            lang,
            "reminders.meeting_reminder" if reminder else "reminders.meeting",
            title=meeting.title,
            when=when,
            where=where,
            description=meeting.description or "",
        ).strip()

    def meeting_buttons(self, lang: str, meeting_id: int) -> outbox.Buttons:
        """Attend / not attend."""
        return [
            [
                {
                    "text": self._texts.get(lang, "reminders.attend"),
                    "data": f"{MEETING_BUTTON}yes:{meeting_id}",
                },
                {
                    "text": self._texts.get(lang, "reminders.not_attend"),
                    "data": f"{MEETING_BUTTON}no:{meeting_id}",
                },
            ]
        ]

    def calendar_file_name(self, lang: str, meeting: Meeting) -> str:
        """The meeting's .ics file name in the person's language ("meeting-7.ics")."""
        return self._texts.plain(lang, "reminders.calendar_file", number=meeting.id)

    def ics(self, meeting: Meeting) -> str:
        """The meeting as an iCalendar file (UTC times, so every calendar shows local time)."""
        calendar = Calendar()
        calendar.add("prodid", "-//Vielfalt-Lotse//DE")
        calendar.add("version", "2.0")
        event = Event()
        event.add("uid", f"meeting-{meeting.id}@vielfalt-lotse")
        event.add("summary", meeting.title)
        event.add("dtstart", meeting.starts_at.astimezone(UTC))
        event.add("dtend", meeting.ends_at.astimezone(UTC))
        event.add("dtstamp", meeting.created_at.astimezone(UTC))
        if meeting.place:
            event.add("location", meeting.place)
        if meeting.online_url:
            event.add("url", meeting.online_url)
        if meeting.description:
            event.add("description", meeting.description)
        calendar.add_component(event)
        ical: bytes = calendar.to_ical()
        return ical.decode()

    async def plan_meeting_reminders(self) -> int:
        """Queue meeting reminders (with RSVP buttons and the .ics) due now or within a day."""
        now = self._clock()
        added = 0
        async with self._sessions.begin() as session:
            await outbox.hold_reminder_plans(session)
            reach = timedelta(days=max(self.rules.meeting_offsets, default=0) + 2)
            for meeting in await meetings.meetings_starting(session, after=now, until=now + reach):
                start_day = meeting.starts_at.astimezone(self.rules.zone).date()
                instants = [
                    Instant(
                        str(k),
                        self.rules.sending_time(start_day - timedelta(days=k)),
                        True,
                    )
                    for k in sorted(set(self.rules.meeting_offsets), reverse=True)
                ]
                ics = self.ics(meeting)
                for instant in to_plan(instants, now=now, useful_until=meeting.starts_at):
                    recipients = await outbox.reminder_audience(session, audience=meeting.audience)
                    for chat_id, language in recipients:
                        lang = language or "de"
                        added += int(
                            await outbox.enqueue(
                                session,
                                key=f"reminder:meeting:{meeting.id}:{instant.label}:{chat_id}",
                                chat_id=chat_id,
                                kind="reminder",
                                ref_id=meeting.id,
                                text=self.meeting_text(lang, meeting, reminder=True),
                                buttons=self.meeting_buttons(lang, meeting.id),
                                attachment_name=self.calendar_file_name(lang, meeting),
                                attachment=ics,
                                priority=4,
                                not_before=instant.at if instant.at > now else now,
                                expires_at=meeting.starts_at,
                                now=now,
                            )
                        )
        return added

    async def rsvp(self, *, meeting_id: int, chat_id: int, attending: bool) -> bool:
        """Record attendance; False for an unknown or past meeting."""
        async with self._sessions.begin() as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is None or meeting.cancelled or meeting.ends_at <= self._clock():
                return False
            await meetings.put_rsvp(
                session,
                meeting_id=meeting_id,
                chat_id=chat_id,
                attending=attending,
                now=self._clock(),
            )
        return True

    async def rsvp_counts(self, *, meeting_id: int) -> tuple[int, int]:
        """(attending, not attending)."""
        async with self._sessions() as session:
            counts = await meetings.rsvp_counts(session, meeting_id=meeting_id)
        return counts.get(True, 0), counts.get(False, 0)
