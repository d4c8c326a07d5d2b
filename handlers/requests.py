"""The coordinators' review of partnership requests: /requests, approve, decline with a reason,
ask back; and the requester's reply to an ask-back, passed on to the office."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.delivery import keyboard
from bot.services.onboarding import OPEN, reference
from bot.services.waiting import Wait, WaitKind
from handlers.base import BotContext, Press, Turn, begin, coordinators_only, on_press, on_turn

REVIEW_PATTERN = rf"^{callbacks.REVIEW}(ok|no|ask):(\d+)$"


@coordinators_only
@on_turn
async def list_requests(turn: Turn) -> None:
    """/requests: open requests, newest first, each with approve / decline / ask back."""
    service = turn.services.onboarding
    open_requests = await service.open_requests()
    if not open_requests:
        await turn.say("onboarding.requests_empty")
        return
    await turn.say("onboarding.requests_header", count=len(open_requests))
    for request in open_requests[:20]:
        text, buttons = service.office_message(request)
        await turn.send(text, keyboard(buttons))


@coordinators_only
@on_press
async def review(press: Press) -> None:
    """Approve at once; decline and ask back wait for the coordinator's next message."""
    action, request_id = press.group(1), int(press.group(2))
    service = press.services.onboarding
    request = await service.get(request_id=request_id)
    if request is None or press.user is None:
        await press.expired()
        return
    if action == "ok":
        approval = await service.approve(
            request_id=request_id,
            coordinator_id=press.user.id,
            bot_username=press.context.bot.username,
        )
        if approval is None:  # decided already, also by the first of two taps at once
            await press.alert("onboarding.not_open")
            return
        await press.ok()
        press.services.wake_delivery()
        values = service.approval_values(approval, press.context.bot.username)
        await press.say("onboarding.approved_office", **values)
        return
    if request.status not in OPEN:
        await press.alert("onboarding.not_open")
        return
    await press.ok()
    kind = WaitKind.DECLINE if action == "no" else WaitKind.ASK_BACK
    await press.expect(kind, request_id=request.id)
    key = "onboarding.ask_reason" if action == "no" else "onboarding.ask_question"
    await press.say(key, number=reference(request.id))


async def receive_coordinator_text(turn: Turn, wait: Wait) -> bool:
    """The reason for a decline, or the question for an ask-back, from a coordinator."""
    taken = await turn.take_coordinator_text(wait)
    if isinstance(taken, bool):
        return taken
    services = turn.services
    service = services.onboarding
    request = await service.get(request_id=int(wait.payload.get("request_id") or 0))
    if request is None or request.status not in OPEN:
        await turn.respond("onboarding.not_open")
        return True
    number = reference(request.id)
    text = taken.text
    if wait.kind is WaitKind.DECLINE:
        declined = await service.decline(
            request_id=request.id, coordinator_id=taken.user_id, reason=text
        )
        if declined is None:
            await turn.respond("onboarding.not_open")
            return True
        services.wake_delivery()
        await turn.respond("onboarding.declined_office", number=number)
        return True
    asked = await service.ask_back(
        request_id=request.id, question=text, source=f"{turn.chat.id}:{taken.message_id}"
    )
    if asked is None:  # decided meanwhile
        await turn.respond("onboarding.not_open")
        return True
    services.wake_delivery()
    await turn.respond("onboarding.asked_office", number=number)
    return True


async def consume_requester_reply(update: Update, context: BotContext) -> bool:
    """A requester replies to an ask-back: queue the answer for the office."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None or message.reply_to_message is None or not message.text:
        return False
    services = context.services
    request = await services.onboarding.request_asked_in(
        chat_id=chat.id, message_id=message.reply_to_message.message_id
    )
    turn = await begin(update, context) if request is not None else None
    if request is None or turn is None:
        return False
    if await turn.refuse_too_long(message.text):
        return True
    await services.onboarding.forward_answer(
        request=request, message_id=message.message_id, answer=message.text
    )
    services.wake_delivery()
    await turn.respond("onboarding.answer_forwarded")
    return True


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """/requests and the review buttons (reasons and questions come via private_text)."""
    return [
        CommandHandler("requests", list_requests),
        CallbackQueryHandler(review, pattern=REVIEW_PATTERN),
    ]
