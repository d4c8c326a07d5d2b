"""Free-text questions: answer, did-you-mean, or an honest "I don't know" with a hand-over."""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler

from bot import callbacks
from bot.services.directory import asks_for_examples
from bot.services.questions import CONVERSATIONAL, MAX_QUESTION_CHARS, Answer
from handlers.answers import FEEDBACK, MORE, TOPIC, send_details, send_topic, topic_keyboard
from handlers.base import BotContext, Prefs, Press, Turn, begin, chat_prefs, on_press
from handlers.examples import show_topic_examples
from knowledge import Lang, Outcome, clear_language

HANDOVER = callbacks.HANDOVER


def _strip_mention(text: str, username: str | None) -> str:
    if username:
        text = re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE)
    return text.strip()


async def answer_question(update: Update, context: BotContext) -> None:
    """Answer a free-text question from the knowledge base."""
    message = update.effective_message
    if message is None or not message.text:
        return
    turn = await begin(update, context)
    if turn is None:
        return
    text = _strip_mention(message.text, context.bot.username)
    prefs = await chat_prefs(update, context)
    # The setting is the default; a question clearly in the other language is answered in it.
    turn = replace(turn, lang=clear_language(text) or prefs.language)
    questions = turn.services.questions
    if not text:
        await message.reply_text(turn.text("help.text"))
        return
    answer = await questions.ask(text, turn.lang)
    if asks_for_examples(text) and await _examples_first(turn, answer):
        return  # "Wer hat schon …?": what partners did, with the topic's answer one tap away
    await _reply(turn, message, answer, prefs)
    # Stored after replying: the person does not wait for the curators' list.
    await questions.record_if_unanswered(answer)


async def _reply(turn: Turn, message: Message, answer: Answer, prefs: Prefs) -> None:
    context, chat, lang = turn.context, turn.chat, turn.lang
    result = answer.result
    if answer.truncated:
        await message.reply_text(turn.text("answer.long_message", limit=MAX_QUESTION_CHARS))
    if result.outcome is Outcome.ANSWER and result.topic is not None:
        await send_topic(
            context,
            chat.id,
            result.topic,
            lang,
            plain=prefs.plain,
            region=prefs.region,
            reply_to=message.message_id,
        )
        return
    if result.outcome is Outcome.SUGGEST:
        await message.reply_text(
            turn.text("answer.suggest"),
            reply_markup=topic_keyboard(list(result.suggestions), lang),
        )
        return
    private = chat.type == ChatType.PRIVATE
    if result.scope_rule in CONVERSATIONAL:
        # "Hallo" gets a greeting with examples, "danke" a friendly close: not the scope text.
        markup = _unknown_keyboard(context, lang, None) if result.scope_rule == "greeting" else None
        await message.reply_text(turn.text(f"scope.{result.scope_rule}"), reply_markup=markup)
        return
    if result.outcome is Outcome.OUT_OF_SCOPE and not result.scope_by_meaning:
        key = f"scope.{result.scope_rule}"
        scope_text = turn.text(key if key in turn.services.texts else "scope.default")
        await message.reply_text(scope_text, reply_markup=_unknown_keyboard(context, lang, None))
        return
    if result.outcome is Outcome.OUT_OF_SCOPE:
        # Only similar in meaning to things we do not cover: say so, but the office may know.
        pending_id = await _offer(context, chat.id, lang, result.question) if private else None
        await message.reply_text(
            turn.text("scope.default"),
            reply_markup=_unknown_keyboard(context, lang, pending_id),
        )
        return
    pending_id = await _offer(context, chat.id, lang, result.question) if private else None
    await message.reply_text(
        turn.text("answer.unknown"),
        reply_markup=_unknown_keyboard(context, lang, pending_id),
    )


async def _offer(context: BotContext, chat_id: int, lang: Lang, text: str) -> int:
    """Hold the question until the person decides to hand it over (the button carries its id,
    so the button works after a restart and in any bot process)."""
    return await context.services.waiting.offer_question(
        chat_id=chat_id, language=lang, question=text
    )


async def _examples_first(turn: Turn, answer: Answer) -> bool:
    """Answer from the directory of practice: the examples of the topic the search found
    (or of the first suggestion that has some); False when none has examples."""
    result = answer.result
    if result.outcome not in (Outcome.ANSWER, Outcome.SUGGEST):
        return False
    candidates = [result.topic] if result.topic is not None else []
    candidates += [t for t in result.suggestions if t not in candidates]
    for topic in candidates:
        if await show_topic_examples(turn, topic):
            return True
    return False


def _unknown_keyboard(
    context: BotContext, lang: str, pending_id: int | None
) -> InlineKeyboardMarkup:
    texts = context.services.texts
    row = [
        InlineKeyboardButton(
            texts.get(lang, "answer.topics_button"), callback_data=callbacks.CATEGORY
        )
    ]
    if pending_id is not None:
        row.append(
            InlineKeyboardButton(
                texts.plain(lang, "answer.handover_button"), callback_data=f"{HANDOVER}{pending_id}"
            )
        )
    return InlineKeyboardMarkup([row])


@on_press
async def show_topic(press: Press) -> None:
    """A topic button was pressed: send that topic's answer."""
    prefs = await chat_prefs(press.update, press.context)
    topic = press.services.kb.topic(press.group(1))
    if topic is None:
        await press.expired()
        return
    await press.ok()
    await send_topic(
        press.context, press.chat.id, topic, press.lang, plain=prefs.plain, region=prefs.region
    )


@on_press
async def show_details(press: Press) -> None:
    """ "More" was pressed (also on a message from before a restart): send the topic's details."""
    topic = press.services.kb.topic(press.group(1))
    if topic is None or not await send_details(press.context, press.chat.id, topic, press.lang):
        await press.expired()
        return
    await press.ok()
    query = press.query
    markup = getattr(query.message, "reply_markup", None)
    if markup is not None:
        # The details are in the chat now; the button would only send them again.
        rows = [row for row in markup.inline_keyboard if row[0].callback_data != query.data]
        await query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None)


@on_press
async def receive_feedback(press: Press) -> None:
    """👍 or 👎 on an answer: counted anonymously, buttons stay for related topics. After a 👎
    the question the answer replied to goes on the coordinators' list, to be taught."""
    topic_id, vote = press.group(1), press.group(2)
    context, query = press.context, press.query
    if press.services.kb.topic(topic_id) is None:
        await press.expired()
        return
    message = query.message
    counted = await press.services.questions.record_feedback(
        topic_id=topic_id,
        helpful=vote == "1",
        chat_id=press.chat.id,
        message_id=message.message_id if message is not None else 0,
    )
    if not counted:
        await press.done_already()  # a double tap, or the other thumb after one
        return
    question = _answered_question(query.message, context) if vote == "0" else None
    if question is not None:
        await press.services.teaching.record_disliked(
            question=question, language=press.lang, topic_id=topic_id
        )
    await press.ok("answer.feedback_thanks")
    markup = getattr(message, "reply_markup", None)
    if markup is not None:
        # Drop the feedback row so nobody votes twice from the same message.
        rows = [
            row for row in markup.inline_keyboard if not row[0].callback_data.startswith(FEEDBACK)
        ]
        with contextlib.suppress(BadRequest):  # cosmetic; a message too old to edit is fine
            await query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None)


def _answered_question(message: object, context: BotContext) -> str | None:
    """The person's question an answer replied to, when Telegram sends it along (answers to
    typed questions quote them; answers from topic buttons have no question)."""
    if not isinstance(message, Message):
        return None
    asked = message.reply_to_message
    if asked is None or not asked.text or asked.from_user is None or asked.from_user.is_bot:
        return None
    return _strip_mention(asked.text, context.bot.username) or None


@on_press
async def hand_over(press: Press) -> None:
    """Pass a question the bot could not answer to the coordinators' chat, or, when none is
    set, to each coordinator in their private chat (through the outbox: a Telegram hiccup
    delays the question, never loses it)."""
    services, chat, lang = press.services, press.chat, press.lang
    targets = services.office_chats()
    if not targets:
        await press.ok()
        await press.say("handover.unavailable")
        return
    raw_id = press.group(1)
    # Claimed in the database: of two taps at once (in any process), one hands it over.
    held = await services.waiting.claim_question(
        question_id=int(raw_id) if raw_id.isdigit() else 0, chat_id=chat.id
    )
    if held is True:
        await press.done_already()
        return
    if held is False:
        await press.alert("handover.expired")
        return
    await services.handovers.open(
        asker_chat_id=chat.id, language=lang, question=held.question, targets=targets
    )
    services.wake_delivery()
    await press.ok()
    await press.drop_buttons()
    await press.say("handover.sent")


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """The answers' buttons (text reaches answer_question through handlers.private_text)."""
    return [
        CallbackQueryHandler(show_topic, pattern=rf"^{TOPIC}(.*)$"),
        CallbackQueryHandler(show_details, pattern=rf"^{MORE}(.*)$"),
        CallbackQueryHandler(receive_feedback, pattern=rf"^{FEEDBACK}(.*):(0|1)$"),
        CallbackQueryHandler(hand_over, pattern=rf"^{HANDOVER}(.*)$"),
    ]


async def answer_in_group(update: Update, context: BotContext) -> None:
    """In groups, answer only when mentioned by name or replied to."""
    message = update.effective_message
    if message is None or not message.text:
        return
    username = (context.bot.username or "").lower()
    mentioned = f"@{username}" in message.text.lower() if username else False
    replied = bool(
        message.reply_to_message
        and message.reply_to_message.from_user
        and message.reply_to_message.from_user.id == context.bot.id
    )
    if mentioned or replied:
        await answer_question(update, context)
