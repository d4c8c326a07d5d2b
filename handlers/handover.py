"""The network office answers hand-over questions by replying in the coordinators' chat (or,
without one, in the chat of a coordinator who got the question); the asker's additions reach
the office while the question is open (the rule: bot.services.handovers)."""

from __future__ import annotations

from telegram import Update

from bot.services.handovers import UNREAD, FollowupReason, Relay
from bot.services.waiting import Pending
from handlers.answers import send_topic
from handlers.base import BotContext, begin, chat_prefs
from knowledge import Outcome


async def consume_office_reply(update: Update, context: BotContext) -> bool:
    """A reply to any copy of a handed-over question (or of an addition to it) in the office
    chat or a coordinator's chat: queue it for the person who asked.

    Returns False when the message is not such a reply (someone else handles it then).
    """
    message = update.effective_message
    user = update.effective_user
    services = context.services
    office = services.settings.coordinator_chat_id
    if message is None or message.reply_to_message is None:
        return False
    # Without an office chat, each coordinator got the question in their own chat.
    if message.chat_id != office and (
        office is not None or message.chat_id not in services.roles.coordinators
    ):
        return False
    replied_to = message.reply_to_message.message_id
    handover = await services.handovers.replied_to(
        office_chat_id=message.chat_id, message_id=replied_to
    )
    erased = handover is None and await services.handovers.asker_erased(
        office_chat_id=message.chat_id, message_id=replied_to
    )
    if handover is None and not erased:
        return False
    texts = services.texts
    is_coordinator = message.sender_chat is None and services.roles.is_coordinator(
        user.id if user else None
    )
    if not is_coordinator:
        await message.reply_text(texts.get("de", "common.coordinator_only"))
        return True
    if handover is None:  # the asker erased their data (/deleteme): nobody to answer
        await message.reply_text(texts.get("de", "handover.asker_erased"))
        return True
    if not message.text:
        await message.reply_text(texts.get("de", "handover.reply_without_text"))
        return True
    relay = await services.handovers.relay(
        handover=handover,
        office_chat_id=message.chat_id,
        message_id=message.message_id,
        answer=message.text,
    )
    if relay is Relay.BLOCKED:
        await message.reply_text(texts.get("de", "handover.relay_failed"))
        return True
    services.wake_delivery()
    key = "handover.relayed" if relay is Relay.QUEUED else "common.already_done"
    await message.reply_text(texts.get("de", key))
    return True


async def consume_asker_followup(
    update: Update, context: BotContext, pending: Pending | None = None
) -> bool:
    """A private message of a person whose handed-over question is open, which the follow-up
    rule counts as belonging to it: queued for the office, and the person is told so (and,
    when it counts only for coming first after the office's answer, also answered if the
    knowledge base knows the answer). `pending`: the chat's newest hand-over, when the caller
    read it already for this message."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None or not message.text:
        return False
    services = context.services
    replied = message.reply_to_message
    bot_message = (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == context.bot.id
    )
    followup = await services.handovers.pass_on_followup(
        asker_chat_id=chat.id,
        message_id=message.message_id,
        text=message.text,
        replied_to=replied.message_id if replied is not None and bot_message else None,
        targets=services.office_chats(),
        latest=pending.handover if pending is not None else UNREAD,
    )
    turn = await begin(update, context) if followup is not None else None
    if followup is None or turn is None:
        return False
    services.wake_delivery()
    await turn.respond("handover.followup_sent", number=followup.number)
    if followup.reason is FollowupReason.AFTER_ANSWER:
        # Taken as the answer to the office only by its timing: a question the knowledge
        # base answers with confidence is answered as well, so nothing is held back.
        result = (await services.questions.ask(message.text, turn.lang)).result
        if result.outcome is Outcome.ANSWER and result.topic is not None:
            prefs = await chat_prefs(update, context)
            await send_topic(
                context,
                chat.id,
                result.topic,
                turn.lang,
                plain=prefs.plain,
                region=prefs.region,
                reply_to=message.message_id,
            )
    return True
