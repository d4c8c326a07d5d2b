"""/report (the yearly report form for partner contacts) and the office's review of reports.

Like /join, the form is no ConversationHandler: the step and the answers live in the
database (bot.services.reports), typed answers and the PDF reach it through the waiting
row (bot.services.waiting, kind REPORT; handlers.waiting routes them), and a button names
the step it was shown for, so a press that no longer fits (a double tap, an old message) is
answered "schon erledigt" and changes nothing.
"""

from __future__ import annotations

from datetime import date

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.services.reports import (
    SKIPPABLE,
    TEXT_STEPS,
    Decision,
    Form,
    ItemContext,
    Opened,
    Problem,
)
from bot.services.waiting import Wait, WaitKind
from bot.texts import Markup, join
from handlers.base import (
    BotContext,
    Press,
    Turn,
    coordinators_only,
    on_press,
    on_turn,
)
from handlers.partners import parse_stamp

FORM = callbacks.REPORT_FORM
REVIEW = callbacks.REPORT_REVIEW
_STALE_SECONDS = 12 * 3600  # an untouched form: typed text is a question again
# Which step each button belongs to: a press in another step is a repeat or an old message.
_STEP_OF = {"t": "topic", "p": "publish", "d": "review", "x": "review"}


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def _topic_title(turn: Turn, topic_id: str) -> str:
    topic = turn.services.kb.topic(topic_id)
    return topic.title[turn.lang] if topic else topic_id


def _item_lines(turn: Turn, form: Form) -> list[str]:
    lines = []
    for number, item in enumerate(form.items, 1):
        extras = [x for x in (item.figure, item.link, item.file_name) if x]
        lines.append(
            turn.text(
                "reports.item_line",
                number=number,
                topic=_topic_title(turn, item.topic_id),
                done=item.done,
                result=item.result,
                extras=" · ".join(extras) if extras else "–",
                publish=turn.text("reports.publish_yes" if item.publish else "reports.publish_no"),
            )
        )
    return lines


def form_view(turn: Turn, form: Form) -> tuple[str, InlineKeyboardMarkup | None]:
    """The prompt and buttons of the form's current step."""
    report = form.report
    rid = report.id
    step = report.step
    head = turn.text("reports.head", partner=form.partner.name, year=report.year)
    skip = _button(turn.text("reports.skip"), f"{FORM}s:{rid}:{step}")
    if step == "topic":
        buttons = [
            [_button(_topic_title(turn, m), f"{FORM}t:{rid}:{m}")] for m in form.open_measures()[:8]
        ]
        key = "reports.ask.topic_measures" if buttons else "reports.ask.topic"
        if form.items:  # another item was asked for: the way back without one
            buttons.append([_button(turn.text("reports.back"), f"{FORM}g:{rid}:topic:review")])
        markup = InlineKeyboardMarkup(buttons) if buttons else None
        return join("\n\n", [head, turn.text(key)]), markup
    if step == "publish":
        rows = [
            [
                _button(turn.text("reports.publish_yes_button"), f"{FORM}p:{rid}:1"),
                _button(turn.text("reports.publish_no_button"), f"{FORM}p:{rid}:0"),
            ]
        ]
        return join("\n\n", [head, turn.text("reports.ask.publish")]), InlineKeyboardMarkup(rows)
    if step == "more":
        rows = [
            [_button(turn.text("reports.another"), f"{FORM}g:{rid}:more:topic")],
            [_button(turn.text("reports.finish"), f"{FORM}g:{rid}:more:review")],
        ]
        count = turn.text("reports.saved_items", count=len(form.items))
        return join("\n\n", [head, count, turn.text("reports.ask.more")]), InlineKeyboardMarkup(
            rows
        )
    if step == "review":
        contact = report.contact or turn.text("reports.no_contact")
        body = turn.text(
            "reports.review",
            items=join("\n\n", _item_lines(turn, form)),
            contact=contact,
        )
        deletes = [
            _button(turn.text("reports.remove", number=n), f"{FORM}d:{rid}:{item.id}")
            for n, item in enumerate(form.items, 1)
        ]
        rows = [deletes[i : i + 3] for i in range(0, len(deletes), 3)]
        rows += [
            [
                _button(turn.text("reports.another"), f"{FORM}g:{rid}:review:topic"),
                _button(turn.text("reports.change_contact"), f"{FORM}g:{rid}:review:contact"),
            ],
            [_button(turn.text("reports.submit"), f"{FORM}x:{rid}")],
        ]
        return join("\n\n", [head, body]), InlineKeyboardMarkup(rows)
    prompt = turn.text(f"reports.ask.{step}")
    if step == "done" and form.current.get("topic"):
        prompt = turn.text(
            "reports.ask.done_topic", topic=_topic_title(turn, str(form.current["topic"]))
        )
    markup = InlineKeyboardMarkup([[skip]]) if step in SKIPPABLE else None
    return join("\n\n", [head, prompt]), markup


async def _show(turn: Turn, form: Form | None) -> None:
    """Send the current step of the form (fresh from the database)."""
    if form is None:
        return
    fresh = await turn.services.reports.form(report_id=form.report.id)
    if fresh is not None:
        if fresh.report.state == "draft":
            # Typed answers and the PDF go to this form (any process, after a restart too).
            await turn.expect(WaitKind.REPORT, report_id=fresh.report.id)
        await turn.send(*form_view(turn, fresh))


async def _opened(turn: Turn, opened: Opened, form: Form | None, due: date | None) -> None:
    """The form as /report or a reminder's button opened it: its current step (with the
    introduction before the first item), or why it did not open."""
    if form is not None:
        if not form.items and form.report.step == "topic":
            await turn.say("reports.intro")
        await _show(turn, form)
        return
    if opened is Opened.SUBMITTED and due is not None:
        await turn.say(
            "reports.already_submitted", date=due.strftime(turn.text("answer.date_format"))
        )
        return
    await turn.say(f"reports.refused.{opened.value}")


@on_turn
async def report_command(turn: Turn) -> None:
    """/report: open (or continue) the partner's yearly report."""
    if turn.chat.type != ChatType.PRIVATE:
        await turn.respond("reports.private_only")
        return
    opened, form, due = await turn.services.reports.open(chat_id=turn.chat.id, language=turn.lang)
    await _opened(turn, opened, form, due)


@on_press
async def form_press(press: Press) -> None:
    """Every button of the report form."""
    action, rid_raw, value = press.group(1), press.group(2), press.group(3)
    services = press.services.reports
    if action == "o":  # from a reminder: partner id and due date
        due = parse_stamp(value)
        if due is None:
            await press.expired()
            return
        await press.ok()
        opened, form, found_due = await services.open(
            chat_id=press.chat.id, language=press.lang, partner_id=int(rid_raw), due=due
        )
        await _opened(press, opened, form, found_due)
        return
    if action == "reply":
        await press.expect(WaitKind.REPORT_REPLY, item_id=int(rid_raw))
        await press.ok()
        await press.say("reports.reply_prompt")
        return
    form = await services.form(report_id=int(rid_raw))
    if form is None or form.report.chat_id != press.chat.id:
        await press.expired()
        return
    step = form.report.step
    wanted = _STEP_OF.get(action) or (value.partition(":")[0] if action == "g" else value)
    if form.report.state != "draft" or step != wanted:
        await press.done_already()
        return
    if action == "t":
        changed = await services.choose_topic(form, value)
    elif action == "s":
        changed = await services.skip(form, value)
    elif action == "p":
        changed = await services.consent(form, publish=value == "1")
    elif action == "g":
        changed = await services.go(form, value.partition(":")[2])
    elif action == "d":
        changed = value.isdigit() and await services.remove(form, int(value))
    else:  # "x": submit
        changed = await services.submit(form, by=press.chat.id)
        if changed:
            press.services.wake_delivery()
            await press.ok()
            await press.drop_buttons()
            await press.say("reports.submitted", year=form.report.year, count=len(form.items))
            return
    if not changed:
        await press.done_already()
        return
    await press.ok()
    await press.drop_buttons()
    await _show(press, form)


async def receive(turn: Turn, wait: Wait) -> bool:
    """A private message while the report form waits: the answer to its step, or the PDF;
    False when the form waits for a button, or is old (the text is a question then)."""
    message = turn.message
    if turn.chat.type != ChatType.PRIVATE or message is None:
        return False
    reports = turn.services.reports
    form = await reports.form_of_chat(chat_id=turn.chat.id)
    if form is None:
        await turn.services.waiting.take(wait)  # submitted or erased meanwhile
        return False
    age = (turn.services.clock() - form.report.updated_at).total_seconds()
    if age > _STALE_SECONDS:
        return False  # an abandoned form: text is a question again (/report continues it)
    if form.report.step == "file" and not message.text:
        return await _receive_document(turn, form)
    if not message.text:
        await turn.respond("onboarding.problem.text_needed")
        await _show(turn, form)
        return True
    if form.report.step not in TEXT_STEPS:
        return False
    if form.report.step == "topic":
        await _offer_topics(turn, form, message.text)
        return True
    problem = await reports.answer(form, message.text)
    await _after_answer(turn, form, problem)
    return True


async def receive_reply(turn: Turn, wait: Wait) -> bool:
    """A partner's answer to the office's question about one of their report items."""
    message = turn.message
    if message is None or not message.text:
        return False
    if await turn.refuse_too_long(message.text):
        return True
    if not await turn.services.waiting.take(wait):
        return True  # the same text twice at once: the first one is taken
    sent = await turn.services.reports.reply_to_office(
        item_id=int(wait.payload.get("item_id") or 0),
        chat_id=turn.chat.id,
        text=message.text,
    )
    if sent:
        turn.services.wake_delivery()
    await turn.respond("reports.reply_sent" if sent else "common.expired_button")
    form = await turn.services.reports.form_of_chat(chat_id=turn.chat.id)
    if form is not None:  # a report still being written takes the next answers again
        await turn.expect(WaitKind.REPORT, report_id=form.report.id)
    return True


async def _after_answer(turn: Turn, form: Form, problem: Problem | None) -> None:
    """Say what was wrong with an answer (nothing is lost), then show where the form is."""
    if problem is Problem.STALE:
        await turn.respond("common.already_done")
        return
    if problem is not None:
        await turn.respond(f"reports.problem.{problem.value}")
    await _show(turn, form)


async def _offer_topics(turn: Turn, form: Form, text: str) -> None:
    """The topics a typed keyword finds, as buttons (the knowledge base's own search)."""
    result = await turn.services.questions.ask(text[:300], turn.lang)
    ranked = [m.topic_id for m in result.result.ranked]
    found = [t for t in ([result.result.topic] if result.result.topic else []) if t]
    ids = [t.id for t in found] + [i for i in ranked if i not in {t.id for t in found}]
    ids = [i for i in ids if turn.services.kb.topic(i) is not None][:4]
    if not ids:
        await turn.respond("reports.no_topic_found")
        return
    rid = form.report.id
    rows = [[_button(_topic_title(turn, i), f"{FORM}t:{rid}:{i}")] for i in ids]
    await turn.reply(turn.text("reports.pick_topic"), InlineKeyboardMarkup(rows))


async def _receive_document(turn: Turn, form: Form) -> bool:
    """A file (or a photo, a sticker …) while the form waits for the PDF."""
    document = turn.message.document if turn.message is not None else None
    if document is None:
        await turn.respond("reports.problem.not_pdf")
        await _show(turn, form)
        return True
    problem = await turn.services.reports.attach(
        form,
        file_id=document.file_id,
        file_name=document.file_name or "bericht.pdf",
        mime=document.mime_type or "",
        size=document.file_size or 0,
    )
    await _after_answer(turn, form, problem)
    return True


# ---------------------------------------------------------------------- the office's review
def _review_card(turn: Turn, found: ItemContext) -> tuple[str, InlineKeyboardMarkup | None]:
    """One item as the office reviews it, with publish / don't / ask back."""
    item, report, partner = found
    text = turn.text(
        "reports.office_item",
        partner=partner.name,
        year=report.year,
        number=item.position,
        topic=_topic_title(turn, item.topic_id),
        done=item.done,
        result=item.result,
        figure=item.figure or "–",
        link=item.link or "–",
        file=item.file_name or "–",
        consent=turn.text("reports.publish_yes" if item.publish else "reports.publish_no"),
        contact=report.contact or turn.text("reports.no_contact"),
        state=turn.text(f"reports.review_state.{item.review}"),
    )
    if item.review not in ("pending", "asked"):
        return text, None
    row = []
    if item.publish:
        row.append(_button(turn.text("reports.office_publish"), f"{REVIEW}ok:{item.id}"))
    row.append(_button(turn.text("reports.office_skip"), f"{REVIEW}no:{item.id}"))
    rows = [row, [_button(turn.text("reports.office_ask"), f"{REVIEW}ask:{item.id}")]]
    if item.file_id:
        rows.append([_button(turn.text("reports.office_file"), f"{REVIEW}file:{item.id}")])
    return text, InlineKeyboardMarkup(rows)


@coordinators_only
@on_press
async def review_press(press: Press) -> None:
    """A coordinator opens a report, publishes, skips or asks back about an item."""
    action, number = press.group(1), int(press.group(2))
    reports = press.services.reports
    if action == "open":
        form = await reports.form(report_id=number)
        if form is None:
            await press.expired()
            return
        await press.ok()
        for item in form.items:
            found = await reports.item_context(item_id=item.id)
            if found is not None:
                await press.send(*_review_card(press, found))
        return
    found = await reports.item_context(item_id=number)
    if found is None:
        await press.expired()
        return
    item = found[0]
    if action == "item":
        await press.ok()
        await press.send(*_review_card(press, found))
        return
    if action == "file":
        await press.ok()
        if item.file_id:
            await press.context.bot.send_document(press.chat.id, item.file_id)
        return
    if action == "ask":
        await press.expect(WaitKind.REPORT_ASK, item_id=number)
        await press.ok()
        await press.say("reports.office_ask_prompt", number=item.position)
        return
    user_id = press.user.id if press.user else 0
    decision = Decision.PUBLISH if action == "ok" else Decision.SKIP
    outcome = await reports.decide(item_id=number, decision=decision, by=user_id)
    if not outcome.changed:
        await press.done_already()
        return
    await press.services.audit(
        actor_id=user_id, action=f"report_item_{decision.value}", subject=number
    )
    await press.ok("reports.office_published" if outcome.published else "reports.office_skipped")
    refreshed = await reports.item_context(item_id=number)
    if refreshed is not None:
        await press.show(*_review_card(press, refreshed))


async def receive_office_question(turn: Turn, wait: Wait) -> bool:
    """A coordinator's question about a report item, typed after "Nachfragen"."""
    taken = await turn.take_coordinator_text(wait)
    if isinstance(taken, bool):
        return taken
    services = turn.services
    asked = await services.reports.ask_back(
        item_id=int(wait.payload.get("item_id") or 0), question=taken.text, by=taken.user_id
    )
    if asked:
        services.wake_delivery()
    await turn.respond("reports.office_asked" if asked else "common.expired_button")
    return True


@coordinators_only
@on_turn
async def reviews_command(turn: Turn) -> None:
    """/reports: submitted reports with items the office has not decided on."""
    found = await turn.services.reports.review_list()
    if not found:
        await turn.say("reports.office_none")
        return
    rows = [
        [
            _button(
                turn.label(
                    "reports.office_list_button",
                    partner=partner.name if partner else "?",
                    year=report.year,
                    count=count,
                ),
                f"{REVIEW}open:{report.id}",
            )
        ]
        for report, partner, count in found
    ]
    await turn.send(Markup(turn.text("reports.office_list")), InlineKeyboardMarkup(rows))


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """/report, /reports and the buttons (typed answers come via handlers.private_text)."""
    return [
        CommandHandler("report", report_command),
        CommandHandler("reports", reviews_command),
        CallbackQueryHandler(form_press, pattern=rf"^{FORM}(o|t|s|p|g|d|x|reply):(\d+):?([\w:]*)$"),
        CallbackQueryHandler(review_press, pattern=rf"^{REVIEW}(open|item|ok|no|ask|file):(\d+)$"),
    ]
