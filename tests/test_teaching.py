"""Coordinators teach the bot: from /unanswered and after a 👎, one tap attaches a question to a
topic (or to "out of scope"); the search uses it at once and again after a restart."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot.app import build_search
from bot.cli import _parser, cmd_kb
from bot.db.models import AuditEntry, LearnedQuestion, UnansweredQuestion, utcnow
from bot.offline import Call, callback_update, message_update
from bot.settings import Settings
from bot.stats import collect
from knowledge import Outcome, SearchEngine
from tests.conftest import COORDINATOR_ID, Harness, make_settings, running
from tests.test_privacy import rows_mentioning

ASKER = 7_000_123_456
STRANGER = 7_000_999_999
UNKNOWN_QUESTION = "Was ist mit dem Quokka-Verfahren?"
TARGET = "job_ads"  # in the category "hr"


def fresh_engine() -> SearchEngine:
    """A search engine of its own: teaching changes it, the session's shared one must not."""
    return build_search(make_settings())


@pytest.fixture
async def teacher(settings: Settings) -> AsyncIterator[Harness]:
    """A started Application with a search engine of its own."""
    async with running(settings, fresh_engine()) as harness:
        yield harness


def data_of(calls: list[Call]) -> list[str]:
    """The callback data of every button in these calls."""
    return [d for c in calls for _, d in c.buttons()]


def answered_topic(calls: list[Call]) -> str | None:
    """The topic whose answer was sent (its 👍 button names it), if any."""
    for data in data_of(calls):
        if data.startswith("fb:") and data.endswith(":1"):
            return data.removeprefix("fb:").removesuffix(":1")
    return None


async def unanswered_items(harness: Harness) -> list[Call]:
    """/unanswered by the coordinator: the messages of the questions (with teach buttons)."""
    calls = await harness.send("/unanswered", user_id=COORDINATOR_ID)
    return [c for c in calls if any(d.startswith("lq") for d in data_of([c]))]


async def count(harness: Harness, model: Any) -> int:
    async with harness.services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def learned_rows(harness: Harness) -> list[LearnedQuestion]:
    async with harness.services.sessions() as session:
        return list((await session.scalars(select(LearnedQuestion))).all())


async def test_taught_question_is_answered_at_once_and_after_a_restart(
    settings: Settings,
) -> None:
    engine = fresh_engine()
    assert engine.search(UNKNOWN_QUESTION).outcome is not Outcome.ANSWER, "precondition"
    async with running(settings, engine) as harness:
        calls = await harness.send(UNKNOWN_QUESTION, user_id=ASKER)
        assert answered_topic(calls) is None
        [item] = await unanswered_items(harness)
        assert "Quokka" in item.text
        data = data_of([item])
        assert all(len(d.encode()) <= 64 for d in data)
        one_tap = [d for d in data if d.startswith("lqt:")]
        assert 1 <= len(one_tap) <= 3, "the best-ranked topics as one-tap buttons"
        labels = [label for label, _ in item.buttons()]
        assert all(label.startswith("→ ") for label in labels[: len(one_tap)])
        assert "Anderes Thema…" in labels and "Außerhalb des Themenbereichs" in labels

        # "Anderes Thema…" → category → topic: the topic menu, with teaching buttons.
        [other] = [d for d in data if d.startswith("lqc:")]
        categories = data_of(await harness.press(other, user_id=COORDINATOR_ID))
        [hr] = [d for d in categories if d.startswith("lqg:") and d.endswith(":hr")]
        assert any(d.startswith("lqb:") for d in categories), "back to the candidates"
        topics = data_of(await harness.press(hr, user_id=COORDINATOR_ID))
        [job_ads] = [d for d in topics if d.endswith(f":{TARGET}")]
        assert any(d.startswith("lqc:") for d in topics), "back to the categories"
        done = await harness.press(job_ads, user_id=COORDINATOR_ID)
        [edit] = [c for c in done if c.method == "editMessageText"]
        assert "Gelernt" in edit.text and "Stellenanzeigen" in edit.text
        assert edit.buttons() == []

        [row] = await learned_rows(harness)
        assert (row.question, row.topic_id, row.coordinator_id) == (
            UNKNOWN_QUESTION,
            TARGET,
            COORDINATOR_ID,
        )
        assert await count(harness, UnansweredQuestion) == 0, "taken off the list"
        async with harness.services.sessions() as session:
            [audit] = (await session.scalars(select(AuditEntry))).all()
        assert (audit.actor_id, audit.action) == (COORDINATOR_ID, "question_teach")
        assert UNKNOWN_QUESTION not in audit.subject

        # The same Application, no restart: answered with the taught topic.
        again = await harness.send(UNKNOWN_QUESTION, user_id=ASKER + 1)
        assert answered_topic(again) == TARGET
        assert await count(harness, UnansweredQuestion) == 0
    # A restart: a new search engine and Application on the same database.
    async with running(settings, fresh_engine()) as restarted:
        calls = await restarted.send(UNKNOWN_QUESTION, user_id=ASKER)
        assert answered_topic(calls) == TARGET


async def test_out_of_scope_teaching(teacher: Harness) -> None:
    question = "Wie viele Parkplätze gibt es beim Netzwerkbüro?"
    await teacher.send(question, user_id=ASKER)
    [item] = await unanswered_items(teacher)
    [outside] = [d for d in data_of([item]) if d.startswith("lqo:")]
    done = await teacher.press(outside, user_id=COORDINATOR_ID)
    [edit] = [c for c in done if c.method == "editMessageText"]
    assert "außerhalb des Themenbereichs" in edit.text
    [row] = await learned_rows(teacher)
    assert row.topic_id is None
    calls = await teacher.send(question, user_id=ASKER)
    [reply] = [c for c in calls if c.method == "sendMessage"]
    assert reply.text == teacher.services.texts.get("de", "scope.default")
    assert answered_topic(calls) is None
    assert await count(teacher, UnansweredQuestion) == 0, "a taught question is no gap any more"
    assert await unanswered_items(teacher) == []


async def test_thumbs_down_puts_the_question_on_the_list_to_teach(teacher: Harness) -> None:
    question = "Was ist KAUSA?"
    asked = message_update(question, user_id=ASKER)
    calls = await teacher.push(asked)
    [answer] = [c for c in calls if c.method == "sendMessage"]
    first = answered_topic(calls)
    assert first is not None
    quoted = answer.params["reply_parameters"]
    assert quoted["message_id"] == asked["message"]["message_id"], "the answer quotes the question"

    # 👍 is only counted; 👎 also puts the question on the list.
    await teacher.push(callback_update(f"fb:{first}:1", user_id=ASKER, reply_to=asked["message"]))
    assert await count(teacher, UnansweredQuestion) == 0
    thanks = await teacher.push(
        # Another answer message: a message takes one vote (a second tap is "already done").
        callback_update(f"fb:{first}:0", user_id=ASKER, message_id=2, reply_to=asked["message"])
    )
    assert any(c.method == "answerCallbackQuery" and "Danke" in c.text for c in thanks)
    async with teacher.services.sessions() as session:
        [row] = (await session.scalars(select(UnansweredQuestion))).all()
    assert (row.text, row.outcome, row.best_topic) == (question, "disliked", first)

    [item] = await unanswered_items(teacher)
    assert question in item.text and "👎" in item.text
    other = [d for d in data_of([item]) if d.startswith("lqt:") and not d.endswith(f":{first}")]
    assert other, "other candidates are offered"
    taught = other[0].rsplit(":", 1)[1]
    await teacher.press(other[0], user_id=COORDINATOR_ID)
    assert answered_topic(await teacher.send(question, user_id=ASKER)) == taught


async def test_thumbs_down_without_the_question_is_only_counted(teacher: Harness) -> None:
    # An answer from a topic button quotes no question.
    await teacher.press("fb:job_ads:0", user_id=ASKER)
    assert await count(teacher, UnansweredQuestion) == 0
    bot_message = {"message_id": 5, "date": 0, "chat": {"id": ASKER, "type": "private"}}
    bot_message |= {"from": {"id": 4242, "is_bot": True, "first_name": "Bot"}, "text": "Hallo"}
    await teacher.push(callback_update("fb:job_ads:0", user_id=ASKER, reply_to=bot_message))
    assert await count(teacher, UnansweredQuestion) == 0


async def test_forged_teach_buttons_of_a_non_coordinator_change_nothing(teacher: Harness) -> None:
    await teacher.send(UNKNOWN_QUESTION, user_id=ASKER)
    [item] = await unanswered_items(teacher)
    real = data_of([item])
    refusal = teacher.services.texts.get("de", "common.coordinator_only")
    for data in [*real, "lqt:1:abcdef:job_ads", "lqo:1:000000", "lqt:999999:ffffff:job_ads"]:
        calls = await teacher.press(data, user_id=STRANGER)
        assert [c.text for c in calls if c.method == "answerCallbackQuery"] == [refusal], data
        assert not [c for c in calls if c.method in ("editMessageText", "editMessageReplyMarkup")]
    assert await learned_rows(teacher) == []
    assert await count(teacher, UnansweredQuestion) == 1
    assert await count(teacher, AuditEntry) == 0
    assert answered_topic(await teacher.send(UNKNOWN_QUESTION, user_id=ASKER)) is None


async def test_double_tap_teaches_once_without_an_error(teacher: Harness) -> None:
    await teacher.send(UNKNOWN_QUESTION, user_id=ASKER)
    [item] = await unanswered_items(teacher)
    [tap] = [d for d in data_of([item]) if d.startswith("lqo:")]
    before = len(teacher.api.calls)
    await asyncio.gather(
        teacher.press(tap, user_id=COORDINATOR_ID), teacher.press(tap, user_id=COORDINATOR_ID)
    )
    calls = teacher.api.calls[before:]
    assert len(await learned_rows(teacher)) == 1
    assert await count(teacher, AuditEntry) == 1
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    assert len(answers) == 2
    assert sum("Schon erledigt" in c.text for c in answers) == 1
    assert not any(c.params.get("show_alert") for c in answers)
    assert len([c for c in calls if c.method == "editMessageText"]) == 1
    error = teacher.services.texts.get("de", "common.error")
    assert not [c for c in calls if c.method == "sendMessage"], "no error reply"
    assert error not in [c.text for c in calls]
    # A later tap on the same old message, also on another of its buttons: already done.
    for data in data_of([item]):
        later = await teacher.press(data, user_id=COORDINATOR_ID)
        [answer] = [c for c in later if c.method == "answerCallbackQuery"]
        assert "Schon erledigt" in answer.text and "außerhalb" in answer.text, data
    assert len(await learned_rows(teacher)) == 1


async def test_buttons_of_a_gone_question_answer_expired(teacher: Harness) -> None:
    await teacher.send(UNKNOWN_QUESTION, user_id=ASKER)
    [item] = await unanswered_items(teacher)
    [tap] = [d for d in data_of([item]) if d.startswith("lqt:")][:1]
    row_id = int(tap.split(":")[1])
    expired = teacher.services.texts.get("de", "teach.expired")
    async with teacher.services.sessions.begin() as session:
        row = await session.get(UnansweredQuestion, row_id)
        assert row is not None
        await session.delete(row)  # as the retention job does
    calls = await teacher.press(tap, user_id=COORDINATOR_ID)
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answer.text == expired and answer.params.get("show_alert")
    # A newer question with the same id (SQLite may reuse the highest id): the old button
    # must not teach it.
    async with teacher.services.sessions.begin() as session:
        session.add(
            UnansweredQuestion(
                id=row_id,
                text="Eine ganz andere Frage",
                language="de",
                outcome="unknown",
                best_topic=None,
                score=0.0,
                created_at=utcnow(),
            )
        )
    calls = await teacher.press(tap, user_id=COORDINATOR_ID)
    assert [c.text for c in calls if c.method == "answerCallbackQuery"] == [expired]
    assert await learned_rows(teacher) == []
    assert await count(teacher, UnansweredQuestion) == 1


async def test_teaching_the_same_question_twice_updates_one_row(teacher: Harness) -> None:
    teaching = teacher.services.teaching
    await teaching.teach(UNKNOWN_QUESTION, "job_ads", COORDINATOR_ID)
    await teaching.teach("was ist mit dem  QUOKKA-Verfahren", "first_steps", COORDINATOR_ID)
    [row] = await learned_rows(teacher)
    assert row.topic_id == "first_steps"
    with pytest.raises(ValueError, match="no topic"):
        await teaching.teach(UNKNOWN_QUESTION, "no_such_topic", COORDINATOR_ID)
    [row] = await learned_rows(teacher)
    assert row.topic_id == "first_steps"
    assert answered_topic(await teacher.send(UNKNOWN_QUESTION, user_id=ASKER)) == "first_steps"


async def test_coordinator_erasing_their_data_keeps_what_they_taught(teacher: Harness) -> None:
    await teacher.services.teaching.teach(UNKNOWN_QUESTION, TARGET, COORDINATOR_ID)
    await teacher.send("/deleteme", user_id=COORDINATOR_ID)
    await teacher.press("dm:yes", user_id=COORDINATOR_ID)
    assert await rows_mentioning(teacher, COORDINATOR_ID) == []
    [row] = await learned_rows(teacher)
    assert (row.topic_id, row.coordinator_id) == (TARGET, None)


async def test_learned_export_parses_back_and_stats_count_them(
    teacher: Harness, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    teaching = teacher.services.teaching
    await teaching.teach(UNKNOWN_QUESTION, TARGET, COORDINATOR_ID)
    await teaching.teach("How do we word job ads: for everyone?", TARGET, COORDINATOR_ID)
    await teaching.teach("Wie ist das Wetter\nmorgen in Köln?", None, COORDINATOR_ID)

    monkeypatch.chdir(tmp_path)  # no .env of the developer
    monkeypatch.setenv("DATABASE_URL", settings.database_url)

    def export(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        args = _parser().parse_args(["kb", "learned", "export", *argv])
        return cmd_kb(args, stdout=out), out.getvalue()

    code, text = await asyncio.to_thread(export)
    assert code == 0 and text.startswith("#")
    assert yaml.safe_load(text) == {
        TARGET: {"de": [UNKNOWN_QUESTION], "en": ["How do we word job ads: for everyone?"]},
        "out_of_scope": ["Wie ist das Wetter morgen in Köln?"],
    }
    code, said = await asyncio.to_thread(export, str(tmp_path / "learned.yaml"))
    assert code == 0 and "3 learned questions" in said
    assert (tmp_path / "learned.yaml").read_text(encoding="utf-8") == text

    lines = "\n".join(await collect(settings))
    assert "Learned questions: 3 (2 on 1 topics, 1 out of scope)" in lines
    assert TARGET in lines
