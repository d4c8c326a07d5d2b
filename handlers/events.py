"""/events (upcoming meetings with .ics and RSVP), RSVP buttons, and /newevent for coordinators.

/newevent asks title → start → end → place → description → audience, then shows a summary;
only its "Anlegen" creates the meeting. The draft lives in the database (bot.services.waiting):
a restart or a second bot process between two steps loses nothing, and of two taps at once on
"Anlegen" exactly one creates the meeting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import callbacks
from bot.delivery import keyboard
from bot.services.broadcasts import AUDIENCES, AlreadyScheduled, AudienceFilter
from bot.services.dates import DateError, DateProblem, parse_when
from bot.services.localtime import local
from bot.services.reminders import MEETING_BUTTON, MEETING_LIMITS, MeetingPlan
from bot.services.waiting import Wait, WaitKind
from bot.texts import CAPTION_LIMIT, visible_length
from handlers.base import (
    BotContext,
    Press,
    Turn,
    coordinators_only,
    flow_opener,
    on_press,
    on_turn,
    private_chat_only,
)
from knowledge.text import LANGS

NEW_PREFIX = callbacks.NEW_EVENT
MAX_MEETING = timedelta(days=14)  # longer is a typo in the end date, not a network meeting


class Step(StrEnum):
    """Where the coordinator is in creating a meeting (the draft's "step")."""

    TITLE = "title"
    START = "start"
    END = "end"
    PLACE = "place"
    DESCRIPTION = "description"
    AUDIENCE = "audience"
    CONFIRM = "confirm"


@on_turn
async def show_events(turn: Turn) -> None:
    """/events: each upcoming meeting with its calendar file and RSVP buttons."""
    reminders = turn.services.reminders
    meetings = await reminders.upcoming(limit=5)
    if not meetings:
        await turn.say("reminders.events_none")
        return
    coordinator = turn.services.roles.is_coordinator(turn.user.id if turn.user else None)
    for meeting in meetings:
        text = reminders.meeting_text(turn.lang, meeting)
        if coordinator:
            yes, no = await reminders.rsvp_counts(meeting_id=meeting.id)
            text += "\n\n" + turn.text("reminders.rsvp_counts", yes=yes, no=no)
        buttons = keyboard(reminders.meeting_buttons(turn.lang, meeting.id))
        calendar = InputFile(
            reminders.ics(meeting).encode(),
            filename=reminders.calendar_file_name(turn.lang, meeting),
        )
        if visible_length(text) <= CAPTION_LIMIT:
            await turn.context.bot.send_document(
                turn.chat.id, calendar, caption=text, reply_markup=buttons
            )
            continue
        # Too long for a caption: the whole text as a message, the calendar file after it.
        await turn.context.bot.send_message(turn.chat.id, text, reply_markup=buttons)
        await turn.context.bot.send_document(turn.chat.id, calendar)


@on_press
async def rsvp(press: Press) -> None:
    """Attend / not attend."""
    answer = press.group(1)
    recorded = await press.services.reminders.rsvp(
        meeting_id=int(press.group(2)), chat_id=press.chat.id, attending=answer == "yes"
    )
    key = f"reminders.rsvp_{answer}" if recorded else "reminders.rsvp_closed"
    await press.alert(key)


def _example(turn: Turn) -> dict[str, str]:
    zone = turn.services.settings.zone
    example = (turn.services.clock() + timedelta(days=14)).astimezone(zone)
    return {"zone": str(zone), "example": local(example.replace(hour=10, minute=0), zone)}


new_event = coordinators_only(
    flow_opener(WaitKind.NEW_EVENT, Step.TITLE, "reminders.newevent.ask_title")
)


async def receive(turn: Turn, wait: Wait) -> bool:
    """A message while a meeting is being created: the answer to the draft's text step;
    False at a button step (the message is a question then)."""
    if not turn.services.roles.is_coordinator(turn.user.id if turn.user else None):
        await turn.services.waiting.take(wait)  # no longer a coordinator: the draft goes
        return False
    if turn.chat.type != ChatType.PRIVATE or not turn.words:
        return False
    step = wait.step
    if step in (Step.TITLE, Step.PLACE, Step.DESCRIPTION):
        value = await _text(turn, step)
        if value is None:
            return True
        if step == Step.DESCRIPTION and value == "-":
            value = ""
        await _next(turn, wait, {step: value})
    elif step == Step.START:
        await _receive_start(turn, wait)
    elif step == Step.END:
        await _receive_end(turn, wait)
    else:
        return False
    return True


# The question after each text step.
_NEXT = {
    Step.TITLE: (Step.START, "reminders.newevent.ask_start"),
    Step.START: (Step.END, "reminders.newevent.ask_end"),
    Step.END: (Step.PLACE, "reminders.newevent.ask_place"),
    Step.PLACE: (Step.DESCRIPTION, "reminders.newevent.ask_description"),
}


async def _next(turn: Turn, wait: Wait, values: dict[str, str]) -> None:
    """Note the step's answer, then ask the next question (the audience: buttons)."""
    step = Step(wait.step)
    then, ask = _NEXT.get(step, (Step.AUDIENCE, ""))
    draft = {**wait.payload, **values, "step": then}
    if await turn.services.waiting.advance(wait, draft) is None:
        return  # the same answer twice at once: the first one moved the draft on
    if then != Step.AUDIENCE:
        await turn.respond(ask, **_example(turn))
        return
    buttons = [
        [
            InlineKeyboardButton(
                turn.text(f"broadcast.audience.{a}"), callback_data=f"{NEW_PREFIX}aud:{a}"
            )
        ]
        for a in AUDIENCES
    ]
    await turn.reply(turn.text("reminders.newevent.ask_audience"), InlineKeyboardMarkup(buttons))


async def _text(turn: Turn, field: str) -> str | None:
    value = " ".join(turn.words.split())
    limit = MEETING_LIMITS[field]
    if not value or len(value) > limit:
        await turn.respond("reminders.newevent.too_long", limit=limit)
        return None
    return value


def _when(turn: Turn, text: str, *, after: datetime) -> datetime | DateError:
    """A moment as people type it ("20.1.2027 10 Uhr", "morgen 9 Uhr", ISO), after `after`."""
    zone = turn.services.settings.zone
    return parse_when(text, now=after, zone=zone, lang=turn.lang)


async def _receive_start(turn: Turn, wait: Wait) -> None:
    """Start (local time, in the future), as people type dates; refusals say why."""
    start = _when(turn, turn.words, after=turn.services.clock())
    if isinstance(start, DateError):
        await turn.respond(start.key)
        return
    await _next(turn, wait, {"start": start.isoformat()})


async def _receive_end(turn: Turn, wait: Wait) -> None:
    """End: a time alone (on the start's day) or a date with a time, after the start.

    A date without a year is read from the start's day on, not from the start itself: an end
    of "1.12. 17 Uhr" for a start on 1.12. at 18:30 is refused, not taken for next year."""
    start = datetime.fromisoformat(str(wait.payload.get("start")))
    local_start = start.astimezone(turn.services.settings.zone)
    start_of_day = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    end = _when(turn, turn.words, after=start_of_day)
    if isinstance(end, DateError) and end.reason is DateProblem.MISSING_DATE:
        end = _when(turn, f"{local_start:%d.%m.%Y} {turn.words}", after=start_of_day)
    if isinstance(end, DateError):
        key = "reminders.newevent.bad_end" if end.reason is DateProblem.IN_PAST else end.key
        await turn.respond(key)
        return
    if end <= start:
        await turn.respond("reminders.newevent.bad_end")
        return
    if end - start > MAX_MEETING:  # "4.3. 17 Uhr" for a start on 5.3. reads as next year
        await turn.respond("reminders.newevent.end_too_late", days=MAX_MEETING.days)
        return
    await _next(turn, wait, {"end": end.isoformat()})


async def _draft_at(press: Press, step: Step) -> Wait | None:
    """The meeting draft if it is at `step`; else the press is answered ("already done" when
    the draft has moved past it, "expired" when there is none)."""
    wait = await press.waiting(WaitKind.NEW_EVENT)
    if wait is not None and wait.step == step:
        return wait
    if wait is not None and step == Step.AUDIENCE and wait.step == Step.CONFIRM:
        await press.done_already()
    else:
        await press.expired()
    return None


@coordinators_only
@on_press
async def receive_audience(press: Press) -> None:
    """Audience chosen: the summary, with "Anlegen" and "Abbrechen"."""
    audience = press.group(1)
    wait = await _draft_at(press, Step.AUDIENCE)
    if wait is None:
        return
    if audience not in AUDIENCES:
        await press.expired()
        return
    draft = {**wait.payload, "audience": audience, "step": Step.CONFIRM}
    if await press.services.waiting.advance(wait, draft) is None:
        await press.done_already()  # the first of two taps at once showed the summary
        return
    await press.ok()
    zone = press.services.settings.zone
    summary = press.text(
        "reminders.newevent.summary",
        title=draft["title"],
        start=local(datetime.fromisoformat(str(draft["start"])), zone),
        end=local(datetime.fromisoformat(str(draft["end"])), zone),
        place=draft["place"],
        description=draft.get("description") or press.text("onboarding.none"),
        audience=press.text(f"broadcast.audience.{audience}"),
    )
    buttons = [
        InlineKeyboardButton(press.text(f"reminders.newevent.{key}"), callback_data=data)
        for key, data in (("create", f"{NEW_PREFIX}create"), ("abort", f"{NEW_PREFIX}abort"))
    ]
    await press.show(summary, InlineKeyboardMarkup([buttons]))


@coordinators_only
@on_press
async def confirm(press: Press) -> None:
    """ "Anlegen": create the meeting and offer to announce it; "Abbrechen": discard it."""
    wait = await press.waiting(WaitKind.NEW_EVENT)
    if wait is None or wait.step != Step.CONFIRM:
        await press.expired()  # created, discarded or cancelled already, or an old summary
        return
    if not await press.services.waiting.take(wait):
        await press.done_already()  # the first of two taps at once decided
        return
    await press.ok()
    if press.group(1) == "abort":
        await press.show(press.text("common.cancelled"), None)
        return
    draft = wait.payload
    place = str(draft["place"])
    online = place if place.startswith(("https://", "http://")) else None
    plan = MeetingPlan(
        title=str(draft["title"]),
        starts_at=datetime.fromisoformat(str(draft["start"])),
        ends_at=datetime.fromisoformat(str(draft["end"])),
        place=None if online else place,
        online_url=online,
        description=str(draft.get("description") or "") or None,
        audience=str(draft["audience"]),
    )
    meeting = await press.services.reminders.create_meeting(
        plan, created_by=press.user.id if press.user else None
    )
    announce_button = InlineKeyboardButton(
        press.text("reminders.newevent.announce"),
        callback_data=f"{NEW_PREFIX}announce:{meeting.id}",
    )
    offsets = press.services.reminders.rules.meeting_offsets
    created = (
        press.text(
            "reminders.newevent.created", number=meeting.id, when=days_before(press, offsets)
        )
        if offsets
        else press.text("reminders.newevent.created_quiet", number=meeting.id)
    )
    await press.show(created, InlineKeyboardMarkup([[announce_button]]))


def days_before(turn: Turn, offsets: Sequence[int]) -> str:
    """ "7 Tage und 1 Tag" / "14 days, 7 days and 1 day": the configured reminder offsets."""
    parts = [turn.text("common.days", days=days) for days in sorted(set(offsets), reverse=True)]
    if len(parts) < 2:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {turn.text('common.and')} {parts[-1]}"


@coordinators_only
@on_press
async def announce(press: Press) -> None:
    """Announce a meeting to its audience right away, as a broadcast."""
    if press.user is None:
        return
    services = press.services
    meeting = await services.reminders.meeting(meeting_id=int(press.group(1)))
    if meeting is None:
        await press.expired()
        return
    # One notice per language, each to the chats that read it (a chat without a language reads
    # German), so nobody gets the meeting in the other language; none for a language nobody reads.
    languages = [
        lang
        for lang in LANGS
        if await services.broadcasts.count(AudienceFilter(meeting.audience, language=lang))
    ] or ["de"]
    numbers: list[str] = []
    for lang in languages:
        try:
            broadcast = await services.broadcasts.schedule(
                created_by=press.user.id,
                text=services.reminders.meeting_text(lang, meeting),
                recipients=AudienceFilter(meeting.audience, language=lang),
                report_chat_id=press.chat.id,
                # The German notice keeps the key of the time when there was only one.
                key=f"meeting:{meeting.id}" if lang == "de" else f"meeting:{meeting.id}:{lang}",
            )
        except AlreadyScheduled:
            if not numbers:  # the first notice is the claim: a double tap stops here
                await press.done_already()
                return
            continue
        numbers.append(str(broadcast.id))
    await press.ok()
    services.wake_delivery()
    await press.drop_buttons()
    await press.say("reminders.newevent.announced", number=", ".join(numbers))


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Events for everyone; /newevent and its buttons (its text steps come via
    handlers.waiting)."""
    return [
        CommandHandler("newevent", new_event, filters=filters.ChatType.PRIVATE),
        private_chat_only("newevent"),
        CallbackQueryHandler(receive_audience, pattern=rf"^{NEW_PREFIX}aud:(.*)$"),
        CallbackQueryHandler(confirm, pattern=rf"^{NEW_PREFIX}(create|abort)$"),
        CommandHandler("events", show_events),
        CallbackQueryHandler(rsvp, pattern=rf"^{MEETING_BUTTON}(yes|no):(\d+)$"),
        CallbackQueryHandler(announce, pattern=rf"^{NEW_PREFIX}announce:(\d+)$"),
    ]
