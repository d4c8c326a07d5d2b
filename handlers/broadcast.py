"""/broadcast (write → audience → language → preview → send now or later) and /broadcasts.

Every step checks the coordinator role again: a forged button from a stranger does nothing.
Each choice is noted in the draft before the handler's first pause, so a second press of the
same button at the same moment (a double tap) sees it and is only answered.
"""

from __future__ import annotations

import html
import re
import secrets
import warnings
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import IntEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
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
from bot.services.broadcasts import (
    AUDIENCES,
    OPEN_STATUSES,
    AlreadyScheduled,
    Audience,
    BroadcastStatus,
)
from bot.services.localtime import local, parse_local
from bot.services.onboarding import ORG_TYPES as PARTNER_TYPES
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

PREFIX = callbacks.BROADCAST
CANCEL_PREFIX = callbacks.BROADCAST_CANCEL
_DRAFT = "broadcast_draft"
LANGUAGES = ("any", "de", "en")  # the language filter
MAX_TEXT = 3800  # leaves room for the unsubscribe footer within 4096


class Step(IntEnum):
    """Where the coordinator is in writing a notice."""

    TEXT = 1
    AUDIENCE = 2
    LANGUAGE = 3
    CONFIRM = 4
    WHEN = 5
    PARTNER_TYPE = 6
    REGION = 7


def _buttons(pairs: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data)] for label, data in pairs]
    )


start_broadcast = coordinators_only(draft_opener(_DRAFT, "broadcast.ask_text", Step.TEXT))


@coordinators_only
@on_turn
async def receive_text(turn: Turn) -> Step:
    """The notice's text (with its formatting as HTML); then ask for the audience."""
    message = turn.message
    if message is None or not message.text:
        await turn.respond("broadcast.text_needed")
        return Step.TEXT
    text = message.text_html
    if len(text) > MAX_TEXT:
        await turn.respond("broadcast.too_long", length=len(text), limit=MAX_TEXT)
        return Step.TEXT
    # The id makes sending idempotent: the same draft sent twice is one broadcast.
    turn.context.user_data[_DRAFT] = {"text": text, "id": secrets.token_hex(6)}  # type: ignore[index]
    choices = [(turn.text(f"broadcast.audience.{a}"), f"{PREFIX}aud:{a}") for a in AUDIENCES]
    await turn.reply(turn.text("broadcast.ask_audience"), _buttons(choices))
    return Step.AUDIENCE


def _draft(turn: Turn) -> dict[str, str]:
    draft = (turn.context.user_data or {}).get(_DRAFT)
    return draft if isinstance(draft, dict) else {}


async def _choose(
    press: Press, field: str, allowed: Iterable[str], needs: str
) -> dict[str, str] | None:
    """Note the pressed choice in the draft (before any pause), or answer a repeated or stale
    press; the draft when the conversation moves on, None when it stays put."""
    value, draft = press.group(1), _draft(press)
    if field in draft:
        await press.done_already()  # pressed twice: the conversation stays put
        return None
    if value not in allowed or needs not in draft:
        await press.expired()
        return None
    draft[field] = value
    await press.ok()
    return draft


@coordinators_only
@on_press
async def choose_audience(press: Press) -> Step | None:
    """Audience chosen; ask for a language filter."""
    if await _choose(press, "audience", AUDIENCES, needs="text") is None:
        return None
    await _ask(
        press, "broadcast.ask_language", "lang", {c: f"broadcast.language.{c}" for c in LANGUAGES}
    )
    return Step.LANGUAGE


@coordinators_only
@on_press
async def choose_language(press: Press) -> Step | int | None:
    """Language chosen: for partner audiences ask for a partner type, else show the preview."""
    draft = await _choose(press, "language", LANGUAGES, needs="audience")
    if draft is None:
        return None
    if draft["audience"] == Audience.SUBSCRIBERS:
        return await _preview(press, draft)
    types = {"any": "broadcast.all_types"} | {t: f"onboarding.type.{t}" for t in PARTNER_TYPES}
    await _ask(press, "broadcast.ask_partner_type", "pt", types)
    return Step.PARTNER_TYPE


async def _ask(press: Press, question: str, step: str, labels: dict[str, str]) -> None:
    """The next question in place of the last, a button per choice (value: label key)."""
    choices = [(press.text(label), f"{PREFIX}{step}:{value}") for value, label in labels.items()]
    await press.query.edit_message_text(press.text(question), reply_markup=_buttons(choices))


@coordinators_only
@on_press
async def choose_partner_type(press: Press) -> Step | int | None:
    """Partner type chosen; then ask for a region ("-" for all)."""
    if await _choose(press, "partner_type", ("any", *PARTNER_TYPES), needs="language") is None:
        return None
    await press.query.edit_message_text(press.text("broadcast.ask_region"))
    return Step.REGION


@coordinators_only
@on_turn
async def receive_region(turn: Turn) -> Step | int:
    """A region filter (part of the partners' region), or "-" for all; then the preview."""
    draft = _draft(turn)
    if not turn.words or "language" not in draft:
        return Step.REGION
    value = " ".join(turn.words.split())[:100]
    draft["region"] = "" if value == "-" else value
    return await _preview(turn, draft)


def _filters(draft: dict[str, str]) -> dict[str, str | None]:
    """The draft's recipient filters as the broadcast service takes them."""
    code = draft["language"]
    partner_type = draft.get("partner_type")
    return {
        "audience": draft["audience"],
        "language": None if code == "any" else code,
        "partner_type": partner_type if partner_type not in (None, "any") else None,
        "region": draft.get("region") or None,
    }


async def _preview(turn: Turn, draft: dict[str, str]) -> Step | int:
    """The preview exactly as recipients see it, the count, and send / later / cancel."""
    code = draft["language"]
    chosen = _filters(draft)
    broadcasts = turn.services.broadcasts
    count = await broadcasts.count(**chosen)  # type: ignore[arg-type]
    preview = broadcasts.preview(draft["text"], "en" if code == "en" else "de")
    await turn.say("broadcast.preview_intro")
    await turn.context.bot.send_message(
        turn.chat.id,
        preview.text,
        reply_markup=keyboard(preview.buttons),
        disable_web_page_preview=True,
    )
    if count == 0:
        await turn.say("broadcast.no_recipients")
        turn.context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
        return ConversationHandler.END
    filters_text: str = turn.text(f"broadcast.language.{code}")
    if chosen["partner_type"]:
        filters_text += ", " + turn.text(f"onboarding.type.{chosen['partner_type']}")
    if chosen["region"]:
        filters_text += ", " + chosen["region"]
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
    return Step.CONFIRM


async def _schedule(turn: Turn, send_at: datetime | None) -> int:
    draft = _draft(turn)
    user = turn.user
    if user is None or "language" not in draft:
        return ConversationHandler.END
    turn.context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
    services = turn.services
    try:
        broadcast = await services.broadcasts.schedule(
            created_by=user.id,
            text=draft["text"],
            **_filters(draft),  # type: ignore[arg-type]
            send_at=send_at,
            report_chat_id=turn.chat.id,
            key=f"draft:{user.id}:{draft['id']}",
        )
    except AlreadyScheduled:  # this draft went out already (its time sent twice)
        await turn.say("common.already_done")
        return ConversationHandler.END
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
    return ConversationHandler.END


@coordinators_only
@on_press
async def confirm(press: Press) -> Step | int | None:
    """Send now, ask for a time, or discard."""
    action, draft = press.group(1), _draft(press)
    if "confirmed" in draft:
        await press.done_already()  # pressed twice: the conversation stays put
        return None
    if "language" not in draft:
        await press.expired()
        return ConversationHandler.END
    draft["confirmed"] = action
    await press.ok()
    await press.drop_buttons()
    if action == "send":
        return await _schedule(press, None)
    if action == "later":
        await press.say("broadcast.ask_time", **_time_hint(press))
        return Step.WHEN
    press.context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
    await press.say("broadcast.aborted")
    return ConversationHandler.END


def _time_hint(turn: Turn) -> dict[str, str]:
    zone = turn.services.settings.zone
    example = (turn.services.clock() + timedelta(days=1)).astimezone(zone)
    return {"zone": str(zone), "example": local(example.replace(hour=9, minute=0), zone)}


@coordinators_only
@on_turn
async def receive_time(turn: Turn) -> Step | int:
    """A send time in local time; must be in the future."""
    zone = turn.services.settings.zone
    try:
        send_at = parse_local(turn.words, zone)
        if send_at <= turn.services.clock():
            raise ValueError("in the past")
    except ValueError:
        await turn.respond("broadcast.bad_time", **_time_hint(turn))
        return Step.WHEN
    return await _schedule(turn, send_at)


cancel_draft = draft_closer(_DRAFT, "broadcast.aborted")


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
    resumed = await press.services.broadcasts.resume(broadcast_id=number)
    if resumed is None:
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
    """The conversation (fresh per Application: it keeps per-user state) and /broadcasts."""
    private = filters.ChatType.PRIVATE
    with warnings.catch_warnings():
        # PTB warns that callback buttons are tracked per chat, not per message: intended here,
        # the coordinator writes one notice at a time.
        warnings.filterwarnings("ignore", message=".*per_message.*")
        conversation = _conversation(private)
    return [
        conversation,
        CommandHandler("broadcasts", list_broadcasts),
        CallbackQueryHandler(cancel_broadcast, pattern=rf"^{CANCEL_PREFIX}(?:(y|n|r):)?(\d+)$"),
    ]


def _conversation(private: filters.BaseFilter) -> ConversationHandler[BotContext]:
    return ConversationHandler(
        entry_points=[CommandHandler("broadcast", start_broadcast, filters=private)],
        states={
            Step.TEXT: [MessageHandler(private & ~filters.COMMAND, receive_text)],
            Step.AUDIENCE: [CallbackQueryHandler(choose_audience, pattern=rf"^{PREFIX}aud:(.*)$")],
            Step.LANGUAGE: [CallbackQueryHandler(choose_language, pattern=rf"^{PREFIX}lang:(.*)$")],
            Step.PARTNER_TYPE: [
                CallbackQueryHandler(choose_partner_type, pattern=rf"^{PREFIX}pt:(.*)$")
            ],
            Step.REGION: [
                MessageHandler(private & filters.TEXT & ~filters.COMMAND, receive_region)
            ],
            Step.CONFIRM: [CallbackQueryHandler(confirm, pattern=rf"^{PREFIX}(send|later|abort)$")],
            Step.WHEN: [MessageHandler(private & filters.TEXT & ~filters.COMMAND, receive_time)],
        },
        fallbacks=[CommandHandler("cancel", cancel_draft)],
        conversation_timeout=timedelta(minutes=30),
        name="broadcast",
    )
