"""Every multi-step flow survives a restart between two steps.

The bot restarts as it does in production: a new Application (empty chat_data and user_data,
new handler objects) on the same database. What waits for a person's next message and every
draft is in the database (bot.services.waiting), so the flow completes where it left off; a
button from before that no longer fits is answered, never with an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime, timedelta
from time import monotonic

import pytest
from sqlalchemy import func, select

import handlers.base
from bot.db.models import (
    Broadcast,
    Feedback,
    Handover,
    Meeting,
    OnboardingDraft,
    OnboardingRequest,
    Partner,
)
from bot.offline import Call, callback_update
from bot.services.onboarding import measure_topics
from bot.settings import Settings
from handlers.base import PREFS_TTL_SECONDS
from knowledge import SearchEngine
from tests.conftest import COORDINATOR_ID, OFFICE_CHAT_ID, Harness, running, texts_of
from tests.test_concurrency import submitted_request
from tests.test_onboarding import fill_until_measures

ASKER = 5101
SUBSCRIBER = 5102


Bot = Callable[[], AbstractAsyncContextManager[Harness]]


@pytest.fixture
def bot(settings: Settings, search_engine: SearchEngine) -> Bot:
    """`async with bot() as harness`: the bot started on the test's database; each `with`
    is one run of the bot, the next one is the bot after a restart."""

    @asynccontextmanager
    async def start() -> AsyncIterator[Harness]:
        async with running(settings, search_engine) as harness:
            yield harness

    return start


def said(harness: Harness, calls: list[Call], key: str, **values: object) -> bool:
    """The bot sent or showed the German catalogue text `key`."""
    wanted = harness.services.texts.get("de", key, **values)
    return wanted in texts_of(calls) + texts_of(calls, "editMessageText")


def answers(calls: list[Call]) -> list[str]:
    """The texts the button presses were answered with."""
    return [c.text for c in calls if c.method == "answerCallbackQuery"]


def expired(harness: Harness) -> str:
    return harness.services.texts.plain("de", "common.expired_button")


async def count(harness: Harness, model: type, *where: object) -> int:
    async with harness.services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))  # type: ignore[arg-type]


async def test_join_form_continues_after_restarts_and_is_submitted(bot: Bot) -> None:
    async with bot() as first:
        await first.send("/join", user_id=ASKER)
        await first.send("Stadt Brückenheim", user_id=ASKER)
    async with bot() as second:  # a button step right after a restart
        calls = await second.press("ob:type:municipality", user_id=ASKER)
        assert "(3/10)" in "\n".join(texts_of(calls, "editMessageText") + texts_of(calls))
    async with bot() as third:  # a text step right after a restart
        calls = await third.send("Brückenheim", user_id=ASKER)
        assert "(4/10)" in "\n".join(texts_of(calls))
        await third.press("ob:size:s", user_id=ASKER)
        await third.send("Ayşe Yılmaz", user_id=ASKER)
        await third.send("a@brueckenheim.example", user_id=ASKER)
        await third.press("ob:skip", user_id=ASKER)
        await third.press("ob:m:0", user_id=ASKER)
        await third.press("ob:m:done", user_id=ASKER)
        await third.press("ob:skip", user_id=ASKER)
        await third.send("2027", user_id=ASKER)
        await third.press("ob:consent", user_id=ASKER)
    async with bot() as fourth:
        calls = await fourth.press("ob:submit", user_id=ASKER)
        assert said(fourth, calls, "onboarding.submitted", number="A-0001")
        assert await count(fourth, OnboardingRequest) == 1
        assert await count(fourth, OnboardingDraft) == 0
        # The form is done: text is a question again, not an answer to a form step.
        calls = await fourth.send("Wie finde ich Fördermittel?", user_id=ASKER)
        assert not any("(" in t and "/10)" in t for t in texts_of(calls))


async def test_broadcast_draft_survives_restarts_between_every_kind_of_step(bot: Bot) -> None:
    async with bot() as first:
        await first.send("/subscribe", user_id=SUBSCRIBER)
        calls = await first.send("/broadcast", user_id=COORDINATOR_ID)
        assert said(first, calls, "broadcast.ask_text")
    async with bot() as second:  # the text after a restart
        calls = await second.send("Fachtag am <b>Freitag</b>", user_id=COORDINATOR_ID)
        assert said(second, calls, "broadcast.ask_audience")
    async with bot() as third:  # buttons after a restart
        await third.press("bc:aud:subscribers", user_id=COORDINATOR_ID)
        calls = await third.press("bc:lang:any", user_id=COORDINATOR_ID)
        assert "bc:later" in [d for c in calls for _, d in c.buttons()]
        old = await third.press("bc:aud:partners", user_id=COORDINATOR_ID)  # an earlier step
        assert answers(old) == [third.services.texts.plain("de", "common.already_done")]
        await third.press("bc:later", user_id=COORDINATOR_ID)
    async with bot() as fourth:  # the send time after a restart
        zone = fourth.services.settings.zone
        when = (datetime.now(zone) + timedelta(days=2)).strftime("%d.%m.%Y 09:00")
        calls = await fourth.send(when, user_id=COORDINATOR_ID)
        assert any("geplant" in t or "Nr. 1" in t for t in texts_of(calls))
        async with fourth.services.sessions() as session:
            [broadcast] = (await session.scalars(select(Broadcast))).all()
        assert broadcast.text == "Fachtag am &lt;b&gt;Freitag&lt;/b&gt;"  # typed, not formatted
        assert broadcast.audience == "subscribers" and broadcast.send_at is not None
        # The preview's buttons belong to a finished draft now.
        late = await fourth.press("bc:send", user_id=COORDINATOR_ID)
        assert answers(late) == [expired(fourth)]
        assert await count(fourth, Broadcast) == 1


async def test_newevent_survives_restarts_and_creates_only_on_confirm(bot: Bot) -> None:
    async with bot() as first:
        zone = first.services.settings.zone
        start = (datetime.now(zone) + timedelta(days=20)).replace(hour=10, minute=0)
        await first.send("/newevent", user_id=COORDINATOR_ID)
        await first.send("Herbsttreffen", user_id=COORDINATOR_ID)
        await first.send(start.strftime("%d.%m.%Y %H:%M"), user_id=COORDINATOR_ID)
    async with bot() as second:
        calls = await second.send("16:00", user_id=COORDINATOR_ID)
        assert said(second, calls, "reminders.newevent.ask_place")
        await second.send("Essen", user_id=COORDINATOR_ID)
        await second.send("-", user_id=COORDINATOR_ID)
        calls = await second.press("ne:aud:partners", user_id=COORDINATOR_ID)
        assert "ne:create" in [d for c in calls for _, d in c.buttons()]
        assert await count(second, Meeting) == 0
    async with bot() as third:
        calls = await third.press("ne:create", user_id=COORDINATOR_ID)
        [meeting_id] = (
            int(d.rsplit(":", 1)[1]) for c in calls for _, d in c.buttons() if "announce" in d
        )
        assert said(
            third, calls, "reminders.newevent.created", number=meeting_id, when="7 Tage und 1 Tag"
        )
        [meeting] = await third.services.reminders.upcoming()
        assert (meeting.title, meeting.place, meeting.audience) == (
            "Herbsttreffen",
            "Essen",
            "partners",
        )
        assert meeting.ends_at - meeting.starts_at == timedelta(hours=6)


async def test_newevent_abort_creates_nothing(bot: Bot) -> None:
    async with bot() as harness:
        start = (datetime.now(harness.services.settings.zone) + timedelta(days=5)).replace(hour=9)
        for text in (
            "/newevent",
            "Treffen",
            start.strftime("%d.%m.%Y %H:%M"),
            "11:00",
            "Köln",
            "-",
        ):
            await harness.send(text, user_id=COORDINATOR_ID)
        await harness.press("ne:aud:subscribers", user_id=COORDINATOR_ID)
        calls = await harness.press("ne:abort", user_id=COORDINATOR_ID)
        assert said(harness, calls, "common.cancelled")
        late = await harness.press("ne:create", user_id=COORDINATOR_ID)
        assert answers(late) == [expired(harness)]
        assert await count(harness, Meeting) == 0


async def test_decline_reason_after_a_restart(bot: Bot) -> None:
    async with bot() as first:
        request_id = await submitted_request(first, ASKER)
        calls = await first.press(f"rq:no:{request_id}", user_id=COORDINATOR_ID)
        assert said(first, calls, "onboarding.ask_reason", number="A-0001")
    async with bot() as second:
        calls = await second.send(
            "Bitte zuerst den Integrationsrat fragen.", user_id=COORDINATOR_ID
        )
        assert said(second, calls, "onboarding.declined_office", number="A-0001")
        request = await second.services.onboarding.get(request_id=request_id)
        assert request is not None and request.status == "declined"
        assert request.decline_reason == "Bitte zuerst den Integrationsrat fragen."
        # Taken: the next message is not a second reason.
        calls = await second.send("Noch etwas?", user_id=COORDINATOR_ID)
        assert not said(second, calls, "onboarding.not_open")


async def test_ask_back_question_after_a_restart(bot: Bot) -> None:
    async with bot() as first:
        request_id = await submitted_request(first, ASKER)
        await first.press(f"rq:ask:{request_id}", user_id=COORDINATOR_ID)
    async with bot() as second:
        calls = await second.send("Welche Abteilungen machen mit?", user_id=COORDINATOR_ID)
        assert said(second, calls, "onboarding.asked_office", number="A-0001")
        # The question reaches the requester through the outbox, once.
        sent = await second.deliver()
        [to_asker] = [c for c in sent if c.chat_id == ASKER]
        assert "Welche Abteilungen machen mit?" in to_asker.text


async def test_due_date_after_a_restart(bot: Bot) -> None:
    async with bot() as first:
        async with first.services.sessions.begin() as session:
            partner = Partner(
                name="Stadt Ost", org_type="municipality", agreement_date=date(2020, 1, 1)
            )
            session.add(partner)
            await session.flush()
            partner_id = partner.id
        calls = await first.press(f"pa:due:{partner_id}", user_id=COORDINATOR_ID)
        assert said(first, calls, "reminders.ask_due", partner="Stadt Ost")
    async with bot() as second:
        calls = await second.send("31.02.", user_id=COORDINATOR_ID)  # refused, still waiting
        assert texts_of(calls) and not any("jetzt" in t for t in texts_of(calls))
        calls = await second.send("30.4.", user_id=COORDINATOR_ID)
        assert any("Stadt Ost" in t for t in texts_of(calls))
        found = await second.services.partners.get(partner_id=partner_id)
        assert found is not None and found.report_due == "04-30"


async def test_hand_over_button_works_after_a_restart_once(bot: Bot) -> None:
    question = "Was ist ein Kulturdolmetscher-Zertifikat?"
    async with bot() as first:
        [reply] = [c for c in await first.send(question, user_id=ASKER) if c.buttons()]
        [button] = [d for _, d in reply.buttons() if d.startswith("ho:")]
    async with bot() as second:
        calls = await second.press(button, user_id=ASKER)
        assert said(second, calls, "handover.sent")
        [to_office] = [c for c in await second.deliver() if c.chat_id == OFFICE_CHAT_ID]
        assert question in to_office.text
        again = await second.press(button, user_id=ASKER)
        assert answers(again) == [second.services.texts.plain("de", "common.already_done")]
        forged = await second.press(button, user_id=ASKER + 1)  # another person's button
        assert answers(forged) == [second.services.texts.plain("de", "handover.expired")]
        assert await count(second, Handover) == 1


async def test_a_vote_counts_once_per_answer_even_after_a_restart(bot: Bot) -> None:
    async with bot() as first:
        calls = await first.press("t:activity_report", user_id=ASKER)
        [up] = [d for c in calls for _, d in c.buttons() if d.startswith("fb:") and d[-1] == "1"]
        calls = await first.press(up, user_id=ASKER, message_id=77)
        thanks = first.services.texts.plain("de", "answer.feedback_thanks")
        assert answers(calls) == [thanks]
    async with bot() as second:
        again = await second.press(up[:-1] + "0", user_id=ASKER, message_id=77)
        assert answers(again) == [second.services.texts.plain("de", "common.already_done")]
        other = await second.press(up, user_id=ASKER, message_id=78)  # another answer message
        assert answers(other) == [thanks]
        assert await count(second, Feedback) == 2


async def test_a_settings_change_in_another_process_shows_within_a_minute(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with bot() as one, bot() as other:  # two processes on one database, at once
        help_de = one.services.texts.get("de", "help.text")
        await one.send("/start", user_id=ASKER)  # process one caches the chat's preferences
        await other.press("s:lang:en", user_id=ASKER)  # the language changes in process two
        later = monotonic() + PREFS_TTL_SECONDS + 1
        monkeypatch.setattr(handlers.base, "monotonic", lambda: later)
        calls = await one.send("/help", user_id=ASKER)
        assert texts_of(calls) and help_de not in texts_of(calls)
        assert texts_of(calls) == texts_of(await other.send("/help", user_id=ASKER))


async def test_cancel_after_a_restart_stops_the_waiting_flow(bot: Bot) -> None:
    async with bot() as first:
        await first.send("/broadcast", user_id=COORDINATOR_ID)
    async with bot() as second:
        calls = await second.send("/cancel", user_id=COORDINATOR_ID)
        assert said(second, calls, "broadcast.aborted")
        calls = await second.send("Was ist KAUSA?", user_id=COORDINATOR_ID)  # a question again
        assert not said(second, calls, "broadcast.ask_audience")
        calls = await second.send("/cancel", user_id=COORDINATOR_ID)
        assert said(second, calls, "common.nothing_to_cancel")


async def test_two_measure_taps_at_once_both_count(bot: Bot) -> None:
    """Two different buttons of the form at the same moment: the draft's version makes the
    second save fail and decide again on the fresh draft, so neither choice is lost."""
    async with bot() as harness:
        await fill_until_measures(harness, ASKER)
        taps = [callback_update(f"ob:m:{i}:1", user_id=ASKER) for i in (0, 1, 2)]
        before = len(harness.api.calls)
        await asyncio.gather(*(harness.push(tap) for tap in taps))
        answered = [
            str(c.params.get("callback_query_id"))
            for c in harness.api.calls[before:]
            if c.method == "answerCallbackQuery"
        ]
        assert sorted(answered) == sorted(t["callback_query"]["id"] for t in taps), "once each"
        draft = await harness.services.onboarding.draft(chat_id=ASKER)
        assert draft is not None
        topics = measure_topics(harness.services.kb)
        assert sorted(draft.measures()) == sorted(t.id for t in topics[:3])
