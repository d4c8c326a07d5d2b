"""Hand-over messages travel through the outbox (a Telegram hiccup delays them, never loses
them), a coordinator's reply to any copy reaches the asker, and the asker's follow-ups reach
the office by the rule in bot.services.handovers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from telegram.error import TimedOut

from bot.db.models import Handover, OutboxMessage, utcnow
from bot.db.privacy import ERASED_COPY_KIND
from bot.delivery import DeliveryWorker, WorkerConfig
from bot.offline import Call
from bot.services.handovers import looks_like_addition
from tests.conftest import COORDINATOR_ID, OFFICE_CHAT_ID, Harness, texts_of

ASKER = 7401
QUESTION = "Was ist ein Kulturdolmetscher-Zertifikat?"


async def hand_over(harness: Harness, *, delivered: bool = True, question: str = QUESTION) -> None:
    """The person asks what the bot does not know and presses "An die Netzwerkstelle"; with
    `delivered`, the office has the copy."""
    calls = await harness.send(question, user_id=ASKER)
    [data] = [d for c in calls for _, d in c.buttons() if d.startswith("ho:")]
    pressed = await harness.press(data, user_id=ASKER)
    assert harness.services.texts.get("de", "handover.sent") in texts_of(pressed)
    if delivered:
        await harness.deliver()


async def office_answers(
    harness: Harness, answer: str, *, to: str = QUESTION, copy: dict[str, Any] | None = None
) -> None:
    """A coordinator replies in the office chat to the copy containing `to` (or to `copy`,
    the message as `harness.delivered` found it earlier)."""
    calls = await harness.send(
        answer,
        user_id=COORDINATOR_ID,
        chat_id=OFFICE_CHAT_ID,
        chat_type="supergroup",
        reply_to=copy or await harness.delivered(OFFICE_CHAT_ID, to),
    )
    assert texts_of(calls) == [harness.services.texts.get("de", "handover.relayed")]


async def office_answered(harness: Harness, answer: str) -> None:
    """The person handed the question over and the office's `answer` reached them."""
    await hand_over(harness)
    await office_answers(harness, answer)
    await harness.deliver()


async def age(harness: Harness, hours: float) -> None:
    """Everything about the hand-overs happened `hours` earlier (time passes)."""
    earlier = timedelta(hours=hours)
    async with harness.services.sessions.begin() as session:
        for handover in (await session.scalars(select(Handover))).all():
            handover.created_at -= earlier
            if handover.answered_at is not None:
                handover.answered_at -= earlier
            if handover.followed_up_at is not None:
                handover.followed_up_at -= earlier


def followup_note(harness: Harness, number: int = 1) -> str:
    return harness.services.texts.get("de", "handover.followup_sent", number=number)


async def forwarded(harness: Harness, text: str, **kwargs: Any) -> Call:
    """The person sends `text`: they are told it went to the office (and nothing else), and
    the office gets a copy; the copy."""
    calls = await harness.send(text, user_id=ASKER, **kwargs)
    assert texts_of(calls) == [followup_note(harness)], "told, and not answered as a question"
    [copy] = await harness.deliver()
    assert copy.chat_id == OFFICE_CHAT_ID
    return copy


async def asker_gets(harness: Harness, answer: str, *, later: timedelta = timedelta()) -> None:
    """The delivery worker (`later`, for a retry) sends the office's answer to the asker, and
    nothing else."""
    [delivered] = await harness.deliver(later=later)
    assert delivered.chat_id == ASKER and answer in delivered.text


async def not_forwarded(harness: Harness, text: str) -> list[str]:
    """The person sends `text`: it is no addition and nothing goes to the office; the texts
    the bot answered with."""
    calls = await harness.send(text, user_id=ASKER)
    assert followup_note(harness) not in texts_of(calls)
    assert await harness.deliver() == []
    return texts_of(calls)


async def test_a_hiccup_delays_the_hand_over_and_the_answer_never_loses_them(
    harness: Harness,
) -> None:
    await hand_over(harness, delivered=False)
    harness.api.raise_next("sendMessage", TimedOut("timed out"))
    first = await harness.deliver()
    assert [c.chat_id for c in first] == [OFFICE_CHAT_ID], "tried once, Telegram timed out"
    async with harness.services.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage))).all()
    assert row.status == "pending" and row.last_error == "TimedOut"
    [copy] = await harness.deliver(later=timedelta(minutes=1))
    assert copy.chat_id == OFFICE_CHAT_ID and QUESTION in copy.text
    assert await harness.deliver(later=timedelta(minutes=10)) == [], "delivered once"

    await office_answers(harness, "Bei der IHK.")
    harness.api.raise_next("sendMessage", TimedOut("timed out"))
    assert [c.chat_id for c in await harness.deliver()] == [ASKER]
    await asker_gets(harness, "Bei der IHK.", later=timedelta(minutes=1))


async def test_the_office_learns_when_its_answer_cannot_reach_the_asker(
    harness: Harness,
) -> None:
    """The person blocked the bot after handing the question over: the office is told that
    its answer did not arrive, once, instead of believing it did."""
    await hand_over(harness)
    await harness.deliver()
    await office_answers(harness, "Bei der IHK.")
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    tried, notice = await harness.deliver()
    assert tried.chat_id == ASKER
    expected = harness.services.texts.get("de", "handover.reply_undeliverable", number=1)
    assert (notice.chat_id, notice.text) == (OFFICE_CHAT_ID, expected)
    assert await harness.deliver(later=timedelta(minutes=10)) == [], "told once"


async def test_every_office_answer_on_its_way_to_a_blocked_asker_is_reported(
    harness: Harness,
) -> None:
    """Two questions handed over, both answered before the first answer went out: the block
    stops both answers, and the office hears of each, once."""
    second = "Gibt es Zuschüsse für Gebärdensprachdolmetscher bei Betriebsversammlungen?"
    await hand_over(harness)
    await hand_over(harness, question=second)
    await office_answers(harness, "Bei der IHK.")
    await office_answers(harness, "Beim Integrationsamt.", to=second)
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    one_at_a_time = DeliveryWorker(
        harness.app.bot,
        harness.services.sessions,
        harness.services.broadcasts,
        harness.services.texts,
        WorkerConfig(name="one-at-a-time", batch_size=1),
    )
    before = len(harness.api.calls)
    while await one_at_a_time.run_once():
        pass
    calls = harness.api.calls[before:]
    assert [c.chat_id for c in calls].count(ASKER) == 1, "the second answer is not tried"
    texts = harness.services.texts
    notices = [c.text for c in calls if c.chat_id == OFFICE_CHAT_ID]
    assert notices == [
        texts.get("de", "handover.reply_undeliverable", number=number) for number in (1, 2)
    ]
    assert await harness.deliver(later=timedelta(minutes=10)) == []


async def test_an_addition_reaches_the_office_and_a_reply_to_it_the_asker(
    harness: Harness,
) -> None:
    await hand_over(harness)
    copy = await forwarded(harness, "Ach ja, und wir sind eine Behörde in Köln.")
    assert "Nachtrag zu Frage Nr. 1" in copy.text and "Behörde in Köln" in copy.text
    assert QUESTION in copy.text, "the office sees which question it belongs to"

    # A coordinator replies to the addition's copy: the asker gets it.
    await office_answers(harness, "Dann fragen Sie die IHK Köln.", to="Behörde in Köln")
    await asker_gets(harness, "IHK Köln")


async def test_a_new_question_while_one_is_open_is_answered_not_forwarded(
    harness: Harness,
) -> None:
    await hand_over(harness)
    texts = await not_forwarded(harness, "Was ist KAUSA?")
    assert any("KAUSA" in t for t in texts), "answered from the knowledge base"


async def test_the_first_message_after_the_office_answered_goes_to_the_office(
    harness: Harness,
) -> None:
    await office_answered(harness, "In welcher Stadt sind Sie?")
    # Answered without Telegram's Reply: still reaches the office.
    assert "Bielefeld" in (await forwarded(harness, "Bielefeld")).text
    # The next message is a question again (it begins like no addition).
    await not_forwarded(harness, "Was ist KAUSA?")


async def test_a_known_question_right_after_the_answer_is_answered_too(
    harness: Harness,
) -> None:
    await office_answered(harness, "Bei der IHK.")
    calls = await harness.send("Was ist KAUSA?", user_id=ASKER)
    assert texts_of(calls)[0] == followup_note(harness), "it may be meant for the office"
    assert any("KAUSA" in t for t in texts_of(calls)[1:]), "and the bot knows it: answered"
    [copy] = await harness.deliver()
    assert copy.chat_id == OFFICE_CHAT_ID and "Was ist KAUSA?" in copy.text


async def test_after_a_day_only_a_reply_to_the_answer_reaches_the_office(
    harness: Harness,
) -> None:
    await office_answered(harness, "Wie viele Beschäftigte haben Sie?")
    await age(harness, 25)
    await not_forwarded(harness, "Übrigens, wir sind 40 Leute.")  # the window of 24 h is over
    reply_to = await harness.delivered(ASKER, "Wie viele Beschäftigte")
    assert "Etwa 40." in (await forwarded(harness, "Etwa 40.", reply_to=reply_to)).text


async def test_someone_without_a_hand_over_is_just_answered(harness: Harness) -> None:
    assert await not_forwarded(harness, "Ach ja, und was ist KAUSA?"), "answered"


async def test_erasure_takes_the_office_copies_with_it(harness: Harness) -> None:
    await hand_over(harness)
    await harness.send("Nachtrag: wir sind in Köln.", user_id=ASKER)
    await office_answers(harness, "Danke.")
    await harness.deliver()
    await harness.services.privacy.erase(user_id=ASKER, chat_id=ASKER)
    async with harness.services.sessions() as session:
        left = (await session.scalars(select(OutboxMessage))).all()
    # The question, the addition and the answer are gone; of the office's two delivered copies
    # only their message ids stay, so a reply to one is told the person erased their data.
    assert [(r.kind, r.chat_id, r.text, r.ref_id) for r in left] == [
        (ERASED_COPY_KIND, OFFICE_CHAT_ID, "", None)
    ] * 2


async def test_delivered_copies_outlive_the_delivery_retention(harness: Harness) -> None:
    await hand_over(harness)
    copy = await harness.delivered(OFFICE_CHAT_ID, QUESTION)
    async with harness.services.sessions.begin() as session:
        await session.execute(
            update(OutboxMessage).values(created_at=utcnow() - timedelta(days=60))
        )
    await harness.services.privacy.apply_retention()
    async with harness.services.sessions() as session:
        texts = (await session.scalars(select(OutboxMessage.text))).all()
    assert texts and not any(texts), "the copy's text goes with the delivered messages'"
    await office_answers(harness, "Bei der IHK.", copy=copy)  # the copy is still found


@pytest.mark.parametrize(
    "text",
    [
        "Ach ja, und wir sind in Köln",
        "und wann?",
        "Übrigens: 40 Leute",
        "uebrigens 40 Leute",
        "P.S. noch was",
        "Nachtrag: Köln",
        "Noch eine Frage dazu",
        "one more thing",
        "Oh and we are in Cologne",
        "btw, Cologne",
    ],
)
def test_additions_by_their_first_words(text: str) -> None:
    assert looks_like_addition(text)


@pytest.mark.parametrize(
    "text",
    ["Was ist KAUSA?", "Undankbar ist das nicht", "Andere Frage: Mentoring?", "Wie fangen wir an?"],
)
def test_questions_are_no_additions(text: str) -> None:
    assert not looks_like_addition(text)
