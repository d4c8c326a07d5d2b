"""Every kind of update the bot handles, delivered twice at the same moment.

People double-tap buttons, send a command twice without waiting, open an invite link twice.
Production runs the Application with concurrent updates (`bot.app` sets `concurrent_updates`),
so the two updates interleave at every pause; here two `process_update` calls run together
through `asyncio.gather` on the same Application, on SQLite and PostgreSQL.

What a person would notice, for each kind: no "something went wrong", each button press
answered exactly once, and the effect in the database happening once where there is one.
The twin of an update is what Telegram sends for a second tap or message: the same content
with its own update id, message id or callback query id.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram.ext import CallbackQueryHandler, CommandHandler, ConversationHandler

from bot.db.models import (
    AuditEntry,
    Broadcast,
    Chat,
    Coordinator,
    Example,
    Feedback,
    Handover,
    Invite,
    Meeting,
    OnboardingDraft,
    OnboardingRequest,
    OutboxMessage,
    Partner,
    PartnerContact,
    QuestionStat,
    Report,
    ReportSubmission,
    Rsvp,
)
from bot.offline import BOT_USER, Call, callback_update, message_update, user_dict
from bot.services.broadcasts import AudienceFilter
from bot.services.onboarding import Draft
from bot.settings import Settings
from tests.conftest import OFFICE_CHAT_ID, STICKER, Harness, make_settings
from tests.test_onboarding import fill_until_measures, fill_until_review
from tests.test_reminders import new_meeting
from tests.test_reports import open_report

COORDINATORS = tuple(range(9001, 9100))
ADMIN = 9001
_users = itertools.count(30_001)
_coordinators = itertools.count(9002)
_ids = itertools.count(900_000)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Many coordinators (one per case, so no case sees another's pending input) and an admin."""
    return make_settings(
        database_url=database_url, coordinator_ids=COORDINATORS, admin_ids=(ADMIN,)
    )


Check = Callable[[], Awaitable[object]]


@dataclass
class Double:
    """An update to deliver twice, and how to read its effect afterwards (with the value the
    effect must have: one row, one change)."""

    payload: dict[str, Any]
    effect: Check | None = None
    expected: object = None


def twin(payload: dict[str, Any]) -> dict[str, Any]:
    """The same update as Telegram sends it a second time: new update, message or query id."""
    other = copy.deepcopy(payload)
    other["update_id"] = next(_ids)
    if "message" in other:
        other["message"]["message_id"] = next(_ids)
    if "callback_query" in other:
        other["callback_query"]["id"] = str(next(_ids))
    return other


async def count(harness: Harness, model: type[Any], *where: Any) -> int:
    async with harness.services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def chat_row(harness: Harness, chat_id: int) -> Chat:
    async with harness.services.sessions() as session:
        chat = await session.get(Chat, chat_id)
    assert chat is not None
    return chat


async def add_partner(harness: Harness, contact: int | None = None) -> tuple[int, date]:
    """A partner whose report is due in ten days, with `contact` linked."""
    due = harness.services.reminders.today() + timedelta(days=10)
    async with harness.services.sessions.begin() as session:
        partner = Partner(
            name=f"Partner {next(_ids)}",
            org_type="company",
            agreement_date=date(2020, 1, 1),
            report_due=due.strftime("%m-%d"),
        )
        session.add(partner)
        await session.flush()
        if contact is not None:
            session.add(Chat(chat_id=contact, user_id=contact, kind="private", language="de"))
            session.add(PartnerContact(partner_id=partner.id, chat_id=contact))
        return partner.id, due


async def add_meeting(harness: Harness) -> int:
    start = datetime.now(UTC) + timedelta(days=3)
    meeting = await new_meeting(harness.services.reminders, start, title=f"Treffen {next(_ids)}")
    return meeting.id


async def submitted_request(harness: Harness, asker: int) -> int:
    """A complete request from `asker`, submitted (through the service, as the form does)."""
    onboarding = harness.services.onboarding
    draft = await onboarding.start(chat_id=asker, user_id=asker, language="de")
    answers: dict[str, object] = {
        "org_name": f"Verein {asker}",
        "org_type": "association",
        "place": "Köln",
        "size": "s",
        "contact_name": "Ayşe Yılmaz",
        "email": "a@verein.example",
        "measures_text": "Sprachkurse",
        "timeframe": "2027",
    }
    draft = Draft(asker, "de", "review", answers, version=draft.version)
    assert await onboarding.save(draft)
    request = await onboarding.submit(draft, user_id=asker)
    assert request is not None
    return request.id


async def audited(harness: Harness, subject: object, action: str | None = None) -> int:
    """How many audit log entries there are about `subject` (of `action`, when given)."""
    where = [AuditEntry.subject == str(subject)]
    if action is not None:
        where.append(AuditEntry.action == action)
    return await count(harness, AuditEntry, *where)


def rows_of(harness: Harness, model: type[Any], *where: Any) -> Check:
    """An effect to check: how many rows of `model` match `where`."""
    return lambda: count(harness, model, *where)


def cmd(text: str | None, user: int, **kwargs: Any) -> dict[str, Any]:
    return message_update(text, user_id=user, **kwargs)


def tap(data: str, user: int, **kwargs: Any) -> dict[str, Any]:
    return callback_update(data, user_id=user, **kwargs)


# ---------------------------------------------------------------------------- the cases
# Each prepares what the update needs (as a person would have got there) and returns it.
Case = Callable[[Harness], Awaitable[Double]]
CASES: dict[str, Case] = {}
COVERED_ELSEWHERE = {"^lq"}


def case(name: str) -> Callable[[Case], Case]:
    def register(function: Case) -> Case:
        CASES[name] = function
        return function

    return register


def simple(name: str, make: Callable[[int], dict[str, Any]], *, coordinator: bool = False) -> None:
    """A case without state: a new person (or coordinator) sends it."""

    async def prepare(harness: Harness) -> Double:  # noqa: ARG001 (every case takes one)
        user = next(_coordinators) if coordinator else next(_users)
        return Double(make(user))

    CASES[name] = prepare


def command_case(command: str, *, coordinator: bool = False) -> None:
    simple(f"/{command}", lambda user: cmd(f"/{command}", user), coordinator=coordinator)


for command in ("help", "topics", "firststeps", "status", "deadlines", "events", "settings"):
    command_case(command)
for command in ("privacy", "mydata", "deleteme", "cancel"):
    command_case(command)
for command in ("requests", "partners", "newevent", "unanswered", "broadcast", "broadcasts"):
    command_case(command, coordinator=True)
simple("help button", lambda user: tap("m:help", user))
simple("topic categories", lambda user: tap("c:", user))
simple("a category", lambda user: tap("c:hr", user))
simple("a topic", lambda user: tap("t:apprenticeships_kausa", user))
simple("first steps button", lambda user: tap("fs:start", user))
simple("a first-steps answer", lambda user: tap("fs:company:", user))
simple("settings button", lambda user: tap("s:show", user))
simple("a button nobody knows", lambda user: tap("zz:old", user))
simple("a sticker", lambda user: cmd(None, user, extra=STICKER))
simple("a question", lambda user: cmd("Was ist KAUSA?", user))
simple(
    "a mention in a group",
    lambda user: cmd(
        "@vielfalt_lotse_bot Was ist KAUSA?", user, chat_id=-1_000_000 - user, chat_type="group"
    ),
)


@case("/start of a new person")
async def first_start(harness: Harness) -> Double:
    user = next(_users)
    return Double(cmd("/start", user), rows_of(harness, Chat, Chat.chat_id == user), 1)


def join_case(name: str, make: Callable[[int], dict[str, Any]]) -> None:
    """A case that opens the /join form: the person has one draft afterwards, not two."""

    async def prepare(harness: Harness) -> Double:
        user = next(_users)
        effect = rows_of(harness, OnboardingDraft, OnboardingDraft.chat_id == user)
        return Double(make(user), effect, 1)

    CASES[name] = prepare


join_case("/join", lambda user: cmd("/join", user))
join_case("join button", lambda user: tap("ob:join", user))


def chat_setting_case(
    name: str,
    field: str,
    expected: object,
    *,
    make: Callable[[int], dict[str, Any]] | None = None,
    settings_button: str = "",
    subscribed: bool = False,
) -> None:
    """A case that changes a setting stored on the person's chat (`field`), by the update `make`
    builds or by the /settings button whose data starts with `settings_button`; both copies
    together must leave it at `expected` (a switch pressed twice is on, not back off)."""

    async def prepare(harness: Harness) -> Double:
        user = next(_users)
        if subscribed:
            await harness.send("/subscribe", user_id=user)
        if make is not None:
            update = make(user)
        else:
            calls = await harness.send("/settings", user_id=user)
            [data] = [d for c in calls for _, d in c.buttons() if d.startswith(settings_button)]
            update = tap(data, user)

        async def stored() -> object:
            return getattr(await chat_row(harness, user), field)

        return Double(update, stored, expected)

    CASES[name] = prepare


chat_setting_case("/subscribe", "notices", True, make=lambda user: cmd("/subscribe", user))
chat_setting_case(
    "/unsubscribe", "notices", False, make=lambda user: cmd("/unsubscribe", user), subscribed=True
)
chat_setting_case(
    "unsubscribe button", "notices", False, make=lambda user: tap("unsub", user), subscribed=True
)
chat_setting_case("a settings switch", "plain_language", True, settings_button="s:plain")
chat_setting_case("the language switch", "language", "en", settings_button="s:lang")


@case("/coordinators add")
async def add_coordinator(harness: Harness) -> Double:
    target = next(_users)

    async def effect() -> object:
        rows = await count(harness, Coordinator, Coordinator.user_id == target)
        return rows, await audited(harness, target)

    return Double(cmd(f"/coordinators add {target}", ADMIN), effect, (1, 1))


@case("invite link (/start inv_…)")
async def invite_link(harness: Harness) -> Double:
    partner_id, _ = await add_partner(harness)
    invite = await harness.services.partners.invite(partner_id=partner_id, created_by=None)
    assert invite is not None
    user = next(_users)

    async def effect() -> object:
        contacts = await count(
            harness,
            PartnerContact,
            PartnerContact.partner_id == partner_id,
            PartnerContact.chat_id == user,
        )
        async with harness.services.sessions() as session:
            row = await session.get(Invite, invite.token)
        return contacts, row.uses if row else None

    return Double(cmd(f"/start inv_{invite.token}", user), effect, (1, 1))


@case("👍 on an answer")
async def feedback(harness: Harness) -> Double:
    user = next(_users)
    topic = "apprenticeships_kausa"
    before = await count(harness, Feedback, Feedback.topic_id == topic)

    async def effect() -> object:
        return await count(harness, Feedback, Feedback.topic_id == topic) - before

    return Double(tap(f"fb:{topic}:1", user, message_id=77), effect, 1)


@case("More under an answer")
async def more_details(harness: Harness) -> Double:  # noqa: ARG001 (every case takes one)
    return Double(tap("more:apprenticeships_kausa", next(_users), message_id=78))


@case("hand a question over")
async def hand_over(harness: Harness) -> Double:
    user = next(_users)
    calls = await harness.send("Was ist ein Kulturdolmetscher-Zertifikat?", user_id=user)
    [data] = [d for c in calls for _, d in c.buttons() if d.startswith("ho:")]

    async def effect() -> object:
        office = [c for c in await harness.deliver() if c.chat_id == OFFICE_CHAT_ID]
        forwarded = [c for c in office if "Kulturdolmetscher" in c.text]
        return await count(harness, Handover, Handover.asker_chat_id == user), len(forwarded)

    return Double(tap(data, user), effect, (1, 1))


@case("a form button (organisation type)")
async def form_type(harness: Harness) -> Double:
    user = next(_users)
    await harness.send("/join", user_id=user)
    await harness.send("Firma Beispiel GmbH", user_id=user)

    async def effect() -> object:
        draft = await harness.services.onboarding.draft(chat_id=user)
        return (draft.step, draft.answers.get("org_type")) if draft else None

    return Double(tap("ob:type:company", user), effect, ("place", "company"))


@case("a measure in the form")
async def form_measure(harness: Harness) -> Double:
    user = next(_users)
    calls = await fill_until_measures(harness, user)
    data = next(d for c in calls for _, d in c.buttons() if d.startswith("ob:m:0"))

    async def effect() -> object:
        draft = await harness.services.onboarding.draft(chat_id=user)
        return len(draft.measures()) if draft else None

    return Double(tap(data, user), effect, 1)  # selected once, not selected and unselected


@case("submit the form")
async def form_submit(harness: Harness) -> Double:
    user = next(_users)
    await fill_until_review(harness, user)
    effect = rows_of(harness, OnboardingRequest, OnboardingRequest.chat_id == user)
    return Double(tap("ob:submit", user), effect, 1)


@case("approve a request")
async def approve(harness: Harness) -> Double:
    asker = next(_users)
    request_id = await submitted_request(harness, asker)

    async def effect() -> object:
        partners = await count(harness, Partner, Partner.name == f"Verein {asker}")
        notes = await count(harness, OutboxMessage, OutboxMessage.chat_id == asker)
        return partners, notes

    return Double(tap(f"rq:ok:{request_id}", next(_coordinators)), effect, (1, 1))


@case("decline a request")
async def decline(harness: Harness) -> Double:
    request_id = await submitted_request(harness, next(_users))
    return Double(tap(f"rq:no:{request_id}", next(_coordinators)))


@case("report submitted (reminder button)")
async def report_done(harness: Harness) -> Double:
    user = next(_users)
    partner_id, due = await add_partner(harness, contact=user)
    data = f"rp:done:{partner_id}:{due:%Y%m%d}"
    effect = rows_of(harness, ReportSubmission, ReportSubmission.partner_id == partner_id)
    return Double(tap(data, user), effect, 1)


@case("remind me later")
async def report_later(harness: Harness) -> Double:
    user = next(_users)
    partner_id, due = await add_partner(harness, contact=user)
    effect = rows_of(
        harness, OutboxMessage, OutboxMessage.key.like("%:snooze:%"), OutboxMessage.chat_id == user
    )
    return Double(tap(f"rp:later:{partner_id}:{due:%Y%m%d}", user), effect, 1)


def partner_button_case(
    name: str,
    button: str,
    *,
    linked: bool = False,
    counted: type[Invite] | type[ReportSubmission] | None = None,
    expected: int = 0,
) -> None:
    """A case where a coordinator presses `button` on a new partner (with a linked contact if
    `linked`): "{partner}", "{contact}" and "{due}" in it take the partner's id, the contact
    and the report's due date. With `counted`, the partner's rows of it must number `expected`
    afterwards."""

    async def prepare(harness: Harness) -> Double:
        contact = next(_users) if linked else None
        partner_id, due = await add_partner(harness, contact=contact)
        data = button.format(partner=partner_id, contact=contact, due=f"{due:%Y%m%d}")
        if counted is None:
            return Double(tap(data, next(_coordinators)))
        effect = rows_of(harness, counted, counted.partner_id == partner_id)
        return Double(tap(data, next(_coordinators)), effect, expected)

    CASES[name] = prepare


partner_button_case("a partner's card", "pa:show:{partner}", linked=True)


@case("back to all partners")
async def partner_list(harness: Harness) -> Double:  # noqa: ARG001 (every case takes one)
    return Double(tap("pa:list", next(_coordinators)))


@case("another page of partners")
async def partner_page(harness: Harness) -> Double:  # noqa: ARG001 (every case takes one)
    return Double(tap("pa:pg:1:kreis", next(_coordinators)))


partner_button_case("invite link button", "pa:inv:{partner}", counted=Invite, expected=1)
partner_button_case("remove a contact (ask)", "pa:rm:{partner}:{contact}", linked=True)


@case("remove a contact (confirmed)")
async def remove_confirmed(harness: Harness) -> Double:
    contact = next(_users)
    partner_id, _ = await add_partner(harness, contact=contact)

    async def effect() -> object:
        left = await count(harness, PartnerContact, PartnerContact.partner_id == partner_id)
        return left, await audited(harness, partner_id, "contact_remove")

    return Double(tap(f"pa:rmy:{partner_id}:{contact}", next(_coordinators)), effect, (0, 1))


command_case("beispiele")
command_case("examples")
command_case("reports", coordinator=True)
simple("examples of a topic", lambda user: tap("ex:l:topic:interpreter_pool:0", user))


@case("/report (a partner contact opens the form)")
async def report_open(harness: Harness) -> Double:
    user = next(_users)
    partner_id, _ = await add_partner(harness, contact=user)
    return Double(
        cmd("/report", user), rows_of(harness, Report, Report.partner_id == partner_id), 1
    )


async def filled_report(harness: Harness, user: int) -> int:
    """A partner contact's report with one item, at the review screen; returns its id."""
    reports = harness.services.reports
    fresh = await open_report(harness, user)
    await reports.choose_topic(await fresh(), "interpreter_pool")
    for text in ("Ein Pool.", "Er hilft."):
        await reports.answer(await fresh(), text)
    for step in ("figure", "link", "file"):
        await reports.skip(await fresh(), step)
    await reports.consent(await fresh(), publish=True)
    await reports.go(await fresh(), "review")
    await reports.skip(await fresh(), "contact")
    return (await fresh()).report.id


@case("report form: a topic button")
async def report_topic(harness: Harness) -> Double:
    user = next(_users)
    await add_partner(harness, contact=user)
    _, form, _ = await harness.services.reports.open(chat_id=user, language="de")
    assert form is not None

    async def effect() -> object:
        found = await harness.services.reports.form(report_id=form.report.id)
        return found.report.version if found else None

    return Double(tap(f"rf:t:{form.report.id}:interpreter_pool", user), effect, 1)


@case("report form: submit")
async def report_submit(harness: Harness) -> Double:
    user = next(_users)
    partner_id, _ = await add_partner(harness, contact=user)
    report_id = await filled_report(harness, user)
    effect = rows_of(harness, ReportSubmission, ReportSubmission.partner_id == partner_id)
    return Double(tap(f"rf:x:{report_id}", user), effect, 1)


@case("report review: publish an item")
async def report_publish(harness: Harness) -> Double:
    user = next(_users)
    await add_partner(harness, contact=user)
    report_id = await filled_report(harness, user)
    form = await harness.services.reports.form(report_id=report_id)
    assert form is not None
    await harness.services.reports.submit(form, by=user)
    item_id = form.items[0].id
    effect = rows_of(harness, Example, Example.item_id == item_id)
    return Double(tap(f"rr:ok:{item_id}", next(_coordinators)), effect, 1)


partner_button_case(
    "report received (coordinator asks)", "pa:rcv:{partner}:{due}", counted=ReportSubmission
)


@case("report received (coordinator confirms)")
async def report_received(harness: Harness) -> Double:
    partner_id, due = await add_partner(harness)

    async def effect() -> object:
        rows = await count(harness, ReportSubmission, ReportSubmission.partner_id == partner_id)
        return rows, await audited(harness, f"{partner_id}:{due.isoformat()}")

    return Double(tap(f"pa:rcy:{partner_id}:{due:%Y%m%d}", next(_coordinators)), effect, (1, 1))


@case("report received: undo")
async def report_received_undo(harness: Harness) -> Double:
    partner_id, due = await add_partner(harness)
    coordinator = next(_coordinators)
    await harness.press(f"pa:rcy:{partner_id}:{due:%Y%m%d}", user_id=coordinator)

    async def effect() -> object:
        rows = await count(harness, ReportSubmission, ReportSubmission.partner_id == partner_id)
        undone = await audited(harness, f"{partner_id}:{due.isoformat()}", "report_unreceived")
        return rows, undone

    return Double(tap(f"pa:rcu:{partner_id}:{due:%Y%m%d}", coordinator), effect, (0, 1))


partner_button_case("change a due date", "pa:due:{partner}")


@case("RSVP")
async def rsvp(harness: Harness) -> Double:
    user = next(_users)
    meeting_id = await add_meeting(harness)

    async def effect() -> object:
        async with harness.services.sessions() as session:
            rows = (await session.scalars(select(Rsvp).where(Rsvp.chat_id == user))).all()
        return [(r.meeting_id, r.attending) for r in rows]

    return Double(tap(f"mt:yes:{meeting_id}", user), effect, [(meeting_id, True)])


async def meeting_until_audience(harness: Harness, coordinator: int) -> str:
    title = f"Herbsttreffen {coordinator}"
    start = (datetime.now(harness.services.settings.zone) + timedelta(days=20)).replace(hour=10)
    for text in ("/newevent", title, start.strftime("%d.%m.%Y %H:%M"), "16:00", "Essen", "-"):
        await harness.send(text, user_id=coordinator)
    return title


def new_meeting_case(name: str, button: str, expected: int, *taps: str) -> None:
    """A case in /newevent after the place (and `taps`): a coordinator presses `button`; then
    `expected` meetings with the title exist."""

    async def prepare(harness: Harness) -> Double:
        coordinator = next(_coordinators)
        title = await meeting_until_audience(harness, coordinator)
        for data in taps:
            await harness.press(data, user_id=coordinator)
        effect = rows_of(harness, Meeting, Meeting.title == title)
        return Double(tap(button, coordinator), effect, expected)

    CASES[name] = prepare


# The audience shows the summary only: nothing is created before "Anlegen".
new_meeting_case("new meeting: audience", "ne:aud:partners", 0)
new_meeting_case("new meeting: create", "ne:create", 1, "ne:aud:partners")


@case("announce a meeting")
async def announce(harness: Harness) -> Double:
    meeting_id = await add_meeting(harness)
    effect = rows_of(harness, Broadcast, Broadcast.key == f"meeting:{meeting_id}")
    return Double(tap(f"ne:announce:{meeting_id}", next(_coordinators)), effect, 1)


async def broadcast_until(harness: Harness, coordinator: int, *taps: str) -> None:
    await harness.send("/broadcast", user_id=coordinator)
    await harness.send(f"Hinweis von {coordinator}", user_id=coordinator)
    for data in taps:
        await harness.press(data, user_id=coordinator)


@case("broadcast: audience")
async def broadcast_audience(harness: Harness) -> Double:
    coordinator = next(_coordinators)
    await broadcast_until(harness, coordinator)
    return Double(tap("bc:aud:partners", coordinator))


@case("broadcast: language")
async def broadcast_language(harness: Harness) -> Double:
    coordinator = next(_coordinators)
    await broadcast_until(harness, coordinator, "bc:aud:partners")
    return Double(tap("bc:lang:any", coordinator))


@case("broadcast: partner type")
async def broadcast_type(harness: Harness) -> Double:
    coordinator = next(_coordinators)
    await broadcast_until(harness, coordinator, "bc:aud:partners", "bc:lang:any")
    return Double(tap("bc:pt:any", coordinator))


@case("broadcast: send now")
async def broadcast_send(harness: Harness) -> Double:
    coordinator = next(_coordinators)
    await harness.send("/subscribe", user_id=next(_users))  # someone to send to
    await broadcast_until(harness, coordinator, "bc:aud:subscribers", "bc:lang:any")
    effect = rows_of(harness, Broadcast, Broadcast.created_by == coordinator)
    return Double(tap("bc:send", coordinator), effect, 1)


async def planned_broadcast(coordinator: int, harness: Harness) -> int:
    broadcast = await harness.services.broadcasts.schedule(
        created_by=coordinator,
        text="Später",
        recipients=AudienceFilter("subscribers"),
        send_at=datetime.now(UTC) + timedelta(days=1),
    )
    return broadcast.id


async def broadcast_state(harness: Harness, broadcast_id: int, action: str) -> object:
    """The broadcast's status and how often `action` is in the audit log for it."""
    audit = await audited(harness, broadcast_id, action)
    found = await harness.services.broadcasts.get(broadcast_id=broadcast_id)
    return found.status if found else None, audit


def planned_broadcast_case(
    name: str, button: str, action: str, expected: object, *, cancelled: bool = False
) -> None:
    """A case on a broadcast planned for tomorrow (cancelled first, if asked): a coordinator
    presses `button` ("{}" takes its number); then its status and how often `action` is in
    the audit log must be `expected`."""

    async def prepare(harness: Harness) -> Double:
        coordinator = next(_coordinators)
        number = await planned_broadcast(coordinator, harness)
        if cancelled:
            await harness.press(f"bcx:y:{number}", user_id=coordinator)

        async def effect() -> object:
            return await broadcast_state(harness, number, action)

        return Double(tap(button.format(number), coordinator), effect, expected)

    CASES[name] = prepare


planned_broadcast_case("cancel a broadcast (asks)", "bcx:{}", "broadcast_cancel", ("scheduled", 0))
planned_broadcast_case(
    "cancel a broadcast (confirmed)", "bcx:y:{}", "broadcast_cancel", ("cancelled", 1)
)
planned_broadcast_case(
    "cancelled broadcast: undo",
    "bcx:r:{}",
    "broadcast_resume",
    ("scheduled", 1),
    cancelled=True,
)


async def handed_over(harness: Harness, user: int) -> str:
    """`user` hands a question over and the office has it; its text."""
    question = f"Was ist ein Kulturdolmetscher-Zertifikat, fragt {user}?"
    calls = await harness.send(question, user_id=user)
    [data] = [d for c in calls for _, d in c.buttons() if d.startswith("ho:")]
    await harness.press(data, user_id=user)
    await harness.deliver()
    return question


@case("a coordinator's answer to a hand-over")
async def office_answer(harness: Harness) -> Double:
    user = next(_users)
    question = await handed_over(harness, user)
    reply_to = await harness.delivered(OFFICE_CHAT_ID, question)
    answer = cmd(
        "Bei der IHK.",
        next(_coordinators),
        chat_id=OFFICE_CHAT_ID,
        chat_type="supergroup",
        reply_to=reply_to,
    )

    # Two messages (the twin has its own message id): two answers, each queued once.
    return Double(answer, rows_of(harness, OutboxMessage, OutboxMessage.chat_id == user), 2)


@case("an addition to a handed-over question")
async def addition(harness: Harness) -> Double:
    user = next(_users)
    await handed_over(harness, user)
    effect = rows_of(
        harness,
        OutboxMessage,
        OutboxMessage.chat_id == OFFICE_CHAT_ID,
        OutboxMessage.key.like("handover:%:followup:%"),
        OutboxMessage.text.contains(f"Köln {user}"),
    )
    return Double(cmd(f"Ach ja, und wir sind in Köln {user}.", user), effect, 2)


@case("erase my data (confirmed)")
async def erase(harness: Harness) -> Double:
    user = next(_users)
    await harness.send("/subscribe", user_id=user)
    await harness.send("/deleteme", user_id=user)
    return Double(tap("dm:yes", user), rows_of(harness, Chat, Chat.chat_id == user), 0)


@case("erase my data (no)")
async def erase_no(harness: Harness) -> Double:
    user = next(_users)
    await harness.send("/deleteme", user_id=user)
    return Double(tap("dm:no", user), rows_of(harness, Chat, Chat.chat_id == user), 1)


@case("the bot was blocked")
async def blocked(harness: Harness) -> Double:
    user = next(_users)
    await harness.send("/start", user_id=user)
    payload = {
        "update_id": next(_ids),
        "my_chat_member": {
            "chat": {"id": user, "type": "private", "first_name": "Test"},
            "from": user_dict(user),
            "date": int(time.time()),
            "old_chat_member": {"user": BOT_USER, "status": "member"},
            "new_chat_member": {"user": BOT_USER, "status": "kicked", "until_date": 0},
        },
    }

    async def active() -> object:
        return (await chat_row(harness, user)).active

    return Double(payload, active, False)


@case("questions of one day are counted")
async def questions_counted(harness: Harness) -> Double:
    before = await _questions(harness)

    async def effect() -> object:
        return await _questions(harness) - before

    return Double(cmd("Wie wird das Wetter morgen?", next(_users)), effect, 2)  # two messages


async def _questions(harness: Harness) -> int:
    async with harness.services.sessions() as session:
        return int(await session.scalar(select(func.sum(QuestionStat.count))) or 0)


# ---------------------------------------------------------------------------- the checks
def handled_kinds(harness: Harness) -> tuple[set[str], list[re.Pattern[str]]]:
    """Every command and callback-data pattern the Application has a handler for."""
    commands: set[str] = set()
    patterns: list[re.Pattern[str]] = []

    def walk(handler: object) -> None:
        if isinstance(handler, ConversationHandler):
            nested = [h for hs in handler.states.values() for h in hs]
            for inner in [*handler.entry_points, *nested, *handler.fallbacks]:
                walk(inner)
        elif isinstance(handler, CommandHandler):
            commands.update(handler.commands)
        elif isinstance(handler, CallbackQueryHandler):
            pattern = handler.pattern
            patterns.append(pattern if isinstance(pattern, re.Pattern) else re.compile(".*"))

    for group in harness.app.handlers.values():
        for handler in group:
            walk(handler)
    return commands, patterns


def _data(payload: dict[str, Any]) -> str | None:
    query = payload.get("callback_query")
    return str(query["data"]) if query else None


def _command(payload: dict[str, Any]) -> str | None:
    text = str(payload.get("message", {}).get("text") or "")
    return text[1:].split()[0].split("@")[0] if text.startswith("/") else None


def problems_of(
    harness: Harness, name: str, pair: tuple[dict[str, Any], ...], calls: list[Call]
) -> list[str]:
    """What a person would notice going wrong with this double delivery."""
    texts = harness.services.texts
    errors = {texts.get("de", "common.error"), texts.get("en", "common.error")}
    found = []
    if any(c.text in errors for c in calls):
        found.append(f"{name}: an error reply")
    for payload in pair:
        query = payload.get("callback_query")
        if query is None:
            continue
        answers = [
            c
            for c in calls
            if c.method == "answerCallbackQuery"
            and c.params.get("callback_query_id") == query["id"]
        ]
        if len(answers) != 1:
            found.append(f"{name}: a tap answered {len(answers)} times")
    return found


async def test_every_kind_of_update_twice_at_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # As in production (bot.app): without concurrent updates the pairs would run one by one.
    assert harness.app.concurrent_updates > 1
    commands, patterns = handled_kinds(harness)
    problems: list[str] = []
    covered_commands: set[str] = set()
    covered_data: list[str] = []
    for name, prepare in CASES.items():
        double = await prepare(harness)
        pair = (double.payload, twin(double.payload))
        covered_commands.add(_command(double.payload) or "")
        covered_data.append(_data(double.payload) or "")
        before = len(harness.api.calls)
        logged = len(caplog.records)
        await asyncio.gather(*(harness.push(payload) for payload in pair))
        problems += problems_of(harness, name, pair, harness.api.calls[before:])
        failures = [r for r in caplog.records[logged:] if r.levelno >= logging.ERROR]
        problems += [f"{name}: logged {r.getMessage()}" for r in failures]
        if double.effect is not None:
            effect = await double.effect()
            if effect != double.expected:
                problems.append(f"{name}: effect {effect!r}, expected {double.expected!r}")
    assert problems == []
    # Every command and every kind of button the bot has is among the cases.
    assert commands - covered_commands == set()
    unmatched = [p.pattern for p in patterns if not any(p.match(d) for d in covered_data if d)]
    # Teaching buttons need an unanswered question and its check: their double tap at once is
    # tested in tests/test_teaching.py (one row, one audit entry, no error reply).
    assert [p for p in unmatched if not p.startswith(tuple(COVERED_ELSEWHERE))] == []


async def test_the_first_two_messages_of_a_new_person_at_once(harness: Harness) -> None:
    for first, second in (("/start", "/help"), ("/help", "/help"), ("Was ist KAUSA?", "/start")):
        user = next(_users)
        calls = await asyncio.gather(
            harness.send(first, user_id=user), harness.send(second, user_id=user)
        )
        replies = [c for batch in calls for c in batch if c.chat_id == user]
        error = harness.services.texts.get("de", "common.error")
        assert [c.text for c in replies if c.text == error] == []
        assert len([c for c in replies if c.method == "sendMessage"]) >= 2, "both answered"
        assert await count(harness, Chat, Chat.chat_id == user) == 1


async def test_a_double_tap_is_answered_like_the_first(harness: Harness) -> None:
    user = next(_users)
    partner_id, due = await add_partner(harness, contact=user)
    first = tap(f"rp:done:{partner_id}:{due:%Y%m%d}", user)
    await asyncio.gather(harness.push(first), harness.push(twin(first)))
    again = await harness.push(twin(first))  # a third tap, later
    [answer] = [c for c in again if c.method == "answerCallbackQuery"]
    assert "bereits als eingereicht" in answer.text
    meeting_id = await add_meeting(harness)
    first = tap(f"ne:announce:{meeting_id}", ADMIN)
    before = len(harness.api.calls)
    await asyncio.gather(harness.push(first), harness.push(twin(first)))
    calls = harness.api.calls[before:]
    answers = sorted(c.text for c in calls if c.method == "answerCallbackQuery")
    assert answers == ["", harness.services.texts.get("de", "common.already_done")]
    assert len([c for c in calls if "Hinweis Nr." in c.text]) == 1, "one confirmation"


async def test_an_update_delivered_again_is_taken_once(harness: Harness) -> None:
    """Telegram, or a proxy in front of two bot processes, may deliver one update again (same
    update id) when the first answer was late: the form takes each answer once, and the second
    delivery, later or at the same moment, gets no reply at all."""
    user = next(_users)
    await harness.send("/join", user_id=user)
    name = message_update("Verein Doppelt", user_id=user)
    assert "(2/10)" in str([c.text for c in await harness.push(name)])
    assert await harness.push(copy.deepcopy(name)) == []  # not taken as the type's answer
    assert "(3/10)" in str(
        [c.text for c in await harness.press("ob:type:association", user_id=user)]
    )
    before = len(harness.api.calls)
    place = message_update("Köln", user_id=user)
    await asyncio.gather(harness.push(place), harness.push(copy.deepcopy(place)))
    replies = [c.text for c in harness.api.calls[before:] if c.chat_id == user]
    assert len([t for t in replies if "(4/10)" in t]) == 1, replies
    assert len(replies) == 1, "no second reply (no 'already done', no error)"
    size = callback_update("ob:size:s", user_id=user)
    await asyncio.gather(harness.push(size), harness.push(copy.deepcopy(size)))
    answers = [c for c in harness.api.calls[before:] if c.method == "answerCallbackQuery"]
    assert len(answers) == 1, "one press, one answer"
    assert "(6/10)" in await answer_text(harness, "Ayşe Yılmaz", user)  # the form goes on


async def answer_text(harness: Harness, text: str, user: int) -> str:
    """The texts of the bot's answer to a message, joined."""
    return " ".join(c.text for c in await harness.send(text, user_id=user))
