"""Report reminders' buttons, /deadlines for partner contacts, /partners for coordinators."""

from __future__ import annotations

import html
import re
from datetime import date, datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.db import queries
from bot.db.models import Partner
from bot.services.reminders import REPORT_BUTTON, Deadline
from handlers.base import (
    BotContext,
    clear_pending,
    coordinators_only,
    set_pending,
    take_pending,
    user_language,
)
from handlers.onboarding import PARTNER_DUE_INPUT
from knowledge import Lang

PARTNER_BUTTON = "pa:"
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.?\s*$")


def _date(context: BotContext, lang: Lang, day: date) -> str:
    return day.strftime(context.services.texts.get(lang, "answer.date_format"))


def _state(context: BotContext, lang: Lang, deadline: Deadline, today: date) -> str:
    state = deadline.state(today)
    days = abs((deadline.due - today).days)
    return context.services.texts.get(lang, f"reminders.state.{state}", days=days)


def _parse_stamp(raw: str) -> date | None:
    try:
        return datetime.strptime(raw, "%Y%m%d").date()
    except ValueError:
        return None


async def report_button(update: Update, context: BotContext) -> None:
    """ "Report submitted" or "remind me later" under a reminder."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    action, _, rest = (query.data or "").removeprefix(REPORT_BUTTON).partition(":")
    raw_partner, _, raw_due = rest.partition(":")
    due = _parse_stamp(raw_due)
    reminders = context.services.reminders
    if action not in ("done", "later") or not raw_partner.isdigit() or due is None:
        await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return
    partner_id = int(raw_partner)
    if not await reminders.is_contact(partner_id=partner_id, chat_id=chat.id):
        await query.answer(texts.get(lang, "reminders.not_contact"), show_alert=True)
        return
    if action == "done":
        recorded = await reminders.mark_submitted(partner_id=partner_id, due=due, by=chat.id)
        key = "reminders.submitted_thanks" if recorded else "reminders.already_submitted"
        await query.answer(texts.get(lang, key, date=_date(context, lang, due)), show_alert=True)
        await query.edit_message_reply_markup(None)
        return
    snoozed = await reminders.snooze(partner_id=partner_id, due=due, chat_id=chat.id, lang=lang)
    key = "reminders.snoozed" if snoozed else "reminders.snooze_used"
    await query.answer(texts.get(lang, key, days=reminders.snooze_days), show_alert=True)
    if snoozed:
        context.services.wake_delivery()


async def deadlines(update: Update, context: BotContext) -> None:
    """/deadlines: the report due dates of the partners this chat belongs to."""
    chat = update.effective_chat
    if chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    reminders = context.services.reminders
    found = await reminders.deadlines_for_chat(chat_id=chat.id)
    async with context.services.sessions() as session:
        linked = await queries.partners_of_chat(session, chat_id=chat.id)
    if not linked:
        await context.bot.send_message(chat.id, texts.get(lang, "reminders.deadlines_none"))
        return
    today = reminders.today()
    by_partner = {d.partner.id: d for d in found}
    lines = [texts.get(lang, "reminders.deadlines_header")]
    for partner in linked:
        name = html.escape(partner.name, quote=False)
        deadline = by_partner.get(partner.id)
        if deadline is None:
            lines.append(texts.get(lang, "reminders.deadline_unknown", partner=name))
            continue
        lines.append(
            texts.get(
                lang,
                "reminders.deadline_line",
                partner=name,
                date=_date(context, lang, deadline.due),
                state=_state(context, lang, deadline, today),
            )
        )
    await context.bot.send_message(chat.id, "\n".join(lines), parse_mode=ParseMode.HTML)


@coordinators_only
async def partners_overview(update: Update, context: BotContext) -> None:
    """/partners: every partner with its report state; buttons to mark received or move the date."""
    chat = update.effective_chat
    if chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    reminders = context.services.reminders
    overview = await reminders.overview()
    if not overview:
        await context.bot.send_message(chat.id, texts.get(lang, "reminders.partners_empty"))
        return
    today = reminders.today()
    lines = [texts.get(lang, "reminders.partners_header", count=len(overview))]
    buttons: list[list[InlineKeyboardButton]] = []
    for number, item in enumerate(overview, start=1):
        partner = item.partner if isinstance(item, Deadline) else item
        name = html.escape(partner.name, quote=False)
        region = html.escape(partner.region or "–", quote=False)
        row = [
            InlineKeyboardButton(
                texts.get(lang, "reminders.due_button", number=number),
                callback_data=f"{PARTNER_BUTTON}due:{partner.id}",
            )
        ]
        if isinstance(item, Deadline):
            lines.append(
                texts.get(
                    lang,
                    "reminders.partner_line",
                    number=number,
                    partner=name,
                    region=region,
                    date=_date(context, lang, item.due),
                    state=_state(context, lang, item, today),
                )
            )
            if not item.submitted:
                stamp = item.due.strftime("%Y%m%d")
                row.insert(
                    0,
                    InlineKeyboardButton(
                        texts.get(lang, "reminders.received_button", number=number),
                        callback_data=f"{PARTNER_BUTTON}rcv:{partner.id}:{stamp}",
                    ),
                )
        else:
            lines.append(
                texts.get(
                    lang, "reminders.partner_no_due", number=number, partner=name, region=region
                )
            )
        buttons.append(row)
    await context.bot.send_message(
        chat.id,
        "\n".join(lines),
        parse_mode=ParseMode.HTML,
        reply_markup=InlineKeyboardMarkup(buttons[:50]),
    )


@coordinators_only
async def partner_button(update: Update, context: BotContext) -> None:
    """Mark a report received, or start changing a partner's due date."""
    query = update.callback_query
    chat = update.effective_chat
    user = update.effective_user
    if query is None or chat is None or user is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    action, _, rest = (query.data or "").removeprefix(PARTNER_BUTTON).partition(":")
    raw_partner, _, raw_due = rest.partition(":")
    partner = await _partner(context, raw_partner)
    if partner is None or action not in ("rcv", "due"):
        await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return
    await query.answer()
    name = html.escape(partner.name, quote=False)
    if action == "rcv":
        due = _parse_stamp(raw_due)
        if due is None:
            return
        await context.services.reminders.mark_submitted(partner_id=partner.id, due=due, by=user.id)
        await context.services.audit(
            actor_id=user.id, action="report_received", subject=f"{partner.id}:{due}"
        )
        await context.bot.send_message(
            chat.id,
            texts.get(lang, "reminders.received", partner=name, date=_date(context, lang, due)),
        )
        return
    set_pending(context, PARTNER_DUE_INPUT, chat.id, partner.id)
    await context.bot.send_message(chat.id, texts.get(lang, "reminders.ask_due", partner=name))


async def _partner(context: BotContext, raw_id: str) -> Partner | None:
    if not raw_id.isdigit():
        return None
    async with context.services.sessions() as session:
        return await session.get(Partner, int(raw_id))


async def consume_due_input(update: Update, context: BotContext) -> bool:
    """A coordinator's new due date "TT.MM." (or "Standard"/"default"), in the chat asked."""
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    if message is None or user is None or chat is None or not message.text:
        return False
    pending = take_pending(context, PARTNER_DUE_INPUT, chat.id)
    if pending is None:
        return False
    if not context.services.roles.is_coordinator(user.id):
        clear_pending(context, PARTNER_DUE_INPUT)
        return False
    lang = await user_language(update, context)
    texts = context.services.texts
    partner = await _partner(context, str(pending))
    if partner is None:
        return False
    name = html.escape(partner.name, quote=False)
    text = message.text.strip().lower()
    if text in ("standard", "default"):
        clear_pending(context, PARTNER_DUE_INPUT)
        await context.services.reminders.set_due(partner_id=partner.id, month_day=None)
        await message.reply_text(texts.get(lang, "reminders.due_reset", partner=name))
        return True
    match = _DAY_MONTH.match(text)
    try:
        if match is None:
            raise ValueError("not DD.MM.")
        month_day = f"{int(match.group(2)):02d}-{int(match.group(1)):02d}"
        await context.services.reminders.set_due(partner_id=partner.id, month_day=month_day)
    except ValueError:
        await message.reply_text(texts.get(lang, "reminders.bad_due"))
        return True
    clear_pending(context, PARTNER_DUE_INPUT)  # a bad date is asked again, until /cancel
    shown = f"{int(match.group(1)):02d}.{int(match.group(2)):02d}."
    await message.reply_text(texts.get(lang, "reminders.due_set", partner=name, date=shown))
    return True


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Partner-related commands and buttons."""
    return [
        CommandHandler("deadlines", deadlines),
        CommandHandler("partners", partners_overview),
        CallbackQueryHandler(report_button, pattern=f"^{REPORT_BUTTON}"),
        CallbackQueryHandler(partner_button, pattern=f"^{PARTNER_BUTTON}"),
    ]
