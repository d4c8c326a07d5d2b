"""/events (upcoming meetings with .ics and RSVP), RSVP buttons, and /newevent for coordinators."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import callbacks
from bot.delivery import keyboard
from bot.services.broadcasts import AUDIENCES, AlreadyScheduled
from bot.services.dates import DateError, DateProblem, parse_when
from bot.services.localtime import local
from bot.services.reminders import MEETING_BUTTON
from handlers.base import (
    BotContext,
    Press,
    Turn,
    coordinators_only,
    draft_closer,
    draft_opener,
    on_press,
    on_turn,
)

NEW_PREFIX = callbacks.NEW_EVENT
_DRAFT = "meeting_draft"
_CREATED = "created"  # in the draft once its meeting exists
_LIMITS = {"title": 200, "place": 300, "description": 1500}


class Step(IntEnum):
    """Where the coordinator is in creating a meeting."""

    TITLE = 1
    START = 2
    END = 3
    PLACE = 4
    DESCRIPTION = 5
    AUDIENCE = 6


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
        await turn.context.bot.send_document(
            turn.chat.id,
            InputFile(reminders.ics(meeting).encode(), filename=f"treffen-{meeting.id}.ics"),
            caption=text[:1024],
            reply_markup=keyboard(reminders.meeting_buttons(turn.lang, meeting.id)),
        )


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


def _draft(turn: Turn) -> dict[str, object]:
    draft = (turn.context.user_data or {}).get(_DRAFT)
    return draft if isinstance(draft, dict) else {}


new_event = coordinators_only(draft_opener(_DRAFT, "reminders.newevent.ask_title", Step.TITLE))


async def _text(turn: Turn, field: str) -> str | None:
    value = " ".join(turn.words.split())
    limit = _LIMITS.get(field, 300)
    if not value or len(value) > limit:
        await turn.respond("reminders.newevent.too_long", limit=limit)
        return None
    return value


def _field(
    field: str, step: Step, next_step: Step, ask: str
) -> Callable[[Update, BotContext], Coroutine[Any, Any, Step | None]]:
    """A step that stores one text field of the draft, then asks for the next."""

    @coordinators_only
    @on_turn
    async def receive(turn: Turn) -> Step:
        value = await _text(turn, field)
        if value is None:
            return step
        _draft(turn)[field] = value
        await turn.respond(ask, **_example(turn))
        return next_step

    receive.__doc__ = f"The meeting's {field}, then the next question."
    return receive


receive_title = _field("title", Step.TITLE, Step.START, "reminders.newevent.ask_start")
receive_place = _field("place", Step.PLACE, Step.DESCRIPTION, "reminders.newevent.ask_description")


def _when(turn: Turn, text: str, *, after: datetime) -> datetime | DateError:
    """A moment as people type it ("20.1.2027 10 Uhr", "morgen 9 Uhr", ISO), after `after`."""
    zone = turn.services.settings.zone
    return parse_when(text, now=after, zone=zone, lang=turn.lang)


@coordinators_only
@on_turn
async def receive_start(turn: Turn) -> Step:
    """Start (local time, in the future), as people type dates; refusals say why."""
    start = _when(turn, turn.words, after=turn.services.clock())
    if isinstance(start, DateError):
        await turn.respond(start.key)
        return Step.START
    _draft(turn)["start"] = start.isoformat()
    await turn.respond("reminders.newevent.ask_end")
    return Step.END


@coordinators_only
@on_turn
async def receive_end(turn: Turn) -> Step:
    """End: a time alone (on the start's day) or a date with a time, after the start."""
    start = datetime.fromisoformat(str(_draft(turn).get("start")))
    end = _when(turn, turn.words, after=start)
    if isinstance(end, DateError) and end.reason is DateProblem.MISSING_DATE:
        day = start.astimezone(turn.services.settings.zone).strftime("%d.%m.%Y")
        end = _when(turn, f"{day} {turn.words}", after=start)
    if isinstance(end, DateError):
        key = "reminders.newevent.bad_end" if end.reason is DateProblem.IN_PAST else end.key
        await turn.respond(key)
        return Step.END
    _draft(turn)["end"] = end.isoformat()
    await turn.respond("reminders.newevent.ask_place")
    return Step.PLACE


@coordinators_only
@on_turn
async def receive_description(turn: Turn) -> Step:
    """Description ("-" for none); then the audience buttons."""
    value = await _text(turn, "description")
    if value is None:
        return Step.DESCRIPTION
    _draft(turn)["description"] = "" if value == "-" else value
    buttons = [
        [
            InlineKeyboardButton(
                turn.text(f"broadcast.audience.{a}"), callback_data=f"{NEW_PREFIX}aud:{a}"
            )
        ]
        for a in AUDIENCES
    ]
    await turn.reply(turn.text("reminders.newevent.ask_audience"), InlineKeyboardMarkup(buttons))
    return Step.AUDIENCE


@coordinators_only
@on_press
async def receive_audience(press: Press) -> int:
    """Audience chosen: create the meeting and offer to announce it now."""
    audience = press.group(1)
    draft = _draft(press)
    if audience not in AUDIENCES or "place" not in draft:
        if _CREATED in draft:  # the first of two taps creates the meeting
            await press.done_already()
            return ConversationHandler.END
        await press.expired()
        return Step.AUDIENCE
    # Taken without a pause in between: a second tap at the same moment finds it gone.
    press.context.user_data[_DRAFT] = {_CREATED: True}  # type: ignore[index]
    await press.ok()
    place = str(draft["place"])
    online = place if place.startswith(("https://", "http://")) else None
    meeting = await press.services.reminders.create_meeting(
        title=str(draft["title"]),
        starts_at=datetime.fromisoformat(str(draft["start"])),
        ends_at=datetime.fromisoformat(str(draft["end"])),
        place=None if online else place,
        online_url=online,
        description=str(draft.get("description") or "") or None,
        audience=audience,
        created_by=press.user.id if press.user else None,
    )
    announce_button = InlineKeyboardButton(
        press.text("reminders.newevent.announce"),
        callback_data=f"{NEW_PREFIX}announce:{meeting.id}",
    )
    await press.query.edit_message_text(
        press.text("reminders.newevent.created", number=meeting.id),
        reply_markup=InlineKeyboardMarkup([[announce_button]]),
    )
    return ConversationHandler.END


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
    try:
        broadcast = await services.broadcasts.schedule(
            created_by=press.user.id,
            text=services.reminders.meeting_text("de", meeting),
            audience=meeting.audience,
            report_chat_id=press.chat.id,
            key=f"meeting:{meeting.id}",
        )
    except AlreadyScheduled:  # announced already (a double tap)
        await press.done_already()
        return
    await press.ok()
    services.wake_delivery()
    await press.drop_buttons()
    await press.say("reminders.newevent.announced", number=broadcast.id)


cancel_event = draft_closer(_DRAFT, "common.cancelled")


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Events for everyone, the /newevent conversation (fresh per Application)."""
    private = filters.ChatType.PRIVATE
    text = private & filters.TEXT & ~filters.COMMAND
    with warnings.catch_warnings():
        # Buttons are tracked per chat, not per message: one meeting draft at a time.
        warnings.filterwarnings("ignore", message=".*per_message.*")
        conversation: ConversationHandler[BotContext] = ConversationHandler(
            entry_points=[CommandHandler("newevent", new_event, filters=private)],
            states={
                Step.TITLE: [MessageHandler(text, receive_title)],
                Step.START: [MessageHandler(text, receive_start)],
                Step.END: [MessageHandler(text, receive_end)],
                Step.PLACE: [MessageHandler(text, receive_place)],
                Step.DESCRIPTION: [MessageHandler(text, receive_description)],
                Step.AUDIENCE: [
                    CallbackQueryHandler(receive_audience, pattern=rf"^{NEW_PREFIX}aud:(.*)$")
                ],
            },
            fallbacks=[CommandHandler("cancel", cancel_event)],
            conversation_timeout=timedelta(minutes=30),
            name="newevent",
        )
    return [
        conversation,
        CommandHandler("events", show_events),
        CallbackQueryHandler(rsvp, pattern=rf"^{MEETING_BUTTON}(yes|no):(\d+)$"),
        CallbackQueryHandler(announce, pattern=rf"^{NEW_PREFIX}announce:(\d+)$"),
    ]
