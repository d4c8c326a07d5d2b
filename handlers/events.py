"""/events (upcoming meetings with .ics and RSVP), RSVP buttons, and /newevent for coordinators."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from enum import IntEnum

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
from bot.services.reminders import MEETING_BUTTON
from handlers.base import BotContext, already_done, coordinators_only, drop_buttons, user_language

NEW_PREFIX = callbacks.NEW_EVENT
_DRAFT = "meeting_draft"
_CREATED = "created"  # in the draft once its meeting exists
_FORMAT = "%d.%m.%Y %H:%M"
_LIMITS = {"title": 200, "place": 300, "description": 1500}


class Step(IntEnum):
    """Where the coordinator is in creating a meeting."""

    TITLE = 1
    START = 2
    END = 3
    PLACE = 4
    DESCRIPTION = 5
    AUDIENCE = 6


async def show_events(update: Update, context: BotContext) -> None:
    """/events: each upcoming meeting with its calendar file and RSVP buttons."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    reminders = context.services.reminders
    meetings = await reminders.upcoming(limit=5)
    if not meetings:
        await context.bot.send_message(chat.id, texts.get(lang, "reminders.events_none"))
        return
    coordinator = context.services.roles.is_coordinator(user.id if user else None)
    for meeting in meetings:
        text = reminders.meeting_text(lang, meeting)
        if coordinator:
            yes, no = await reminders.rsvp_counts(meeting_id=meeting.id)
            text += "\n\n" + texts.get(lang, "reminders.rsvp_counts", yes=yes, no=no)
        await context.bot.send_document(
            chat.id,
            InputFile(reminders.ics(meeting).encode(), filename=f"treffen-{meeting.id}.ics"),
            caption=text[:1024],
            reply_markup=keyboard(reminders.meeting_buttons(lang, meeting.id)),
        )


async def rsvp(update: Update, context: BotContext) -> None:
    """Attend / not attend."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    answer, _, raw_id = (query.data or "").removeprefix(MEETING_BUTTON).partition(":")
    if answer not in ("yes", "no") or not raw_id.isdigit():
        await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return
    recorded = await context.services.reminders.rsvp(
        meeting_id=int(raw_id), chat_id=chat.id, attending=answer == "yes"
    )
    key = (
        ("reminders.rsvp_yes" if answer == "yes" else "reminders.rsvp_no")
        if recorded
        else "reminders.rsvp_closed"
    )
    await query.answer(texts.get(lang, key), show_alert=True)


async def _say(update: Update, text: str, **kwargs: object) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, **kwargs)  # type: ignore[arg-type]


def _message_text(update: Update) -> str:
    message = update.effective_message
    return (message.text or "").strip() if message else ""


def _example(context: BotContext) -> dict[str, str]:
    zone = context.services.settings.zone
    example = (datetime.now(zone) + timedelta(days=14)).replace(hour=10, minute=0)
    return {"zone": str(zone), "example": example.strftime(_FORMAT)}


def _draft(context: BotContext) -> dict[str, object]:
    draft = (context.user_data or {}).get(_DRAFT)
    return draft if isinstance(draft, dict) else {}


@coordinators_only
async def new_event(update: Update, context: BotContext) -> Step:
    """/newevent: ask for the title."""
    lang = await user_language(update, context)
    context.user_data[_DRAFT] = {}  # type: ignore[index]
    await _say(
        update,
        context.services.texts.get(lang, "reminders.newevent.ask_title"),
    )
    return Step.TITLE


async def _text(update: Update, context: BotContext, field: str) -> str | None:
    message = update.effective_message
    lang = await user_language(update, context)
    value = " ".join((message.text or "").split()) if message else ""
    limit = _LIMITS.get(field, 300)
    if not value or len(value) > limit:
        if message:
            await message.reply_text(
                context.services.texts.get(lang, "reminders.newevent.too_long", limit=limit)
            )
        return None
    return value


@coordinators_only
async def receive_title(update: Update, context: BotContext) -> Step:
    """Title, then ask for the start."""
    value = await _text(update, context, "title")
    if value is None:
        return Step.TITLE
    _draft(context)["title"] = value
    lang = await user_language(update, context)
    await _say(
        update,
        context.services.texts.get(lang, "reminders.newevent.ask_start", **_example(context)),
    )
    return Step.START


@coordinators_only
async def receive_start(update: Update, context: BotContext) -> Step:
    """Start (local time, in the future)."""
    lang = await user_language(update, context)
    texts = context.services.texts
    zone = context.services.settings.zone
    try:
        start = datetime.strptime(_message_text(update), _FORMAT).replace(tzinfo=zone)
        if start <= datetime.now(zone):
            raise ValueError("past")
    except ValueError:
        await _say(update, texts.get(lang, "reminders.newevent.bad_time"))
        return Step.START
    _draft(context)["start"] = start.isoformat()
    await _say(update, texts.get(lang, "reminders.newevent.ask_end"))
    return Step.END


@coordinators_only
async def receive_end(update: Update, context: BotContext) -> Step:
    """End: a time on the same day or a full date and time."""
    lang = await user_language(update, context)
    texts = context.services.texts
    start = datetime.fromisoformat(str(_draft(context).get("start")))
    raw = _message_text(update)
    try:
        if len(raw) <= 5:
            clock = datetime.strptime(raw, "%H:%M")
            end = start.replace(hour=clock.hour, minute=clock.minute)
        else:
            end = datetime.strptime(raw, _FORMAT).replace(tzinfo=start.tzinfo)
    except ValueError:
        await _say(update, texts.get(lang, "reminders.newevent.bad_time"))
        return Step.END
    if end <= start:
        await _say(update, texts.get(lang, "reminders.newevent.bad_end"))
        return Step.END
    _draft(context)["end"] = end.isoformat()
    await _say(update, texts.get(lang, "reminders.newevent.ask_place"))
    return Step.PLACE


@coordinators_only
async def receive_place(update: Update, context: BotContext) -> Step:
    """Place, or an online link."""
    value = await _text(update, context, "place")
    if value is None:
        return Step.PLACE
    _draft(context)["place"] = value
    lang = await user_language(update, context)
    await _say(update, context.services.texts.get(lang, "reminders.newevent.ask_description"))
    return Step.DESCRIPTION


@coordinators_only
async def receive_description(update: Update, context: BotContext) -> Step:
    """Description ("-" for none); then the audience buttons."""
    value = await _text(update, context, "description")
    if value is None:
        return Step.DESCRIPTION
    _draft(context)["description"] = "" if value == "-" else value
    lang = await user_language(update, context)
    texts = context.services.texts
    buttons = [
        [
            InlineKeyboardButton(
                texts.get(lang, f"broadcast.audience.{a}"), callback_data=f"{NEW_PREFIX}aud:{a}"
            )
        ]
        for a in AUDIENCES
    ]
    await _say(
        update,
        texts.get(lang, "reminders.newevent.ask_audience"),
        reply_markup=InlineKeyboardMarkup(buttons),
    )
    return Step.AUDIENCE


@coordinators_only
async def receive_audience(update: Update, context: BotContext) -> int:
    """Audience chosen: create the meeting and offer to announce it now."""
    query = update.callback_query
    user = update.effective_user
    lang = await user_language(update, context)
    texts = context.services.texts
    audience = ((query.data or "") if query else "").removeprefix(f"{NEW_PREFIX}aud:")
    draft = _draft(context)
    if query is None or audience not in AUDIENCES or "place" not in draft:
        if query is None:
            return Step.AUDIENCE
        if _CREATED in draft:  # the first of two taps creates the meeting
            await already_done(update, context, lang)
            return ConversationHandler.END
        await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return Step.AUDIENCE
    # Taken without a pause in between: a second tap at the same moment finds it gone.
    context.user_data[_DRAFT] = {_CREATED: True}  # type: ignore[index]
    await query.answer()
    place = str(draft["place"])
    online = place if place.startswith(("https://", "http://")) else None
    meeting = await context.services.reminders.create_meeting(
        title=str(draft["title"]),
        starts_at=datetime.fromisoformat(str(draft["start"])),
        ends_at=datetime.fromisoformat(str(draft["end"])),
        place=None if online else place,
        online_url=online,
        description=str(draft.get("description") or "") or None,
        audience=audience,
        created_by=user.id if user else None,
    )
    await query.edit_message_text(
        texts.get(lang, "reminders.newevent.created", number=meeting.id),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        texts.get(lang, "reminders.newevent.announce"),
                        callback_data=f"{NEW_PREFIX}announce:{meeting.id}",
                    )
                ]
            ]
        ),
    )
    return ConversationHandler.END


@coordinators_only
async def announce(update: Update, context: BotContext) -> None:
    """Announce a meeting to its audience right away, as a broadcast."""
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    if query is None or user is None or chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    raw = (query.data or "").removeprefix(f"{NEW_PREFIX}announce:")
    meeting = (
        await context.services.reminders.meeting(meeting_id=int(raw)) if raw.isdigit() else None
    )
    if meeting is None:
        await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return
    try:
        broadcast = await context.services.broadcasts.schedule(
            created_by=user.id,
            text=context.services.reminders.meeting_text("de", meeting),
            audience=meeting.audience,
            report_chat_id=chat.id,
            key=f"meeting:{meeting.id}",
        )
    except AlreadyScheduled:  # announced already (a double tap)
        await already_done(update, context, lang)
        return
    await query.answer()
    context.services.wake_delivery()
    await drop_buttons(update)
    await context.bot.send_message(
        chat.id, texts.get(lang, "reminders.newevent.announced", number=broadcast.id)
    )


async def cancel_event(update: Update, context: BotContext) -> int:
    """/cancel inside /newevent."""
    lang = await user_language(update, context)
    (context.user_data or {}).pop(_DRAFT, None)
    if update.effective_message:
        await _say(update, context.services.texts.get(lang, "common.cancelled"))
    return ConversationHandler.END


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
                    CallbackQueryHandler(receive_audience, pattern=f"^{NEW_PREFIX}aud:")
                ],
            },
            fallbacks=[CommandHandler("cancel", cancel_event)],
            conversation_timeout=timedelta(minutes=30),
            name="newevent",
        )
    return [
        conversation,
        CommandHandler("events", show_events),
        CallbackQueryHandler(rsvp, pattern=f"^{MEETING_BUTTON}"),
        CallbackQueryHandler(announce, pattern=f"^{NEW_PREFIX}announce:"),
    ]
