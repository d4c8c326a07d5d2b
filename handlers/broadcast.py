"""/broadcast (write → audience → language → preview → send now or later) and /broadcasts.

Every step checks the coordinator role again: a forged button from a stranger does nothing.
The draft lives in the database (bot.services.waiting), so a restart or a second bot process
between two steps loses nothing. Each step is compare-and-set on the draft's version: of two
presses of the same button at once (a double tap), one moves on and the other is only
answered; a button that does not fit the draft's step is answered "expired".
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import callbacks
from bot.delivery import keyboard
from bot.services.broadcasts import (
    AUDIENCES,
    MAX_TEXT,
    OPEN_STATUSES,
    AlreadyScheduled,
    Audience,
    AudienceFilter,
    BroadcastStatus,
)
from bot.services.dates import DateError, parse_when
from bot.services.localtime import local
from bot.services.onboarding import ORG_TYPES as PARTNER_TYPES
from bot.services.waiting import Wait, WaitKind
from bot.texts import visible_length
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

PREFIX = callbacks.BROADCAST
CANCEL_PREFIX = callbacks.BROADCAST_CANCEL
LANGUAGES = ("any", "de", "en")  # the language filter


class Step(StrEnum):
    """Where the coordinator is in writing a notice (the draft's "step")."""

    TEXT = "text"
    AUDIENCE = "audience"
    LANGUAGE = "language"
    PARTNER_TYPE = "partner_type"
    REGION = "region"
    CONFIRM = "confirm"
    WHEN = "when"


def _buttons(pairs: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data)] for label, data in pairs]
    )


start_broadcast = coordinators_only(
    flow_opener(WaitKind.BROADCAST, Step.TEXT, "broadcast.ask_text")
)


async def receive(turn: Turn, wait: Wait) -> bool:
    """A message while a notice is being written: its text, its region filter or its send
    time, depending on the step; False at a button step (the message is a question then)."""
    if not turn.services.roles.is_coordinator(turn.user.id if turn.user else None):
        await turn.services.waiting.take(wait)  # no longer a coordinator: the draft goes
        return False
    if turn.chat.type != ChatType.PRIVATE:
        return False
    if wait.step == Step.TEXT:
        await _receive_text(turn, wait)
    elif wait.step == Step.REGION and turn.words:
        await _receive_region(turn, wait)
    elif wait.step == Step.WHEN and turn.words:
        await _receive_time(turn, wait)
    else:
        return False
    return True


async def _receive_text(turn: Turn, wait: Wait) -> None:
    """The notice's text (with its formatting as HTML); then ask for the audience."""
    message = turn.message
    if message is None or not message.text:
        await turn.respond("broadcast.text_needed")
        return
    text = message.text_html
    # Measured as Telegram will count it (the formatting's tags and "&amp;" do not count).
    length = visible_length(text)
    if length > MAX_TEXT:
        await turn.respond("broadcast.too_long", length=length, limit=MAX_TEXT)
        return
    # The id makes sending idempotent: the same draft sent twice is one broadcast.
    draft = {"step": Step.AUDIENCE, "text": text, "id": secrets.token_hex(6)}
    if await turn.services.waiting.advance(wait, draft) is None:
        return  # the same text twice at once: the first one moved the draft on
    choices = [(turn.text(f"broadcast.audience.{a}"), f"{PREFIX}aud:{a}") for a in AUDIENCES]
    await turn.reply(turn.text("broadcast.ask_audience"), _buttons(choices))


async def _choose(
    press: Press, step: Step, field: str, allowed: Iterable[str], then: Step
) -> tuple[Wait, dict[str, str]] | None:
    """Note the pressed choice in the draft and move to `then`, or answer a repeated or stale
    press; the draft when the flow moves on, None when it stays put."""
    value = press.group(1)
    wait = await press.waiting(WaitKind.BROADCAST)
    if wait is not None and wait.step != step and field in wait.payload:
        await press.done_already()  # pressed twice: the flow moved on already
        return None
    if wait is None or wait.step != step or value not in allowed:
        await press.expired()
        return None
    draft = {**wait.payload, field: value, "step": then}
    moved = await press.services.waiting.advance(wait, draft)
    if moved is None:
        await press.done_already()  # the first of two taps at once moved the flow on
        return None
    await press.ok()
    return moved, draft


@coordinators_only
@on_press
async def choose_audience(press: Press) -> None:
    """Audience chosen; ask for a language filter."""
    if await _choose(press, Step.AUDIENCE, "audience", AUDIENCES, then=Step.LANGUAGE) is None:
        return
    await _ask(
        press, "broadcast.ask_language", "lang", {c: f"broadcast.language.{c}" for c in LANGUAGES}
    )


@coordinators_only
@on_press
async def choose_language(press: Press) -> None:
    """Language chosen: for partner audiences ask for a partner type, else show the preview."""
    chosen = await _choose(press, Step.LANGUAGE, "language", LANGUAGES, then=Step.PARTNER_TYPE)
    if chosen is None:
        return
    wait, draft = chosen
    if draft["audience"] == Audience.SUBSCRIBERS:
        await _preview(press, wait, draft)
        return
    types = {"any": "broadcast.all_types"} | {t: f"onboarding.type.{t}" for t in PARTNER_TYPES}
    await _ask(press, "broadcast.ask_partner_type", "pt", types)


async def _ask(press: Press, question: str, step: str, labels: dict[str, str]) -> None:
    """The next question in place of the last, a button per choice (value: label key)."""
    choices = [(press.text(label), f"{PREFIX}{step}:{value}") for value, label in labels.items()]
    await press.show(press.text(question), _buttons(choices))


@coordinators_only
@on_press
async def choose_partner_type(press: Press) -> None:
    """Partner type chosen; then ask for a region ("-" for all)."""
    allowed = ("any", *PARTNER_TYPES)
    if await _choose(press, Step.PARTNER_TYPE, "partner_type", allowed, then=Step.REGION) is None:
        return
    await press.show(press.text("broadcast.ask_region"), None)


async def _receive_region(turn: Turn, wait: Wait) -> None:
    """A region filter (part of the partners' region), or "-" for all; then the preview."""
    value = " ".join(turn.words.split())[:100]
    draft = {**wait.payload, "region": "" if value == "-" else value}
    await _preview(turn, wait, draft)


def _filters(draft: dict[str, str]) -> AudienceFilter:
    """The draft's recipient filters as the broadcast service takes them."""
    code = draft["language"]
    partner_type = draft.get("partner_type")
    return AudienceFilter(
        draft["audience"],
        language=None if code == "any" else code,
        partner_type=partner_type if partner_type not in (None, "any") else None,
        region=draft.get("region") or None,
    )


async def _preview(turn: Turn, wait: Wait, draft: dict[str, str]) -> None:
    """The preview exactly as recipients see it, the count, and send / later / cancel."""
    code = draft["language"]
    chosen = _filters(draft)
    broadcasts = turn.services.broadcasts
    count = await broadcasts.count(chosen)
    if count == 0:
        if not await turn.services.waiting.take(wait):
            return  # the same step twice at once: the first one answers
    elif await turn.services.waiting.advance(wait, {**draft, "step": Step.CONFIRM}) is None:
        return
    # Each recipient gets the footer in their language: for "all languages" the preview shows
    # the coordinator's own.
    preview = broadcasts.preview(draft["text"], code if code in ("de", "en") else turn.lang)
    await turn.say("broadcast.preview_intro")
    await turn.context.bot.send_message(
        turn.chat.id,
        preview.text,
        reply_markup=keyboard(preview.buttons),
        disable_web_page_preview=True,
    )
    if count == 0:
        await turn.say("broadcast.no_recipients")
        return
    filters_text: str = turn.text(f"broadcast.language.{code}")
    if chosen.partner_type:
        filters_text += ", " + turn.text(f"onboarding.type.{chosen.partner_type}")
    if chosen.region:
        filters_text += ", " + chosen.region
    actions = [("send_now", "send"), ("schedule", "later"), ("abort", "abort")]
    await turn.send(
        turn.text(
            "broadcast.confirm",
            audience=turn.text(f"broadcast.audience.{draft['audience']}"),
            language=filters_text,
            count=count,
        ),
        _buttons([(turn.text(f"broadcast.{key}"), f"{PREFIX}{data}") for key, data in actions]),
    )


async def _schedule(turn: Turn, draft: dict[str, str], send_at: datetime | None) -> None:
    """The draft becomes a broadcast (the caller took it from the waiting state)."""
    user = turn.user
    if user is None:
        return
    services = turn.services
    try:
        broadcast = await services.broadcasts.schedule(
            created_by=user.id,
            text=draft["text"],
            recipients=_filters(draft),
            send_at=send_at,
            report_chat_id=turn.chat.id,
            key=f"draft:{user.id}:{draft['id']}",
        )
    except AlreadyScheduled:  # this draft went out already (its time sent twice)
        await turn.say("common.already_done")
        return
    await services.audit(actor_id=user.id, action="broadcast", subject=broadcast.id)
    if send_at is None:
        sent = await turn.say("broadcast.started", number=broadcast.id)
        await services.broadcasts.remember_progress_message(
            broadcast_id=broadcast.id, chat_id=turn.chat.id, message_id=sent.message_id
        )
        services.wake_delivery()
    else:
        local_time = local(send_at, services.settings.zone)
        await turn.say("broadcast.scheduled", number=broadcast.id, when=local_time)


@coordinators_only
@on_press
async def confirm(press: Press) -> None:
    """Send now, ask for a time, or discard."""
    action = press.group(1)
    wait = await press.waiting(WaitKind.BROADCAST)
    if wait is not None and wait.step == Step.WHEN:
        await press.done_already()  # "later" pressed twice: the time is asked for already
        return
    if wait is None or wait.step != Step.CONFIRM:
        await press.expired()  # sent, discarded or cancelled already, or an old preview
        return
    draft = dict(wait.payload)
    waiting = press.services.waiting
    if action == "later":
        decided = await waiting.advance(wait, {**draft, "step": Step.WHEN}) is not None
    else:
        decided = await waiting.take(wait)
    if not decided:
        await press.done_already()  # the first of two taps at once decided
        return
    await press.ok()
    await press.drop_buttons()
    if action == "send":
        await _schedule(press, draft, None)
    elif action == "later":
        await press.say("broadcast.ask_time", **_time_hint(press))
    else:
        await press.say("broadcast.aborted")


def _time_hint(turn: Turn) -> dict[str, str]:
    zone = turn.services.settings.zone
    example = (turn.services.clock() + timedelta(days=1)).astimezone(zone)
    return {"zone": str(zone), "example": local(example.replace(hour=9, minute=0), zone)}


async def _receive_time(turn: Turn, wait: Wait) -> None:
    """A send time as people type it ("morgen 9 Uhr", "1.12. 18:30", "20.1.2027 10 Uhr"), in
    the future; otherwise what is wrong with it (a day that does not exist, the hour the
    clocks skip, a time in the past) and the draft keeps waiting."""
    zone = turn.services.settings.zone
    send_at = parse_when(turn.words, now=turn.services.clock(), zone=zone, lang=turn.lang)
    if isinstance(send_at, DateError):
        await turn.respond(send_at.key)
        return
    if not await turn.services.waiting.take(wait):
        return  # the same time twice at once: the first one scheduled it
    await _schedule(turn, dict(wait.payload), send_at)


@coordinators_only
@on_turn
async def list_broadcasts(turn: Turn) -> None:
    """/broadcasts: recent notices with their state; scheduled and running ones can be cancelled."""
    recent = await turn.services.broadcasts.recent(limit=10)
    if not recent:
        await turn.say("broadcast.list_empty")
        return
    zone = turn.services.settings.zone
    lines = [turn.text("broadcast.list_header")]
    buttons = []
    for b in recent:
        lines.append(
            turn.text(
                "broadcast.list_item",
                number=b.id,
                status=turn.text(f"broadcast.status.{b.status}"),
                audience=turn.text(f"broadcast.audience.{b.audience}"),
                when=local(b.send_at, zone),
                excerpt=_plain(b.text)[:80],
            )
        )
        if b.status in OPEN_STATUSES:
            label = turn.text("broadcast.cancel_button", number=b.id)
            buttons.append([InlineKeyboardButton(label, callback_data=f"{CANCEL_PREFIX}{b.id}")])
    await turn.send("\n\n".join(lines), InlineKeyboardMarkup(buttons) if buttons else None)


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@coordinators_only
@on_press
async def cancel_broadcast(press: Press) -> None:
    """A cancel button from /broadcasts asks first, with what would not be sent; "yes" cancels
    and offers an undo that sends the rest after all; "no" leaves the notice running."""
    step, number = press.group(1), int(press.group(2))
    broadcasts = press.services.broadcasts
    actor = press.user.id if press.user else None
    if step == "":
        outlook = await broadcasts.outlook(broadcast_id=number)
        if outlook is None:
            await press.alert("broadcast.not_cancellable")
            return
        stopping = outlook[1]
        await press.ok()
        yes = (press.text("broadcast.cancel_yes"), f"{CANCEL_PREFIX}y:{number}")
        no = (press.text("broadcast.cancel_no"), f"{CANCEL_PREFIX}n:{number}")
        question = press.text(
            "broadcast.confirm_cancel",
            number=number,
            pending=stopping.pending,
            total=stopping.total,
        )
        await press.send(question, InlineKeyboardMarkup([_row(*yes), _row(*no)]))
        return
    if step == "n":
        await press.ok()
        # In place of the question: a second tap changes nothing and sends nothing.
        await press.show(press.text("broadcast.cancel_kept", number=number), None)
        return
    if step == "r":
        await _resume(press, number, actor)
        return
    state = await broadcasts.cancel(broadcast_id=number)
    if state is None:
        found = await broadcasts.get(broadcast_id=number)
        if found is not None and found.status == BroadcastStatus.CANCELLED:
            await press.done_already()  # the first of two taps cancelled it
        else:
            await press.alert("broadcast.not_cancellable")
        return
    await press.services.audit(actor_id=actor, action="broadcast_cancel", subject=number)
    await press.ok()
    undo = (
        InlineKeyboardMarkup(
            [_row(press.text("broadcast.resume_button"), f"{CANCEL_PREFIX}r:{number}")]
        )
        if state.cancelled
        else None
    )
    report = press.text(
        "broadcast.cancelled", number=number, sent=state.sent, cancelled=state.cancelled
    )
    await press.show(report, undo)


async def _resume(press: Press, number: int, actor: int | None) -> None:
    """Undo a cancellation: what it stopped is sent after all."""
    broadcasts = press.services.broadcasts
    resumed = await broadcasts.resume(broadcast_id=number)
    if resumed is None:
        found = await broadcasts.get(broadcast_id=number)
        if found is not None and broadcasts.undo_expired(found):
            await press.alert("broadcast.undo_expired")
            await press.drop_buttons()
        else:
            await press.done_already()  # resumed by the first tap already
        return
    broadcast, due = resumed
    await press.services.audit(actor_id=actor, action="broadcast_resume", subject=number)
    await press.ok()
    await press.drop_buttons()
    services = press.services
    if broadcast.status == BroadcastStatus.SCHEDULED and broadcast.send_at > services.clock():
        when = local(broadcast.send_at, services.settings.zone)
        await press.say("broadcast.resumed_scheduled", number=number, when=when)
        return
    services.wake_delivery()
    await press.say("broadcast.resumed", number=number, count=due)


def _row(label: str, data: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(label, callback_data=data)]


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """/broadcast and its buttons (its text steps come via handlers.waiting), /broadcasts."""
    return [
        CommandHandler("broadcast", start_broadcast, filters=filters.ChatType.PRIVATE),
        private_chat_only("broadcast"),
        CallbackQueryHandler(choose_audience, pattern=rf"^{PREFIX}aud:(.*)$"),
        CallbackQueryHandler(choose_language, pattern=rf"^{PREFIX}lang:(.*)$"),
        CallbackQueryHandler(choose_partner_type, pattern=rf"^{PREFIX}pt:(.*)$"),
        CallbackQueryHandler(confirm, pattern=rf"^{PREFIX}(send|later|abort)$"),
        CommandHandler("broadcasts", list_broadcasts),
        CallbackQueryHandler(cancel_broadcast, pattern=rf"^{CANCEL_PREFIX}(?:(y|n|r):)?(\d+)$"),
    ]
