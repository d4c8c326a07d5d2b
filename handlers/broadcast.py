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
from bot.services.broadcasts import AUDIENCES, AlreadyScheduled
from bot.services.onboarding import ORG_TYPES as PARTNER_TYPES
from handlers.base import BotContext, already_done, coordinators_only, drop_buttons, user_language
from knowledge import Lang

PREFIX = callbacks.BROADCAST
CANCEL_PREFIX = callbacks.BROADCAST_CANCEL
_DRAFT = "broadcast_draft"
_TIME_FORMAT = "%d.%m.%Y %H:%M"
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


@coordinators_only
async def start_broadcast(update: Update, context: BotContext) -> Step:
    """/broadcast: ask for the text."""
    lang = await user_language(update, context)
    context.user_data[_DRAFT] = {}  # type: ignore[index]
    if update.effective_message:
        await update.effective_message.reply_text(
            context.services.texts.get(lang, "broadcast.ask_text")
        )
    return Step.TEXT


@coordinators_only
async def receive_text(update: Update, context: BotContext) -> Step:
    """The notice's text (with its formatting as HTML); then ask for the audience."""
    message = update.effective_message
    lang = await user_language(update, context)
    texts = context.services.texts
    if message is None or not message.text:
        if message:
            await message.reply_text(texts.get(lang, "broadcast.text_needed"))
        return Step.TEXT
    text = message.text_html
    if len(text) > MAX_TEXT:
        await message.reply_text(
            texts.get(lang, "broadcast.too_long", length=len(text), limit=MAX_TEXT)
        )
        return Step.TEXT
    # The id makes sending idempotent: the same draft sent twice is one broadcast.
    context.user_data[_DRAFT] = {"text": text, "id": secrets.token_hex(6)}  # type: ignore[index]
    await message.reply_text(
        texts.get(lang, "broadcast.ask_audience"),
        reply_markup=_buttons(
            [(texts.get(lang, f"broadcast.audience.{a}"), f"{PREFIX}aud:{a}") for a in AUDIENCES]
        ),
    )
    return Step.AUDIENCE


def _draft(context: BotContext) -> dict[str, str]:
    draft = (context.user_data or {}).get(_DRAFT)
    return draft if isinstance(draft, dict) else {}


@coordinators_only
async def choose_audience(update: Update, context: BotContext) -> Step | None:
    """Audience chosen; ask for a language filter."""
    query = update.callback_query
    lang = await user_language(update, context)
    texts = context.services.texts
    audience = (query.data if query else "").removeprefix(f"{PREFIX}aud:")  # type: ignore[union-attr]
    draft = _draft(context)
    if query is not None and "audience" in draft:
        await already_done(update, context, lang)  # pressed twice: the conversation stays put
        return None
    if query is None or audience not in AUDIENCES or "text" not in draft:
        if query:
            await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return Step.AUDIENCE
    draft["audience"] = audience
    await query.answer()
    await query.edit_message_text(
        texts.get(lang, "broadcast.ask_language"),
        reply_markup=_buttons(
            [
                (texts.get(lang, f"broadcast.language.{code}"), f"{PREFIX}lang:{code}")
                for code in ("any", "de", "en")
            ]
        ),
    )
    return Step.LANGUAGE


@coordinators_only
async def choose_language(update: Update, context: BotContext) -> Step | int | None:
    """Language chosen: for partner audiences ask for a partner type, else show the preview."""
    query = update.callback_query
    lang = await user_language(update, context)
    texts = context.services.texts
    code = ((query.data or "") if query else "").removeprefix(f"{PREFIX}lang:")
    draft = _draft(context)
    if query is not None and "language" in draft:
        await already_done(update, context, lang)  # pressed twice: the conversation stays put
        return None
    if query is None or code not in ("any", "de", "en") or "audience" not in draft:
        if query:
            await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return Step.LANGUAGE
    draft["language"] = code
    await query.answer()
    if draft["audience"] == "subscribers":
        return await _preview(update, context, lang, draft)
    types = ["any", *PARTNER_TYPES]
    await query.edit_message_text(
        texts.get(lang, "broadcast.ask_partner_type"),
        reply_markup=_buttons(
            [
                (
                    texts.get(lang, f"onboarding.type.{t}")
                    if t != "any"
                    else texts.get(lang, "broadcast.all_types"),
                    f"{PREFIX}pt:{t}",
                )
                for t in types
            ]
        ),
    )
    return Step.PARTNER_TYPE


@coordinators_only
async def choose_partner_type(update: Update, context: BotContext) -> Step | int | None:
    """Partner type chosen; then ask for a region ("-" for all)."""
    query = update.callback_query
    lang = await user_language(update, context)
    texts = context.services.texts
    value = ((query.data or "") if query else "").removeprefix(f"{PREFIX}pt:")
    draft = _draft(context)
    if query is not None and "partner_type" in draft:
        await already_done(update, context, lang)  # pressed twice: the conversation stays put
        return None
    if query is None or value not in ("any", *PARTNER_TYPES) or "language" not in draft:
        if query:
            await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return Step.PARTNER_TYPE
    draft["partner_type"] = value
    await query.answer()
    await query.edit_message_text(texts.get(lang, "broadcast.ask_region"))
    return Step.REGION


@coordinators_only
async def receive_region(update: Update, context: BotContext) -> Step | int:
    """A region filter (part of the partners' region), or "-" for all; then the preview."""
    message = update.effective_message
    lang = await user_language(update, context)
    draft = _draft(context)
    if message is None or not message.text or "language" not in draft:
        return Step.REGION
    value = " ".join(message.text.split())[:100]
    draft["region"] = "" if value == "-" else value
    return await _preview(update, context, lang, draft)


async def _preview(
    update: Update, context: BotContext, lang: Lang, draft: dict[str, str]
) -> Step | int:
    """The preview exactly as recipients see it, the count, and send / later / cancel."""
    chat = update.effective_chat
    if chat is None:
        return ConversationHandler.END
    texts = context.services.texts
    code = draft["language"]
    partner_type = (
        draft.get("partner_type") if draft.get("partner_type") not in (None, "any") else None
    )
    region = draft.get("region") or None
    broadcasts = context.services.broadcasts
    count = await broadcasts.count(
        audience=draft["audience"],
        language=None if code == "any" else code,
        partner_type=partner_type,
        region=region,
    )
    preview = broadcasts.preview(draft["text"], "en" if code == "en" else "de")
    await context.bot.send_message(chat.id, texts.get(lang, "broadcast.preview_intro"))
    await context.bot.send_message(
        chat.id,
        preview.text,
        reply_markup=keyboard(preview.buttons),
        disable_web_page_preview=True,
    )
    if count == 0:
        await context.bot.send_message(chat.id, texts.get(lang, "broadcast.no_recipients"))
        context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
        return ConversationHandler.END
    filters_text: str = texts.get(lang, f"broadcast.language.{code}")
    if partner_type:
        filters_text += ", " + texts.get(lang, f"onboarding.type.{partner_type}")
    if region:
        filters_text += ", " + region
    await context.bot.send_message(
        chat.id,
        texts.get(
            lang,
            "broadcast.confirm",
            audience=texts.get(lang, f"broadcast.audience.{draft['audience']}"),
            language=filters_text,
            count=count,
        ),
        reply_markup=_buttons(
            [
                (texts.get(lang, "broadcast.send_now"), f"{PREFIX}send"),
                (texts.get(lang, "broadcast.schedule"), f"{PREFIX}later"),
                (texts.get(lang, "broadcast.abort"), f"{PREFIX}abort"),
            ]
        ),
    )
    return Step.CONFIRM


async def _schedule(
    update: Update, context: BotContext, lang: Lang, send_at: datetime | None
) -> int:
    chat = update.effective_chat
    user = update.effective_user
    draft = _draft(context)
    texts = context.services.texts
    if chat is None or user is None or "language" not in draft:
        return ConversationHandler.END
    code = draft["language"]
    context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
    try:
        broadcast = await context.services.broadcasts.schedule(
            created_by=user.id,
            text=draft["text"],
            audience=draft["audience"],
            language=None if code == "any" else code,
            partner_type=draft.get("partner_type")
            if draft.get("partner_type") not in (None, "any")
            else None,
            region=draft.get("region") or None,
            send_at=send_at,
            report_chat_id=chat.id,
            key=f"draft:{user.id}:{draft['id']}",
        )
    except AlreadyScheduled:  # this draft went out already (its time sent twice)
        await context.bot.send_message(chat.id, texts.get(lang, "common.already_done"))
        return ConversationHandler.END
    await context.services.audit(actor_id=user.id, action="broadcast", subject=broadcast.id)
    if send_at is None:
        sent = await context.bot.send_message(
            chat.id,
            texts.get(lang, "broadcast.started", number=broadcast.id),
        )
        await context.services.broadcasts.remember_progress_message(
            broadcast_id=broadcast.id, chat_id=chat.id, message_id=sent.message_id
        )
        context.services.wake_delivery()
    else:
        local = send_at.astimezone(context.services.settings.zone).strftime(_TIME_FORMAT)
        await context.bot.send_message(
            chat.id, texts.get(lang, "broadcast.scheduled", number=broadcast.id, when=local)
        )
    return ConversationHandler.END


@coordinators_only
async def confirm(update: Update, context: BotContext) -> Step | int | None:
    """Send now, ask for a time, or discard."""
    query = update.callback_query
    lang = await user_language(update, context)
    texts = context.services.texts
    action = (query.data if query else "").removeprefix(PREFIX)  # type: ignore[union-attr]
    draft = _draft(context)
    if query is not None and "confirmed" in draft:
        await already_done(update, context, lang)  # pressed twice: the conversation stays put
        return None
    if query is None or "language" not in draft:
        if query:
            await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return ConversationHandler.END
    draft["confirmed"] = action
    await query.answer()
    await drop_buttons(update)
    if action == "send":
        return await _schedule(update, context, lang, None)
    if action == "later":
        await query.message.reply_text(texts.get(lang, "broadcast.ask_time", **_time_hint(context)))  # type: ignore[union-attr]
        return Step.WHEN
    context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
    await query.message.reply_text(texts.get(lang, "broadcast.aborted"))  # type: ignore[union-attr]
    return ConversationHandler.END


def _time_hint(context: BotContext) -> dict[str, str]:
    zone = context.services.settings.zone
    example = (datetime.now(zone) + timedelta(days=1)).replace(hour=9, minute=0)
    return {"zone": str(zone), "example": example.strftime(_TIME_FORMAT)}


@coordinators_only
async def receive_time(update: Update, context: BotContext) -> Step | int:
    """A send time in local time; must be in the future."""
    message = update.effective_message
    lang = await user_language(update, context)
    texts = context.services.texts
    zone = context.services.settings.zone
    try:
        local = datetime.strptime((message.text or "").strip(), _TIME_FORMAT)  # type: ignore[union-attr]
        send_at = local.replace(tzinfo=zone)
        if send_at <= datetime.now(zone):
            raise ValueError("in the past")
    except ValueError:
        if message:
            await message.reply_text(texts.get(lang, "broadcast.bad_time", **_time_hint(context)))
        return Step.WHEN
    return await _schedule(update, context, lang, send_at)


async def cancel_draft(update: Update, context: BotContext) -> int:
    """/cancel inside the conversation."""
    lang = await user_language(update, context)
    (context.user_data or {}).pop(_DRAFT, None)
    if update.effective_message:
        await update.effective_message.reply_text(
            context.services.texts.get(lang, "broadcast.aborted")
        )
    return ConversationHandler.END


@coordinators_only
async def list_broadcasts(update: Update, context: BotContext) -> None:
    """/broadcasts: recent notices with their state; scheduled and running ones can be cancelled."""
    chat = update.effective_chat
    if chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    recent = await context.services.broadcasts.recent(limit=10)
    if not recent:
        await context.bot.send_message(chat.id, texts.get(lang, "broadcast.list_empty"))
        return
    zone = context.services.settings.zone
    lines = [texts.get(lang, "broadcast.list_header")]
    buttons = []
    for b in recent:
        excerpt = _plain(b.text)[:80]
        lines.append(
            texts.get(
                lang,
                "broadcast.list_item",
                number=b.id,
                status=texts.get(lang, f"broadcast.status.{b.status}"),
                audience=texts.get(lang, f"broadcast.audience.{b.audience}"),
                when=b.send_at.astimezone(zone).strftime(_TIME_FORMAT),
                excerpt=excerpt,
            )
        )
        if b.status in ("scheduled", "running"):
            buttons.append(
                [
                    InlineKeyboardButton(
                        texts.get(lang, "broadcast.cancel_button", number=b.id),
                        callback_data=f"{CANCEL_PREFIX}{b.id}",
                    )
                ]
            )
    await context.bot.send_message(
        chat.id,
        "\n\n".join(lines),
        reply_markup=InlineKeyboardMarkup(buttons) if buttons else None,
    )


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@coordinators_only
async def cancel_broadcast(update: Update, context: BotContext) -> None:
    """A cancel button from /broadcasts."""
    query = update.callback_query
    if query is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    raw = (query.data or "").removeprefix(CANCEL_PREFIX)
    state = (
        await context.services.broadcasts.cancel(broadcast_id=int(raw)) if raw.isdigit() else None
    )
    if state is None:
        await query.answer(texts.get(lang, "broadcast.not_cancellable"), show_alert=True)
        return
    user = update.effective_user
    await context.services.audit(
        actor_id=user.id if user else None, action="broadcast_cancel", subject=raw
    )
    await query.answer()
    await query.message.reply_text(  # type: ignore[union-attr]
        texts.get(
            lang, "broadcast.cancelled", number=raw, sent=state.sent, cancelled=state.cancelled
        )
    )


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
        CallbackQueryHandler(cancel_broadcast, pattern=f"^{CANCEL_PREFIX}"),
    ]


def _conversation(private: filters.BaseFilter) -> ConversationHandler[BotContext]:
    return ConversationHandler(
        entry_points=[CommandHandler("broadcast", start_broadcast, filters=private)],
        states={
            Step.TEXT: [MessageHandler(private & ~filters.COMMAND, receive_text)],
            Step.AUDIENCE: [CallbackQueryHandler(choose_audience, pattern=f"^{PREFIX}aud:")],
            Step.LANGUAGE: [CallbackQueryHandler(choose_language, pattern=f"^{PREFIX}lang:")],
            Step.PARTNER_TYPE: [CallbackQueryHandler(choose_partner_type, pattern=f"^{PREFIX}pt:")],
            Step.REGION: [
                MessageHandler(private & filters.TEXT & ~filters.COMMAND, receive_region)
            ],
            Step.CONFIRM: [CallbackQueryHandler(confirm, pattern=f"^{PREFIX}(send|later|abort)$")],
            Step.WHEN: [MessageHandler(private & filters.TEXT & ~filters.COMMAND, receive_time)],
        },
        fallbacks=[CommandHandler("cancel", cancel_draft)],
        conversation_timeout=timedelta(minutes=30),
        name="broadcast",
    )
