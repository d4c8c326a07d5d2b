"""The error handler: a bug in a handler gets an apology; a person the bot cannot reach does not."""

from __future__ import annotations

from telegram.error import NetworkError

from tests.conftest import Harness, texts_of

PERSON = 5401


async def test_a_bad_request_in_a_handler_gets_the_apology(harness: Harness) -> None:
    apology = harness.services.texts.get("de", "common.error")
    # Telegram refuses the handler's reply (e.g. broken HTML): our bug, the person waits.
    harness.api.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    calls = await harness.send("/help", user_id=PERSON)
    assert texts_of(calls)[-1] == apology


async def test_blocked_or_unreachable_chats_get_no_apology(harness: Harness) -> None:
    apology = harness.services.texts.get("de", "common.error")
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    blocked = await harness.send("/help", user_id=PERSON)
    harness.api.raise_next("sendMessage", NetworkError("connection reset"))
    offline = await harness.send("/help", user_id=PERSON)
    sent = [c for c in blocked + offline if c.method == "sendMessage"]
    assert len(sent) == 2, "each tried its reply once"
    assert apology not in texts_of(blocked + offline)
