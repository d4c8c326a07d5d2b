"""Report reminders' buttons, /deadlines for partner contacts, /partners for coordinators."""

from __future__ import annotations

from datetime import date, datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.services.dates import DateError, due_label, parse_due
from bot.services.partners import Partner, invite_link
from bot.services.reminders import REPORT_BUTTON, Deadline, Snooze
from bot.services.waiting import Wait, WaitKind
from handlers.base import (
    BotContext,
    Press,
    Turn,
    coordinators_only,
    drop_buttons,
    on_press,
    on_turn,
)
from knowledge import Lang

PARTNER_BUTTON = callbacks.PARTNER


def _date(context: BotContext, lang: Lang, day: date) -> str:
    return day.strftime(context.services.texts.get(lang, "answer.date_format"))


def _state(context: BotContext, lang: Lang, deadline: Deadline, today: date) -> str:
    state = deadline.state(today)
    days = abs((deadline.due - today).days)
    return context.services.texts.get(lang, f"reminders.state.{state}", days=days)


def parse_stamp(raw: str) -> date | None:
    """A due date as buttons carry it (YYYYMMDD), or None."""
    try:
        return datetime.strptime(raw, "%Y%m%d").date()
    except ValueError:
        return None


@on_press
async def report_button(press: Press) -> None:
    """ "Report submitted" or "remind me later" under a reminder."""
    action, partner_id, due = press.group(1), int(press.group(2)), parse_stamp(press.group(3))
    reminders = press.services.reminders
    if due is None:
        await press.expired()
        return
    if not await reminders.is_contact(partner_id=partner_id, chat_id=press.chat.id):
        await press.alert("reminders.not_contact")
        return
    if action == "done":
        recorded = await reminders.mark_submitted(partner_id=partner_id, due=due, by=press.chat.id)
        key = "reminders.submitted_thanks" if recorded else "reminders.already_submitted"
        await press.alert(key, date=_date(press.context, press.lang, due))
        await drop_buttons(press.update)
        return
    snoozed = await reminders.snooze(
        partner_id=partner_id, due=due, chat_id=press.chat.id, lang=press.lang
    )
    if snoozed is Snooze.GONE:
        await press.expired()
        return
    if snoozed is Snooze.SUBMITTED:
        await press.alert("reminders.already_submitted", date=_date(press.context, press.lang, due))
        await drop_buttons(press.update)
        return
    key = "reminders.snoozed" if snoozed is Snooze.SNOOZED else "reminders.snooze_used"
    await press.alert(key, days=reminders.rules.snooze_days)
    if snoozed is Snooze.SNOOZED:
        press.services.wake_delivery()


@on_turn
async def deadlines(turn: Turn) -> None:
    """/deadlines: the report due dates of the partners this chat belongs to."""
    reminders = turn.services.reminders
    found = await reminders.deadlines_for_chat(chat_id=turn.chat.id)
    linked = await turn.services.chats.partners_of(chat_id=turn.chat.id)
    if not linked:
        await turn.say("reminders.deadlines_none")
        return
    today = reminders.today()
    by_partner = {d.partner.id: d for d in found}
    lines = [turn.text("reminders.deadlines_header")]
    for partner in linked:
        deadline = by_partner.get(partner.id)
        lines.append(
            turn.text("reminders.deadline_unknown", partner=partner.name)
            if deadline is None
            else turn.text(
                "reminders.deadline_line",
                partner=partner.name,
                date=_date(turn.context, turn.lang, deadline.due),
                state=_state(turn.context, turn.lang, deadline, today),
            )
        )
    await turn.send("\n".join(lines))


def _report_state(context: BotContext, lang: Lang, item: Deadline | Partner, today: date) -> str:
    """ "Bericht 31.03.2027: fällig in 10 Tagen", or that no due date is known."""
    texts = context.services.texts
    if not isinstance(item, Deadline):
        return texts.get(lang, "partners.no_due")
    return texts.get(
        lang,
        "partners.report",
        date=_date(context, lang, item.due),
        state=_state(context, lang, item, today),
    )


PAGE_SIZE = 10  # partners per page of /partners (and as many buttons)
_NAME_CHARS = 80  # a partner's name as far as a list line shows it
_QUERY_BYTES = 48  # a search fits the 64 bytes of a button's callback data with its page
_STATES = {
    "overdue": "overdue",
    "überfällig": "overdue",
    "ueberfaellig": "overdue",
    "due": "due",
    "fällig": "due",
    "faellig": "due",
    "open": "due",
    "offen": "due",
    "submitted": "submitted",
    "received": "submitted",
    "eingereicht": "submitted",
    "erhalten": "submitted",
    "none": "none",
    "ohne": "none",
}


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def search_query(raw: str) -> str:
    """A search as typed after /partners, cut to what a page button can carry."""
    cleaned = " ".join(raw.split()).casefold()
    return cleaned.encode()[:_QUERY_BYTES].decode(errors="ignore").strip()


def _matches(item: Deadline | Partner, query: str, today: date) -> bool:
    """Name or region contains the search, or the report state is the one named."""
    if not query:
        return True
    state = _STATES.get(query)
    if state is not None:
        return (item.state(today) if isinstance(item, Deadline) else "none") == state
    partner = item.partner if isinstance(item, Deadline) else item
    return query in partner.name.casefold() or query in (partner.region or "").casefold()


async def _overview_view(
    context: BotContext, lang: Lang, *, page: int = 0, query: str = ""
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of partners (at most PAGE_SIZE) with their report state, a button per partner
    that opens its card, and ◀/▶ to the neighbouring pages; only those matching `query`."""
    texts = context.services.texts
    reminders = context.services.reminders
    overview = await reminders.overview()
    if not overview:
        return texts.get(lang, "reminders.partners_empty"), None
    today = reminders.today()
    found = [item for item in overview if _matches(item, query, today)]
    if not found:
        return texts.get(lang, "partners.search_none", query=query), None
    pages = (len(found) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    first = page * PAGE_SIZE
    header = (
        texts.get(lang, "partners.search_header", query=query, count=len(found))
        if query
        else texts.get(lang, "reminders.partners_header", count=len(found))
    )
    lines = [header]
    buttons: list[list[InlineKeyboardButton]] = []
    for number, item in enumerate(found[first : first + PAGE_SIZE], start=first + 1):
        partner = item.partner if isinstance(item, Deadline) else item
        name = _clip(partner.name, _NAME_CHARS)
        lines.append(
            texts.get(
                lang,
                "partners.line",
                number=number,
                partner=name,
                region=_clip(partner.region or "–", _NAME_CHARS),
                report=_report_state(context, lang, item, today),
            )
        )
        label = texts.plain(lang, "partners.open_button", number=number, partner=partner.name)
        buttons.append([_button(label[:60], f"{PARTNER_BUTTON}show:{partner.id}")])
    if pages > 1:
        lines.append(texts.get(lang, "partners.page", page=page + 1, pages=pages))
        suffix = f":{query}" if query else ""
        nav = []
        if page > 0:
            nav.append(_button("◀", f"{PARTNER_BUTTON}pg:{page - 1}{suffix}"))
        if page < pages - 1:
            nav.append(_button("▶", f"{PARTNER_BUTTON}pg:{page + 1}{suffix}"))
        buttons.append(nav)
    if not query:
        lines.append(texts.get(lang, "partners.search_hint"))
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


@coordinators_only
@on_turn
async def partners_overview(turn: Turn) -> None:
    """/partners [search]: a page of partners with their report state; a partner's button
    opens its card, ◀/▶ turn the page; a search narrows by name, region or report state."""
    query = search_query(" ".join(turn.context.args or []))
    await turn.send(*await _overview_view(turn.context, turn.lang, query=query))


@coordinators_only
@on_press
async def partners_page(press: Press) -> None:
    """◀/▶ under /partners: another page of the same list."""
    await press.ok()
    page, query = int(press.group(1)), search_query(press.group(2))
    await press.show(*await _overview_view(press.context, press.lang, page=page, query=query))


async def _contact_name(context: BotContext, chat_id: int) -> str:
    """The contact's name as Telegram shows it now (nothing about it is stored)."""
    try:
        found = await context.bot.get_chat(chat_id)
    except TelegramError:
        found = None
    name = (found.full_name or found.title or "") if found else ""
    if found is not None and found.username:
        name = f"{name} (@{found.username})".strip()
    return name or f"#{chat_id}"


async def _card_view(
    context: BotContext, lang: Lang, partner: Partner
) -> tuple[str, InlineKeyboardMarkup]:
    """One partner: details, report state, its contacts; buttons for everything about it."""
    texts = context.services.texts
    reminders = context.services.reminders
    today = reminders.today()
    state: Deadline | Partner = await reminders.deadline_of(partner) or partner
    contacts = await context.services.partners.contacts(partner_id=partner.id)
    names = [await _contact_name(context, c.chat_id) for c in contacts]
    lines = [
        texts.get(
            lang,
            "partners.contact_line",
            number=number,
            name=name,
            date=_date(context, lang, contact.added_at.astimezone(reminders.rules.zone).date()),
        )
        for number, (contact, name) in enumerate(zip(contacts, names, strict=True), start=1)
    ]
    text = texts.get(
        lang,
        "partners.card",
        partner=partner.name,
        type=texts.get(lang, f"onboarding.type.{partner.org_type}")
        if f"onboarding.type.{partner.org_type}" in texts
        else partner.org_type,
        region=partner.region or "–",
        email=partner.email or "–",
        report=_report_state(context, lang, state, today),
        count=len(contacts),
        contacts="\n".join(lines) or texts.get(lang, "partners.no_contacts"),
    )
    pid = partner.id
    first_row = [_button(texts.get(lang, "partners.due_button"), f"{PARTNER_BUTTON}due:{pid}")]
    if isinstance(state, Deadline) and not state.submitted:
        stamp = state.due.strftime("%Y%m%d")
        first_row.insert(
            0,
            _button(
                texts.get(lang, "partners.received_button"), f"{PARTNER_BUTTON}rcv:{pid}:{stamp}"
            ),
        )
    rows = [
        first_row,
        [_button(texts.get(lang, "partners.invite_button"), f"{PARTNER_BUTTON}inv:{pid}")],
        *(
            [
                _button(
                    texts.get(lang, "partners.remove_button", number=number),
                    f"{PARTNER_BUTTON}rm:{pid}:{contact.chat_id}",
                )
            ]
            for number, contact in enumerate(contacts, start=1)
        ),
        [_button(texts.get(lang, "partners.back_button"), f"{PARTNER_BUTTON}list")],
    ]
    return text, InlineKeyboardMarkup(rows)


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


@coordinators_only
@on_press
async def partner_button(press: Press) -> None:
    """The buttons of /partners: a partner's card, its invite link, removing a contact,
    marking a report received, changing the due date, back to the list."""
    action, context, lang = press.group(1), press.context, press.lang
    if action == "list":
        await press.ok()
        await press.show(*await _overview_view(context, lang))
        return
    partner = await _partner(context, press.group(2))
    if partner is None or press.user is None or (action in ("rm", "rmy") and not press.group(3)):
        await press.expired()
        return
    if action == "show":
        await press.ok()
        await press.show(*await _card_view(context, lang, partner))
    elif action == "inv":
        await _send_invite(press, partner)
    elif action in ("rm", "rmy"):
        await _remove_contact(press, partner, int(press.group(3)), confirmed=action == "rmy")
    elif action in ("rcv", "rcy", "rcu"):
        await _mark_received(press, partner, parse_stamp(press.group(3)), step=action)
    else:
        await press.ok()
        await press.expect(WaitKind.DUE_DATE, partner_id=partner.id)
        await press.say("reminders.ask_due", partner=partner.name)


async def _mark_received(press: Press, partner: Partner, due: date | None, *, step: str) -> None:
    """ "Bericht erhalten" on a partner's card: ask first (rcv); the confirmation (rcy) marks
    the report received and offers an undo (rcu) that marks it not received again."""
    if due is None or press.user is None:
        await press.expired()
        return
    by, reminders = press.user.id, press.services.reminders
    values = {"partner": partner.name, "date": _date(press.context, press.lang, due)}
    data = f"{partner.id}:{due:%Y%m%d}"
    if step == "rcv":
        await press.ok()
        yes = _button(press.text("partners.received_yes"), f"{PARTNER_BUTTON}rcy:{data}")
        no = _button(press.text("partners.received_no"), f"{PARTNER_BUTTON}show:{partner.id}")
        question = press.text("partners.confirm_received", **values)
        await press.show(question, InlineKeyboardMarkup([[yes, no]]))
        return
    if step == "rcu":
        if not await reminders.unmark_submitted(partner_id=partner.id, due=due):
            await press.done_already()  # a double tap, or undone already
            return
        await press.ok()
        await press.services.audit(
            actor_id=by, action="report_unreceived", subject=f"{partner.id}:{due}"
        )
        back = _button(press.text("partners.back_button"), f"{PARTNER_BUTTON}show:{partner.id}")
        await press.show(
            press.text("reminders.unreceived", **values), InlineKeyboardMarkup([[back]])
        )
        return
    if not await reminders.mark_submitted(partner_id=partner.id, due=due, by=by):
        await press.done_already()  # a double tap, or the partner's own button
        return
    await press.ok()
    await press.services.audit(actor_id=by, action="report_received", subject=f"{partner.id}:{due}")
    undo = _button(press.text("partners.undo_received_button"), f"{PARTNER_BUTTON}rcu:{data}")
    back = _button(press.text("partners.back_button"), f"{PARTNER_BUTTON}show:{partner.id}")
    await press.show(
        press.text("reminders.received", **values), InlineKeyboardMarkup([[undo], [back]])
    )


async def _send_invite(press: Press, partner: Partner) -> None:
    """A link for the partner's contacts (a valid one again, else a new one), to pass on."""
    invite = await press.services.partners.invite(
        partner_id=partner.id, created_by=press.user.id if press.user else None
    )
    if invite is None:
        await press.expired()
        return
    await press.ok()
    zone = press.services.settings.zone
    await press.context.bot.send_message(
        press.chat.id,
        press.text(
            "partners.invite",
            partner=partner.name,
            date=_date(press.context, press.lang, invite.expires_at.astimezone(zone).date()),
            left=invite.max_uses - invite.uses,
            link=invite_link(press.context.bot.username, invite.token),
        ),
        disable_web_page_preview=True,
    )


async def _remove_contact(press: Press, partner: Partner, chat_id: int, *, confirmed: bool) -> None:
    """Ask "really remove?" first; the confirmation unlinks the chat."""
    if press.user is None:
        return
    if not confirmed:
        await press.ok()
        name = await _contact_name(press.context, chat_id)
        question = press.text("partners.confirm_remove", name=name, partner=partner.name)
        yes = _button(
            press.text("partners.remove_yes"), f"{PARTNER_BUTTON}rmy:{partner.id}:{chat_id}"
        )
        no = _button(press.text("partners.remove_no"), f"{PARTNER_BUTTON}show:{partner.id}")
        await press.show(question, InlineKeyboardMarkup([[yes, no]]))
        return
    removed = await press.services.partners.remove_contact(partner_id=partner.id, chat_id=chat_id)
    if not removed:
        await press.done_already()
        return
    await press.ok("partners.removed")
    await press.services.audit(actor_id=press.user.id, action="contact_remove", subject=partner.id)
    await press.show(*await _card_view(press.context, press.lang, partner))


async def _partner(context: BotContext, raw_id: str) -> Partner | None:
    if not raw_id.isdigit():
        return None
    return await context.services.partners.get(partner_id=int(raw_id))


async def receive_due(turn: Turn, wait: Wait) -> bool:
    """A coordinator's new due date "TT.MM." (or "Standard"/"default"), in the chat asked."""
    user, services = turn.user, turn.services
    if user is None or not turn.words:
        return False
    if not services.roles.is_coordinator(user.id):
        await services.waiting.take(wait)  # no longer a coordinator: the prompt goes
        return False
    partner = await _partner(turn.context, str(wait.payload.get("partner_id") or ""))
    if partner is None:
        await services.waiting.take(wait)
        return False
    name = partner.name
    text = turn.words.lower()
    month_day = None if text in ("standard", "default") else parse_due(text)
    if isinstance(month_day, DateError):  # asked again, until /cancel
        await turn.respond(month_day.key)
        return True
    if not await services.waiting.take(wait):
        return True  # the same date twice at once: the first one set it
    await services.reminders.set_due(partner_id=partner.id, month_day=month_day)
    if month_day is None:
        await turn.respond("reminders.due_reset", partner=name)
        return True
    await turn.respond("reminders.due_set", partner=name, date=due_label(month_day, turn.lang))
    return True


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Partner-related commands and buttons."""
    return [
        CommandHandler("deadlines", deadlines),
        CommandHandler("partners", partners_overview),
        CallbackQueryHandler(
            report_button, pattern=rf"^{REPORT_BUTTON}(done|later):(\d+):(\d{{8}})$"
        ),
        CallbackQueryHandler(partners_page, pattern=rf"^{PARTNER_BUTTON}pg:(\d{{1,6}})(?::(.+))?$"),
        CallbackQueryHandler(
            partner_button,
            pattern=rf"^{PARTNER_BUTTON}(list|show|inv|due|rm|rmy|rcv|rcy|rcu)(?::(\d+)(?::(-?\d+))?)?$",
        ),
    ]
