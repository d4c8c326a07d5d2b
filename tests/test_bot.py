"""The bot as a person meets it: real Application, real handlers, real database, offline Bot API."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.db.models import Chat, Feedback, Handover, UnansweredQuestion
from bot.offline import BOT_USER
from knowledge import Outcome, SearchEngine
from tests.conftest import COORDINATOR_ID, OFFICE_CHAT_ID, STICKER, Harness, texts_of
from tests.test_handover_followups import office_answers
from tests.test_question_service import Searches

STRANGER = 4711


async def test_start_in_german_shows_welcome_and_menu(harness: Harness) -> None:
    calls = await harness.send("/start", user_id=STRANGER, language_code="de")
    [welcome] = [c for c in calls if c.method == "sendMessage"]
    assert "Willkommen" in welcome.text
    assert "NRW stärkt Vielfalt" in welcome.text
    data = [d for _, d in welcome.buttons()]
    assert "c:" in data
    assert "fs:start" in data
    async with harness.services.sessions() as session:
        chat = await session.get(Chat, STRANGER)
    assert chat is not None
    assert chat.active


async def test_start_in_english_for_english_telegram(harness: Harness) -> None:
    calls = await harness.send("/start", user_id=STRANGER, language_code="en-GB")
    assert "Welcome" in texts_of(calls)[0]


async def test_start_with_unknown_payload_is_polite(harness: Harness) -> None:
    calls = await harness.send("/start xyz-unknown", user_id=STRANGER)
    texts = texts_of(calls)
    assert "unbekannt" in texts[0]
    assert "Willkommen" in texts[1]


async def test_question_gets_answer_with_sources_and_buttons(harness: Harness) -> None:
    calls = await harness.send("Was ist KAUSA?", user_id=STRANGER)
    [answer] = [c for c in calls if c.method == "sendMessage"]
    assert answer.params["parse_mode"] == "HTML"
    assert answer.text.startswith("<b>")
    assert "KAUSA" in answer.text
    assert "Quellen:" in answer.text
    assert "geprüft am" in answer.text
    data = [d for _, d in answer.buttons()]
    assert "fb:apprenticeships_kausa:1" in data
    assert "fb:apprenticeships_kausa:0" in data
    assert any(d.startswith("t:") for d in data), "related topics are offered"
    assert all(len(d.encode()) <= 64 for d in data)


async def test_typos_and_missing_umlauts_still_answer(harness: Harness) -> None:
    calls = await harness.send(
        "wie schreiben wir stellenanzeigne fuer alle bewerber", user_id=STRANGER
    )
    [answer] = [c for c in calls if c.method == "sendMessage"]
    assert "fb:job_ads:1" in [d for _, d in answer.buttons()]


async def test_english_question_gets_english_answer(harness: Harness) -> None:
    calls = await harness.send(
        "What is the Diversity Charter?", user_id=STRANGER, language_code="en"
    )
    [answer] = [c for c in calls if c.method == "sendMessage"]
    assert "Sources:" in answer.text
    assert "fb:charta_der_vielfalt:1" in [d for _, d in answer.buttons()]


async def test_clearly_english_question_is_answered_in_english_despite_german_setting(
    harness: Harness,
) -> None:
    calls = await harness.send(
        "How do we make our job ads attractive for everyone?", user_id=STRANGER, language_code="de"
    )
    sent = [c for c in calls if c.method == "sendMessage"]
    assert sent
    assert harness.services.texts.get("de", "answer.suggest") not in sent[0].text
    assert "Quellen:" not in sent[0].text
    assert any("Sources:" in c.text for c in sent) or any(
        c.text == harness.services.texts.get("en", "answer.suggest") for c in sent
    )
    # The setting is unchanged: a German question is answered in German.
    calls = await harness.send("Was ist KAUSA?", user_id=STRANGER, language_code="de")
    assert "Quellen:" in texts_of(calls)[0]


async def test_an_english_question_naming_a_german_town_is_answered_in_english(
    harness: Harness,
) -> None:
    """An umlaut in a place name does not make the question German."""
    texts = harness.services.texts
    calls = await harness.send(
        "How can an association in Köln become a partner?", user_id=STRANGER, language_code="en"
    )
    sent = texts_of(calls)
    assert sent and not any("Quellen:" in t or t == texts.get("de", "answer.suggest") for t in sent)
    assert any("Sources:" in t or t == texts.get("en", "answer.suggest") for t in sent), sent


@pytest.mark.parametrize(
    ("text", "key"), [("Hallo", "scope.greeting"), ("Danke schön!", "scope.thanks")]
)
async def test_greeting_and_thanks_get_a_friendly_reply_and_are_not_kept(
    harness: Harness, text: str, key: str
) -> None:
    calls = await harness.send(text, user_id=STRANGER, language_code="de")
    [reply] = [c for c in calls if c.method == "sendMessage"]
    assert reply.text == harness.services.texts.get("de", key)
    async with harness.services.sessions() as session:
        kept = (await session.execute(select(UnansweredQuestion))).scalars().all()
    assert kept == []


async def test_did_you_mean_offers_topics_and_pressing_one_answers(
    harness: Harness, search_engine: SearchEngine
) -> None:
    question = "Bericht Partner Treffen Netzwerk"
    result = search_engine.search(question)
    assert result.outcome is Outcome.SUGGEST, "precondition: an ambiguous question"
    calls = await harness.send(question, user_id=STRANGER)
    [reply] = [c for c in calls if c.method == "sendMessage"]
    buttons = reply.buttons()
    assert 1 <= len(buttons) <= 3
    assert [d for _, d in buttons] == [f"t:{t.id}" for t in result.suggestions]
    pressed = await harness.press(buttons[0][1], user_id=STRANGER)
    assert any(c.method == "answerCallbackQuery" for c in pressed)
    [answer] = [c for c in pressed if c.method == "sendMessage"]
    assert f"fb:{result.suggestions[0].id}:1" in [d for _, d in answer.buttons()]


async def test_unknown_question_is_admitted_stored_and_can_be_handed_over(harness: Harness) -> None:
    question = "Was ist ein Kulturdolmetscher-Zertifikat?"
    calls = await harness.send(question, user_id=STRANGER)
    [reply] = [c for c in calls if c.method == "sendMessage"]
    assert "keine verlässliche Antwort" in reply.text
    handover_data = [d for _, d in reply.buttons() if d.startswith("ho:")]
    assert handover_data
    assert "c:" in [d for _, d in reply.buttons()]

    async with harness.services.sessions() as session:
        stored = (await session.scalars(select(UnansweredQuestion))).all()
    assert [row.text for row in stored] == [question]
    assert not hasattr(UnansweredQuestion, "user_id")
    assert not hasattr(UnansweredQuestion, "chat_id")

    pressed = await harness.press(handover_data[0], user_id=STRANGER)
    assert any("Netzwerkstelle weitergegeben" in t for t in texts_of(pressed))
    [office] = [c for c in await harness.deliver() if c.chat_id == OFFICE_CHAT_ID]
    assert question in office.text

    # A coordinator replies to the forwarded message in the office chat: relayed to the asker.
    await office_answers(harness, "Bitte schreiben Sie uns eine E-Mail <an das Büro>.", to=question)
    [to_asker] = [c for c in await harness.deliver() if c.chat_id == STRANGER]
    assert "Antwort der Netzwerkstelle" in to_asker.text
    assert "&lt;an das Büro&gt;" in to_asker.text, "the coordinator's text is escaped"
    async with harness.services.sessions() as session:
        [handover] = (await session.scalars(select(Handover))).all()
    assert handover.answered_at is not None

    # The same press again (old button): politely expired, nothing sent twice.
    again = await harness.press(handover_data[0], user_id=STRANGER)
    assert any(c.method == "answerCallbackQuery" for c in again)
    assert not [c for c in await harness.deliver() if c.chat_id == OFFICE_CHAT_ID]


async def test_non_coordinator_cannot_relay_in_office_chat(harness: Harness) -> None:
    question = "Was ist ein Kulturdolmetscher-Zertifikat?"
    await harness.send(question, user_id=STRANGER)
    [button] = [d for c in harness.api.calls for _, d in c.buttons() if d.startswith("ho:")]
    await harness.press(button, user_id=STRANGER)
    await harness.deliver()
    calls = await harness.send(
        "Ich bin nicht Koordinator",
        user_id=5555,
        chat_id=OFFICE_CHAT_ID,
        chat_type="supergroup",
        reply_to=await harness.delivered(OFFICE_CHAT_ID, question),
    )
    assert any("Koordination" in t for t in texts_of(calls))
    assert not [c for c in calls + await harness.deliver() if c.chat_id == STRANGER]


async def test_out_of_scope_personal_case_gets_scope_message(harness: Harness) -> None:
    calls = await harness.send("Mein Visum läuft ab, was soll ich tun?", user_id=STRANGER)
    [reply] = [c for c in calls if c.method == "sendMessage"]
    assert "Ausländerbehörde" in reply.text
    assert not any(d.startswith("fb:") for _, d in reply.buttons())


async def test_first_steps_wizard_recommends_topics(harness: Harness) -> None:
    calls = await harness.send("/firststeps", user_id=STRANGER)
    [ask_type] = [c for c in calls if c.method == "sendMessage"]
    assert "fs:company" in [d for _, d in ask_type.buttons()]
    step2 = await harness.press("fs:company", user_id=STRANGER)
    assert "fs:company:small" in [d for c in step2 for _, d in c.buttons()]
    step3 = await harness.press("fs:company:small", user_id=STRANGER)
    assert "fs:company:small:none" in [d for c in step3 for _, d in c.buttons()]
    result = await harness.press("fs:company:small:none", user_id=STRANGER)
    [edit] = [c for c in result if c.method == "editMessageText"]
    topics = [d for _, d in edit.buttons()]
    assert 3 <= len(topics) <= 5
    assert all(d.startswith("t:") for d in topics)
    assert "t:first_steps" in topics
    assert "t:business_case" in topics
    assert "Unternehmen" in edit.text


async def test_stale_and_forged_buttons_answer_politely(harness: Harness) -> None:
    for data in (
        "t:no_such_topic",
        "fb:no_such_topic:1",
        "fs:hacker:x",
        "zz:whatever",
        "ho:999",
        "c:nope",
    ):
        calls = await harness.press(data, user_id=STRANGER)
        answers = [c for c in calls if c.method == "answerCallbackQuery"]
        assert answers, data
        assert not [c for c in calls if c.method == "sendMessage" and c.chat_id == OFFICE_CHAT_ID]


async def test_five_thousand_characters_are_handled(harness: Harness) -> None:
    text = ("Wie formulieren wir Stellenanzeigen? " * 140)[:5000]
    calls = await harness.send(text, user_id=STRANGER)
    sent = [c for c in calls if c.method == "sendMessage"]
    assert any("sehr lang" in c.text for c in sent)
    assert all(len(c.text) <= 4096 for c in sent)
    assert any(c.buttons() for c in sent)


@pytest.mark.parametrize(
    "text",
    [
        "🙂🙂🙂",
        "ما هو الانفتاح الثقافي في المؤسسات؟",
        "שלום, מה זה פתיחות בין-תרבותית?",
        "‮txet",
        "\u200b",
    ],
)
async def test_emoji_and_right_to_left_text_get_a_reply(harness: Harness, text: str) -> None:
    calls = await harness.send(text, user_id=STRANGER)
    assert [c for c in calls if c.method == "sendMessage"], "every message gets some reply"


async def test_unknown_command_and_non_text(harness: Harness) -> None:
    calls = await harness.send("/frobnicate", user_id=STRANGER)
    assert "kenne ich nicht" in texts_of(calls)[0]
    calls = await harness.send(None, user_id=STRANGER, extra=STICKER)
    assert "Textnachrichten" in texts_of(calls)[0]


async def test_groups_only_commands_and_mentions(harness: Harness) -> None:
    group = {"chat_id": -42, "chat_type": "group", "user_id": STRANGER}
    assert not await harness.send("Was ist KAUSA?", **group)
    mentioned = await harness.send(f"@{BOT_USER['username']} Was ist KAUSA?", **group)
    assert any("KAUSA" in t for t in texts_of(mentioned))
    helped = await harness.send("/help", **group)
    assert texts_of(helped)


async def test_a_private_text_is_searched_once_and_nothing_else_ahead_of_its_handler(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched = Searches(harness.services.questions.engine, monkeypatch).texts
    # The update's sighting is held: the search starts all the same.
    waiting, noted = harness.services.waiting, asyncio.Event()
    first_delivery = waiting.first_delivery

    async def held(update_id: int) -> bool:
        await noted.wait()
        return await first_delivery(update_id)

    monkeypatch.setattr(waiting, "first_delivery", held)
    sent = asyncio.create_task(harness.send("  Was ist KAUSA?  ", user_id=STRANGER))
    for _ in range(250):
        if searched:
            break
        await asyncio.sleep(0.02)
    assert searched == ["Was ist KAUSA?"] and not sent.done(), "searched while being checked"
    noted.set()
    assert any("KAUSA" in t for t in texts_of(await sent))
    assert searched == ["Was ist KAUSA?"], "the answer took that search"
    group = {"chat_id": -42, "chat_type": "group", "user_id": STRANGER}
    assert not await harness.send("Wie finden wir Dolmetscher?", **group)
    await harness.send("/help", user_id=STRANGER)
    assert searched == ["Was ist KAUSA?"], "group chatter and commands are not searched"

    limit = harness.services.flood.limit
    for n in range(limit + 5):
        await harness.send(f"Frage {n}: wie finden wir Dolmetscher?", user_id=STRANGER + 1)
    assert len(searched) == 1 + limit, "what the flood limit stops is not searched either"


async def test_stranger_cannot_use_coordinator_commands(harness: Harness) -> None:
    calls = await harness.send("/unanswered", user_id=STRANGER)
    assert texts_of(calls) == [harness.services.texts.get("de", "common.coordinator_only")]


async def test_coordinator_sees_unanswered_questions(harness: Harness) -> None:
    await harness.send("Was ist ein Kulturdolmetscher-Zertifikat?", user_id=STRANGER)
    calls = await harness.send("/unanswered", user_id=COORDINATOR_ID)
    text = "\n".join(texts_of(calls))
    assert "Kulturdolmetscher" in text
    assert "(1 von 1" in text


async def test_anonymous_admin_is_never_a_coordinator(harness: Harness) -> None:
    calls = await harness.send(
        "/unanswered", user_id=1087968824, chat_id=-77, chat_type="supergroup"
    )
    assert texts_of(calls) == [harness.services.texts.get("de", "common.coordinator_only")]


async def test_flooding_person_is_slowed_down_others_are_not(harness: Harness) -> None:
    replies = 0
    slow_downs = 0
    limit = harness.services.flood.limit
    for _ in range(limit + 6):
        for c in await harness.send("Was ist KAUSA?", user_id=STRANGER):
            if c.method == "sendMessage":
                if "sehr schnell" in c.text:
                    slow_downs += 1
                else:
                    replies += 1
    assert replies == limit
    assert slow_downs == 1
    other = await harness.send("Was ist KAUSA?", user_id=STRANGER + 1)
    assert any("KAUSA" in t for t in texts_of(other))


async def test_settings_switch_language_plain_and_notices(harness: Harness) -> None:
    calls = await harness.send("/settings", user_id=STRANGER)
    assert "Einstellungen" in texts_of(calls)[0]
    calls = await harness.press("s:lang", user_id=STRANGER)
    [edit] = [c for c in calls if c.method == "editMessageText"]
    assert "Settings" in edit.text
    await harness.press("s:plain", user_id=STRANGER)
    await harness.press("s:notices", user_id=STRANGER)
    async with harness.services.sessions() as session:
        chat = await session.get(Chat, STRANGER)
    assert chat is not None
    assert (chat.language, chat.plain_language, chat.notices) == ("en", True, True)
    calls = await harness.send("/help", user_id=STRANGER, language_code="de")
    assert "How to use" in texts_of(calls)[0], "the chosen language beats Telegram's"


async def test_plain_language_answer_when_chosen(harness: Harness) -> None:
    await harness.send("/settings", user_id=STRANGER)
    await harness.press("s:plain", user_id=STRANGER)
    topic = harness.services.kb.topic("apprenticeships_kausa")
    assert topic is not None
    assert topic.plain.get("de")
    calls = await harness.send("Was ist KAUSA?", user_id=STRANGER)
    first_line = topic.plain["de"].splitlines()[0]
    assert any(first_line[:40] in t for t in texts_of(calls))


async def test_topics_browsing_with_back(harness: Harness) -> None:
    calls = await harness.send("/topics", user_id=STRANGER)
    categories = [d for _, d in calls[-1].buttons()]
    assert "c:hr" in categories
    calls = await harness.press("c:hr", user_id=STRANGER)
    [edit] = [c for c in calls if c.method == "editMessageText"]
    data = [d for _, d in edit.buttons()]
    assert "t:job_ads" in data
    assert data[-1] == "c:"
    calls = await harness.press("c:", user_id=STRANGER)
    [back] = [c for c in calls if c.method == "editMessageText"]
    assert "c:hr" in [d for _, d in back.buttons()]


async def test_feedback_is_counted_anonymously(harness: Harness) -> None:
    calls = await harness.press("fb:job_ads:0", user_id=STRANGER)
    assert any(c.method == "answerCallbackQuery" and "Danke" in c.text for c in calls)
    async with harness.services.sessions() as session:
        [row] = (await session.scalars(select(Feedback))).all()
    assert (row.topic_id, row.helpful) == ("job_ads", False)


async def test_command_menus_are_published(harness: Harness) -> None:
    calls = harness.api.sent("setMyCommands")
    languages = {c.params.get("language_code") for c in calls}
    assert {None, "de", "en"} <= languages
    coordinator_scopes = [
        c
        for c in calls
        if '"chat_id": 9001' in str(c.params.get("scope"))
        or (
            isinstance(c.params.get("scope"), dict)
            and c.params["scope"].get("chat_id") == COORDINATOR_ID
        )
    ]
    assert coordinator_scopes
    assert any("unanswered" in str(c.params["commands"]) for c in coordinator_scopes)


async def test_network_contact_answer_shows_configured_contact_escaped(harness: Harness) -> None:
    from dataclasses import replace

    from bot.app import build_application
    from bot.offline import OfflineBotApi

    services = replace(
        harness.services,
        settings=harness.services.settings.model_copy(
            update={"office_contact": "Büro <IKÖ> – siehe Website"}
        ),
    )
    api = OfflineBotApi()
    app = build_application(services, request=api, rate_limit=False)
    async with app:
        from telegram import Update

        from bot.offline import message_update

        await app.process_update(
            Update.de_json(
                message_update("Wie erreiche ich die Netzwerkstelle?", user_id=STRANGER),
                app.bot,
            )
        )
    text = "\n".join(c.text for c in api.sent("sendMessage"))
    assert "Büro &lt;IKÖ&gt; – siehe Website" in text


async def test_concurrent_questions_are_all_counted(harness: Harness) -> None:
    import asyncio

    from bot.db.models import QuestionStat

    await asyncio.gather(
        *(harness.send("Wie wird das Wetter?", user_id=7000 + i) for i in range(12))
    )
    async with harness.services.sessions() as session:
        rows = (await session.scalars(select(QuestionStat))).all()
    assert sum(r.count for r in rows) == 12
    assert not [c for c in harness.api.calls if "schiefgegangen" in c.text], (
        "no error reached anyone"
    )
