"""Sending a knowledge-base answer: text split cleanly, related topics, feedback buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters

from bot import callbacks
from bot.services.dynamic import live_part
from handlers.base import BotContext
from knowledge import Lang, Topic
from knowledge.render import AnswerLabels, render_answer, render_details, split_message

TOPIC = callbacks.TOPIC
FEEDBACK = callbacks.FEEDBACK
CATEGORY = callbacks.CATEGORY
# "More" carries the topic id, so the button still works after a restart (≤ 46 bytes).
MORE = callbacks.MORE
# Answers after which "become a partner" is the natural next step.
JOIN_TOPICS = frozenset(
    {"join_process", "network_requirements", "agreement_measures", "network_benefits"}
)


def topic_button(topic: Topic, lang: Lang) -> InlineKeyboardButton:
    """A button that opens a topic."""
    return InlineKeyboardButton(topic.title[lang], callback_data=f"{TOPIC}{topic.id}")


def topic_keyboard(topics: list[Topic], lang: Lang) -> InlineKeyboardMarkup:
    """One topic per row."""
    return InlineKeyboardMarkup([[topic_button(t, lang)] for t in topics])


def answer_keyboard(
    context: BotContext, topic: Topic, lang: Lang, *, examples: int = 0
) -> InlineKeyboardMarkup:
    """ "More" when the topic has details, "Beispiele aus dem Netzwerk (N)" when partners'
    examples exist, related topics (one per row), the feedback buttons."""
    texts = context.services.texts
    kb = context.services.kb
    rows = [[topic_button(r, lang)] for r in (kb.topic(i) for i in topic.related[:3]) if r]
    if examples:
        label = texts.plain(lang, "examples.answer_button", count=examples)
        data = f"{callbacks.EXAMPLES}l:topic:{topic.id}:0"
        rows.insert(0, [InlineKeyboardButton(label, callback_data=data)])
    if topic.details.get(lang):
        more = texts.get(lang, "answer.more_button")
        rows.insert(0, [InlineKeyboardButton(more, callback_data=f"{MORE}{topic.id}")])
    if topic.id in JOIN_TOPICS:
        rows.insert(
            0,
            [
                InlineKeyboardButton(
                    texts.get(lang, "onboarding.join_button"), callback_data=f"{callbacks.JOIN}join"
                )
            ],
        )
    rows.append(
        [
            InlineKeyboardButton(
                texts.get(lang, "answer.helpful"), callback_data=f"{FEEDBACK}{topic.id}:1"
            ),
            InlineKeyboardButton(
                texts.get(lang, "answer.not_helpful"), callback_data=f"{FEEDBACK}{topic.id}:0"
            ),
        ]
    )
    return InlineKeyboardMarkup(rows)


def answer_labels(context: BotContext, lang: Lang) -> AnswerLabels:
    """The words around an answer, from the locale catalog."""
    texts = context.services.texts
    return AnswerLabels(
        sources=texts.get(lang, "answer.sources_label"),
        reviewed=texts.get(lang, "answer.reviewed_on"),
        date_format=texts.get(lang, "answer.date_format"),
        more_sources=texts.get(lang, "answer.more_sources"),
    )


async def send_topic(
    context: BotContext,
    chat_id: int,
    topic: Topic,
    lang: Lang,
    *,
    plain: bool = False,
    reply_to: int | None = None,
    region: str | None = None,
) -> None:
    """Send a topic's short answer with the parts for the person's region (their choice, else
    the network's); a long one goes out in several messages, buttons on the last.

    With `reply_to` (the person's question) the first and the last part quote it, so a 👎 on
    the answer knows which question it was about.
    """
    services = context.services
    texts = services.texts
    labels = answer_labels(context, lang)
    extra = await live_part(
        topic,
        lang,
        settings=services.settings,
        texts=texts,
        reminders=services.reminders,
        chat_id=chat_id,
    )
    body = render_answer(
        topic,
        lang,
        plain=plain,
        labels=labels,
        extra=extra,
        region=services.settings.region_for(region),
        office=services.settings.office_name(lang),
    )
    chunks = split_message(body)
    examples = await services.directory.count(topic.id)
    quote = (
        ReplyParameters(reply_to, allow_sending_without_reply=True)
        if reply_to is not None
        else None
    )
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        await context.bot.send_message(
            chat_id,
            chunk,
            reply_markup=answer_keyboard(context, topic, lang, examples=examples) if last else None,
            disable_web_page_preview=True,
            reply_parameters=quote if index == 0 or last else None,
        )


async def send_details(context: BotContext, chat_id: int, topic: Topic, lang: Lang) -> bool:
    """Send the details behind "More" with every source; False when the topic has none."""
    body = render_details(
        topic,
        lang,
        labels=answer_labels(context, lang),
        office=context.services.settings.office_name(lang),
    )
    if not body:
        return False
    for chunk in split_message(body):
        await context.bot.send_message(chat_id, chunk, disable_web_page_preview=True)
    return True
