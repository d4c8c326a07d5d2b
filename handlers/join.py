"""/join (the partnership request form), /status, and linking a chat through an invite link.

The form is not a ConversationHandler: every answer is saved to the database at once and the
current step lives there too, so the form survives a restart at any point and a long pause
(`/join` again offers to continue); text reaches it through the one waiting mechanism
(handlers.waiting). Buttons carry no state that could go stale; a press that does not fit the
current step just shows the current step again. Saves are compare-and-set on the draft's
version, so two updates at once (a double tap, or two bot processes) never both apply: the
one that lost reads the draft again and decides anew (usually: "already done").
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.services.localtime import local
from bot.services.onboarding import (
    MAX_LENGTH,
    ORG_TYPES,
    SIZES,
    STEPS,
    TEXT_STEPS,
    Draft,
    Problem,
    clean,
    complete,
    measure_topics,
    next_step,
    reference,
)
from bot.services.waiting import Wait, WaitKind
from bot.texts import join as join_markup
from handlers.base import (
    BotContext,
    Press,
    Turn,
    already_done,
    not_modified,
    on_press,
    on_turn,
    user_language,
)
from knowledge import Lang

PREFIX = callbacks.JOIN
STALE_DRAFT = timedelta(hours=12)
DOUBLE_SEND = timedelta(seconds=5)  # a message and its copy sent twice at once
# Two updates at once save one after the other; a third retry would mean a burst of taps.
_ATTEMPTS = 3


def _rows(
    buttons: list[InlineKeyboardButton], per_row: int = 2
) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def _short(title: str, limit: int = 34) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def _value_label(context: BotContext, lang: Lang, draft: Draft, name: str) -> str:
    texts = context.services.texts
    none = texts.get(lang, "onboarding.none")
    if name == "org_type":
        value = draft.text(name)
        return texts.get(lang, f"onboarding.type.{value}") if value in ORG_TYPES else none
    if name == "size":
        value = draft.text(name)
        return texts.get(lang, f"onboarding.size.{value}") if value in SIZES else none
    if name == "measures":
        kb = context.services.kb
        titles = [t.title[lang] for t in (kb.topic(i) for i in draft.measures()) if t]
        return ", ".join(titles) if titles else none
    return draft.text(name) or none


def _step_view(
    context: BotContext, lang: Lang, draft: Draft
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The prompt and buttons of the draft's current step."""
    texts = context.services.texts
    step = draft.step
    if step == "review":
        values = {name: _value_label(context, lang, draft, name) for name in STEPS[:-2]}
        edit = [
            _button(texts.get(lang, f"onboarding.edit.{n}"), f"{PREFIX}edit:{n}")
            for n in STEPS[:-2]
        ]
        rows = [*_rows(edit), [_button(texts.get(lang, "onboarding.submit"), f"{PREFIX}submit")]]
        return texts.get(lang, "onboarding.review", **values), InlineKeyboardMarkup(rows)
    prompt = texts.get(lang, f"onboarding.ask.{step}")
    if step == "org_type":
        buttons = [
            _button(texts.get(lang, f"onboarding.type.{t}"), f"{PREFIX}type:{t}") for t in ORG_TYPES
        ]
        return prompt, InlineKeyboardMarkup(_rows(buttons))
    if step == "size":
        buttons = [
            _button(texts.get(lang, f"onboarding.size.{s}"), f"{PREFIX}size:{s}") for s in SIZES
        ]
        return prompt, InlineKeyboardMarkup(_rows(buttons))
    if step == "measures":
        chosen = set(draft.measures())
        buttons = [
            # The data names the state asked for, so a double tap selects once.
            _button(
                ("✅ " if t.id in chosen else "") + _short(t.title[lang]),
                f"{PREFIX}m:{i}:{0 if t.id in chosen else 1}",
            )
            for i, t in enumerate(measure_topics(context.services.kb))
        ]
        rows = [
            *_rows(buttons, 1),
            [_button(texts.get(lang, "onboarding.next"), f"{PREFIX}m:done")],
        ]
        return prompt, InlineKeyboardMarkup(rows)
    if step == "consent":
        return prompt, InlineKeyboardMarkup(
            [[_button(texts.get(lang, "onboarding.consent_button"), f"{PREFIX}consent")]]
        )
    skippable = step == "phone" or (step == "measures_text" and draft.measures())
    if skippable:
        return prompt, InlineKeyboardMarkup(
            [[_button(texts.get(lang, "onboarding.skip"), f"{PREFIX}skip")]]
        )
    return prompt, None


async def _show_step(
    context: BotContext,
    chat_id: int,
    lang: Lang,
    draft: Draft,
    *,
    edit_query: bool = False,
    update: Update | None = None,
) -> None:
    text, markup = _step_view(context, lang, draft)
    query = update.callback_query if update else None
    if edit_query and query is not None:
        try:
            await query.edit_message_text(text, reply_markup=markup)
            return
        except TelegramError as error:
            if not_modified(error):
                return  # shows this step already
            # too old to edit: send anew below
    await context.bot.send_message(chat_id, text, reply_markup=markup)


async def _advance(
    context: BotContext, update: Update, lang: Lang, draft: Draft, *, edit_query: bool = False
) -> bool:
    """Move to the next step and show it; False (nothing shown) if another update saved the
    draft first."""
    draft.step = next_step(draft)
    if draft.step == "review":
        draft.answers.pop("_editing", None)
    if not await context.services.onboarding.save(draft):
        return False
    if update.callback_query is not None:
        await update.callback_query.answer()
    chat = update.effective_chat
    if chat is not None:
        await _show_step(context, chat.id, lang, draft, edit_query=edit_query, update=update)
    return True


async def _expect_answers(context: BotContext, update: Update) -> None:
    """The person's next messages answer the form (until it is submitted or cancelled)."""
    chat, user = update.effective_chat, update.effective_user
    if chat is not None and user is not None:
        await context.services.waiting.expect(chat_id=chat.id, user_id=user.id, kind=WaitKind.JOIN)


async def join(update: Update, context: BotContext, *, answered: bool = False) -> None:
    """/join or the join button: start the form, or offer to continue an unfinished one."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    if update.callback_query and not answered:
        await update.callback_query.answer()
    if chat.type != ChatType.PRIVATE:
        username = context.bot.username or ""
        await context.bot.send_message(
            chat.id, texts.get(lang, "onboarding.private_only", link=f"https://t.me/{username}")
        )
        return
    service = context.services.onboarding
    existing = await service.draft(chat_id=chat.id)
    if existing is not None and (existing.answers or existing.step != STEPS[0]):
        zone = context.services.settings.zone
        when = local(existing.updated_at, zone) if existing.updated_at else ""
        await context.bot.send_message(
            chat.id,
            texts.get(lang, "onboarding.resume_question", date=when),
            reply_markup=InlineKeyboardMarkup(
                [
                    [
                        _button(texts.get(lang, "onboarding.resume"), f"{PREFIX}resume"),
                        _button(texts.get(lang, "onboarding.restart"), f"{PREFIX}restart"),
                    ]
                ]
            ),
        )
        return
    draft = await service.start(chat_id=chat.id, user_id=user.id if user else None, language=lang)
    await _expect_answers(context, update)
    await context.bot.send_message(chat.id, texts.get(lang, "onboarding.intro"))
    await _show_step(context, chat.id, lang, draft)


def _repeats_an_answer(draft: Draft, text: str) -> bool:
    """The message is an answer the form has taken already: the second copy of one sent twice
    at once, after the first moved the form on to a button (or, after an edit, the review)."""
    return any(draft.text(name) and clean(name, text)[0] == draft.text(name) for name in TEXT_STEPS)


def _just_saved(turn: Turn, draft: Draft) -> bool:
    """The draft was saved a moment ago: faster than a person types a second answer."""
    saved = draft.updated_at
    return saved is not None and turn.services.clock() - saved < DOUBLE_SEND


async def receive(turn: Turn, wait: Wait) -> bool:
    """A private message while the form waits: the answer to its current step (a sticker or
    photo: asked again, nothing lost); False when the form waits for a button (unless the
    message repeats an answer already taken), or is old."""
    if turn.chat.type != ChatType.PRIVATE:
        return False
    for _ in range(_ATTEMPTS):
        draft = await turn.services.onboarding.draft(chat_id=turn.chat.id)
        if draft is None:
            await turn.services.waiting.take(wait)  # submitted or erased meanwhile
            return False
        stale = turn.services.clock() - STALE_DRAFT
        if draft.updated_at is not None and draft.updated_at < stale:
            return False  # an old, abandoned form: text is a question again (/join resumes it)
        if turn.message is None or not turn.message.text:
            await turn.respond("onboarding.problem.text_needed")
            await _show_step(turn.context, turn.chat.id, turn.lang, draft)
            return True
        if draft.step not in TEXT_STEPS:
            if not _repeats_an_answer(draft, turn.message.text):
                return False  # the form waits for a button; a typed message is a question
            # A copy of the answer that moved the form on (sent twice at once): where it is now.
            await _show_step(turn.context, turn.chat.id, turn.lang, draft)
            return True
        if _repeats_an_answer(draft, turn.message.text) and _just_saved(turn, draft):
            # The copy of an answer sent twice at once, after the first moved the form on to
            # the next typed step: not that step's answer ("Erika Muster" is no e-mail).
            await _show_step(turn.context, turn.chat.id, turn.lang, draft)
            return True
        value, problem = clean(draft.step, turn.message.text)
        if problem is not None or value is None:
            key = (problem or Problem.EMPTY).value
            await turn.respond(f"onboarding.problem.{key}", limit=MAX_LENGTH[draft.step])
            await _show_step(turn.context, turn.chat.id, turn.lang, draft)
            return True
        draft.answers[draft.step] = value
        if await _advance(turn.context, turn.update, turn.lang, draft):
            return True
        # Another message was saved first (two sent at once): this one answers the next step.
    return True


@on_press
async def form_button(press: Press) -> None:
    """Every button of the form."""
    action = (press.query.data or "").removeprefix(PREFIX)
    if action == "join":
        await join(press.update, press.context)
        return
    for _ in range(_ATTEMPTS):
        if await _press_once(press, action):
            return
    await press.ok()  # every attempt found the form changed under it: it shows the latest


def _done_before(kind: str, value: str, draft: Draft) -> bool:
    """The press repeats one the form has taken already (a double tap): the same answer is
    recorded and the person has moved on."""

    def behind(step: str) -> bool:
        return STEPS.index(step) < STEPS.index(draft.step)

    if kind in ("type", "size"):
        name = "org_type" if kind == "type" else "size"
        return behind(name) and draft.text(name) == value
    if kind == "skip":
        return any(behind(n) and draft.answers.get(n) == "" for n in ("phone", "measures_text"))
    if kind == "edit":
        return draft.editing and draft.step == value
    return (kind == "consent" and behind("consent")) or (
        kind == "m" and value == "done" and behind("measures")
    )


async def _press_once(press: Press, action: str) -> bool:
    """Apply one press to the draft as it is now; False (nothing answered or sent) when
    another update saved the draft first, so the press is decided again on the fresh one."""
    update, context, query = press.update, press.context, press.query
    chat, lang = press.chat, press.lang
    texts = context.services.texts
    service = context.services.onboarding
    draft = await service.draft(chat_id=chat.id)
    if draft is None:
        if action == "submit":  # submitted by the first of two taps
            await already_done(update, context, lang)
            return True
        await query.answer(texts.get(lang, "common.expired_button"), show_alert=True)
        return True
    if action == "restart":
        await query.answer()
        await service.discard(chat_id=chat.id)
        await join(update, context, answered=True)
        return True
    if action == "resume":
        await query.answer()
        await _expect_answers(context, update)
        await _show_step(context, chat.id, lang, draft)
        return True
    kind, _, value = action.partition(":")
    step = draft.step
    accepted = (
        (kind == "type" and step == "org_type" and value in ORG_TYPES)
        or (kind == "size" and step == "size" and value in SIZES)
        or (kind == "skip" and step in ("phone", "measures_text"))
        or (kind == "consent" and step == "consent")
        or (kind == "m" and step == "measures")
        or (kind == "edit" and step == "review" and value in STEPS[:-2])
        or (kind == "submit" and step == "review")
    )
    if not accepted:
        if _done_before(kind, value, draft):
            await already_done(update, context, lang)  # a double tap: the form moved on
            return True
        # A button from another message: show where the person really is.
        await query.answer(texts.get(lang, "common.expired_button"))
        await _show_step(context, chat.id, lang, draft)
        return True
    if kind == "submit":
        return await _submit(press, draft)
    if kind == "edit":
        draft.step = value
        draft.answers["_editing"] = True
        if not await service.save(draft):
            return False
        await query.answer()
        await _expect_answers(context, update)
        await _show_step(context, chat.id, lang, draft)
        return True
    if kind == "m" and value != "done":
        return await _toggle_measure(press, draft, value)
    if kind == "type":
        draft.answers["org_type"] = value
    elif kind == "size":
        draft.answers["size"] = value
    elif kind == "skip":
        if step == "measures_text" and not draft.measures():
            await query.answer()
            await _show_step(context, chat.id, lang, draft)
            return True
        draft.answers[step] = ""
    if kind == "m" and not draft.measures() and not draft.text("measures_text"):
        # Without a chosen measure the own text is required: never skip to the review.
        draft.answers.pop("_editing", None)
        draft.step = "measures"
    return await _advance(context, update, lang, draft, edit_query=kind in ("type", "size"))


async def _toggle_measure(press: Press, draft: Draft, value: str) -> bool:
    """Select or unselect one measure and redraw the list in place."""
    context, query, chat, lang = press.context, press.query, press.chat, press.lang
    topics = measure_topics(context.services.kb)
    index, _, wanted = value.partition(":")
    if not index.isdigit() or int(index) >= len(topics):
        await query.answer()
        await _show_step(context, chat.id, lang, draft)
        return True
    chosen = draft.measures()
    topic_id = topics[int(index)].id
    # "3:1" selects, "3:0" unselects; "3" (older messages) toggles.
    select = wanted == "1" if wanted else topic_id not in chosen
    if select == (topic_id in chosen):
        await query.answer()  # as asked already (a double tap)
        return True
    draft.answers["measures"] = (
        [*chosen, topic_id] if select else [m for m in chosen if m != topic_id]
    )
    if not await context.services.onboarding.save(draft):
        return False
    await query.answer()
    await _show_step(context, chat.id, lang, draft, edit_query=True, update=press.update)
    return True


async def _submit(press: Press, draft: Draft) -> bool:
    """Submit the draft; False (nothing answered or sent) when it is not as read any more:
    the first of two taps submitted it (the press, decided again, is "already done"), or
    another update changed it."""
    services, chat, user = press.services, press.chat, press.user
    if not complete(draft):  # should not reach the review: it shows what is missing
        await press.ok()
        await _show_step(press.context, chat.id, press.lang, draft)
        return True
    request = await services.onboarding.submit(draft, user_id=user.id if user else None)
    if request is None:
        return False
    await press.ok()
    if user is not None:
        await services.waiting.clear(chat_id=chat.id, user_id=user.id)
    services.wake_delivery()
    with contextlib.suppress(TelegramError):  # an old message may no longer be editable
        await press.query.edit_message_reply_markup(None)
    await press.say("onboarding.submitted", number=reference(request.id))
    return True


@on_turn
async def status(turn: Turn) -> None:
    """/status: the requester's own requests and where they stand."""
    requests = await turn.services.onboarding.requests_of(chat_id=turn.chat.id)
    if not requests:
        await turn.say("onboarding.no_requests")
        return
    lines = [
        turn.text(
            "onboarding.status_line",
            number=reference(r.id),
            org_name=r.org_name,
            status=turn.text(f"onboarding.status.{r.status}"),
            reason=turn.text("onboarding.status_reason", reason=r.decline_reason)
            if r.decline_reason
            else "",
        )
        for r in requests
    ]
    await turn.send(join_markup("\n", lines))


async def link_invite(turn: Turn, token: str) -> None:
    """`/start inv_<token>`: link this chat to the invite's partner."""
    result, partner = await turn.services.onboarding.link(token=token, chat_id=turn.chat.id)
    await turn.respond(
        f"onboarding.invite_{result.value}", org_name=partner.name if partner else ""
    )


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Commands and buttons of the form (text answers come via private_text)."""
    return [
        CommandHandler("join", join),
        CommandHandler("status", status),
        CallbackQueryHandler(form_button, pattern=f"^{PREFIX}"),
    ]
