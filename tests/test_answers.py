"""Answers on a phone: the short first message, "More" for the details (also after a restart),
the referral for the person's region, the office's configured name, plain language in English.

These tests run the real Application on a small knowledge directory of their own, so they do
not depend on what the bundled topics say this week.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build_search
from bot.db.models import Chat
from bot.settings import Settings
from knowledge import SearchEngine
from tests.conftest import Harness, make_settings, running, texts_of
from tests.test_loader import edited, make_kb

PERSON = 4711
TOPIC = """\
id: referral_demo
category: support
title:
  de: "Anlaufstellen vor Ort"
  en: "Local services"
answer:
  de: |
    Kurz gesagt: Holen Sie sich Beratung vor Ort.
    Fragen Sie dazu auch die {office}.
  en: |
    In short: get advice locally.
    You can also ask the {office}.
details:
  de: |
    Hintergrund: Viele Kreise haben eigene Stellen.
    - Beispiel eins
  en: |
    Background: many districts have their own services.
    - Example one
plain:
  de: |
    Holen Sie sich Hilfe in Ihrer Nähe.
    Die {office} hilft beim Suchen.
  en: |
    Get help near you.
    The {office} helps you look.
regional:
  - region: NW
    de: "In NRW: das Kommunale Integrationszentrum Ihres Kreises."
    en: "In NRW: the municipal integration centre of your district."
  - region: ST
    de: "In Sachsen-Anhalt: das IQ Netzwerk Sachsen-Anhalt."
    en: "In Saxony-Anhalt: the IQ network Saxony-Anhalt."
questions:
  de: ["Wo finden wir Beratung vor Ort?", "Welche Anlaufstelle gibt es?", "Wer berät uns?"]
  en: ["Where do we find local advice?", "Which service is there?", "Who advises us?"]
keywords:
  de: [anlaufstelle]
  en: [local service]
related: [short_demo]
sources:
  - title: "Projektnotiz, 2026"
    note: "intern"
reviewed: 2026-11-25
"""
SHORT = edited("id: demo_topic", "id: short_demo")  # a topic without details


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A knowledge directory with one topic that has everything and one that is short."""
    return make_kb(tmp_path / "kb", {"referral_demo.yaml": TOPIC, "short_demo.yaml": SHORT})


def settings_for(database_url: str, kb_dir: Path, tmp_path: Path, **overrides: Any) -> Settings:
    """Lexical search on the small knowledge directory."""
    return make_settings(
        database_url=database_url,
        knowledge_dir=kb_dir,
        semantic_search=False,
        embedding_cache_dir=tmp_path / "cache",
        **overrides,
    )


@pytest.fixture
def small_settings(database_url: str, kb_dir: Path, tmp_path: Path) -> Settings:
    """A network across two Länder with its own office name."""
    return settings_for(
        database_url,
        kb_dir,
        tmp_path,
        network_region="NW",
        network_regions=("NW", "ST"),
        office_name_de="Servicestelle Vielfalt",
        office_name_en="diversity desk",
    )


@pytest.fixture
def small_search(small_settings: Settings) -> SearchEngine:
    """The search engine over the small knowledge directory."""
    return build_search(small_settings)


@pytest.fixture
async def bot(small_settings: Settings, small_search: SearchEngine) -> AsyncIterator[Harness]:
    """The bot on the small knowledge directory."""
    async with running(small_settings, small_search) as started:
        yield started


async def open_topic(bot: Harness, topic_id: str = "referral_demo", **kwargs: Any) -> Any:
    """Press the topic's button; the one answer message sent."""
    calls = await bot.press(f"t:{topic_id}", user_id=PERSON, **kwargs)
    [answer] = [c for c in calls if c.method == "sendMessage"]
    return answer


# ------------------------------------------------------------------ the first message
async def test_first_message_has_core_region_date_and_sources_in_order(bot: Harness) -> None:
    await bot.send("/start", user_id=PERSON)
    text = (await open_topic(bot)).text
    order = [
        "<b>Anlaufstellen vor Ort</b>",
        "Kurz gesagt",
        "Kommunale Integrationszentrum",
        "<i>geprüft am 25.11.2026 · Quellen:</i> Projektnotiz",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert "Hintergrund" not in text, "details wait behind the button"
    assert "Sachsen-Anhalt" not in text, "only the person's region"


async def test_english_answer_says_reviewed_on(bot: Harness) -> None:
    await bot.send("/start", user_id=PERSON, language_code="en")
    text = (await open_topic(bot, language_code="en")).text
    assert "<i>reviewed on 25 November 2026 · Sources:</i> Projektnotiz" in text


async def test_office_placeholder_gets_the_configured_name(bot: Harness) -> None:
    await bot.send("/start", user_id=PERSON)
    text = (await open_topic(bot)).text
    assert "Fragen Sie dazu auch die Servicestelle Vielfalt." in text
    assert "{office}" not in text
    calls = await bot.send("Wo finden wir Beratung vor Ort?", user_id=PERSON)
    assert any("Servicestelle Vielfalt" in t for t in texts_of(calls))
    calls = await bot.send("/help", user_id=PERSON, language_code="en")
    assert "{office}" not in "".join(texts_of(calls))


async def test_office_name_reaches_the_bot_texts(bot: Harness) -> None:
    calls = await bot.send("/help", user_id=PERSON)
    assert "an die Servicestelle Vielfalt weitergeben" in texts_of(calls)[0]


# ------------------------------------------------------------------ More
async def test_more_button_sends_the_details_and_goes_away(bot: Harness) -> None:
    await bot.send("/start", user_id=PERSON)
    answer = await open_topic(bot)
    [more] = [(label, data) for label, data in answer.buttons() if data.startswith("more:")]
    assert more == ("➕ Mehr dazu", "more:referral_demo")
    assert all(len(data.encode()) <= 64 for _, data in answer.buttons())
    calls = await bot.press(
        more[1], user_id=PERSON, reply_markup=_markup(answer.params["reply_markup"])
    )
    [details] = [c for c in calls if c.method == "sendMessage"]
    assert details.text == (
        "<b>Anlaufstellen vor Ort</b>\n\nHintergrund: Viele Kreise haben eigene Stellen.\n"
        "• Beispiel eins\n\n<i>Quellen:</i> Projektnotiz, 2026"
    )
    [edit] = [c for c in calls if c.method == "editMessageReplyMarkup"]
    remaining = [data for _, data in edit.buttons()]
    assert "more:referral_demo" not in remaining
    assert "fb:referral_demo:1" in remaining, "related and feedback buttons stay"


async def test_no_more_button_without_details(bot: Harness) -> None:
    await bot.send("/start", user_id=PERSON)
    answer = await open_topic(bot, "short_demo")
    assert not any(data.startswith("more:") for _, data in answer.buttons())


async def test_more_button_in_english(bot: Harness) -> None:
    await bot.send("/start", user_id=PERSON, language_code="en")
    answer = await open_topic(bot, language_code="en")
    assert ("➕ More", "more:referral_demo") in answer.buttons()
    calls = await bot.press("more:referral_demo", user_id=PERSON, language_code="en")
    assert "Background: many districts" in texts_of(calls)[0]


async def test_more_button_works_after_a_restart(
    small_settings: Settings, small_search: SearchEngine
) -> None:
    async with running(small_settings, small_search) as first:
        await first.send("/start", user_id=PERSON)
        answer = await open_topic(first)
    async with running(small_settings, small_search) as restarted:  # same database, new process
        calls = await restarted.press(
            "more:referral_demo",
            user_id=PERSON,
            reply_markup=_markup(answer.params["reply_markup"]),
        )
    assert any("Hintergrund" in t for t in texts_of(calls))


async def test_more_for_an_unknown_topic_is_polite(bot: Harness) -> None:
    calls = await bot.press("more:no_such_topic", user_id=PERSON)
    assert texts_of(calls) == []
    [alert] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert "abgelaufen" in alert.params["text"]


# ------------------------------------------------------------------ region
async def test_region_choice_changes_the_referral(bot: Harness) -> None:
    calls = await bot.send("/settings", user_id=PERSON)
    [shown] = texts_of(calls)
    assert "Region: Nordrhein-Westfalen" in shown
    calls = await bot.press("s:region", user_id=PERSON)
    [chooser] = [c for c in calls if c.method == "editMessageText"]
    assert [d for _, d in chooser.buttons()] == ["s:rg:NW", "s:rg:ST", "s:back"]
    calls = await bot.press("s:rg:ST", user_id=PERSON)
    [redrawn] = [c for c in calls if c.method == "editMessageText"]
    assert "Region: Sachsen-Anhalt" in redrawn.text
    async with bot.services.sessions() as session:
        chat = await session.get(Chat, PERSON)
    assert chat is not None and chat.region == "ST"
    text = (await open_topic(bot)).text
    assert "IQ Netzwerk Sachsen-Anhalt" in text
    assert "Kommunale Integrationszentrum" not in text


async def test_region_not_offered_by_the_network_is_refused(bot: Harness) -> None:
    await bot.send("/settings", user_id=PERSON)
    calls = await bot.press("s:rg:BY", user_id=PERSON)
    assert not [c for c in calls if c.method == "editMessageText"]
    async with bot.services.sessions() as session:
        region = await session.scalar(select(Chat.region).where(Chat.chat_id == PERSON))
    assert region is None


async def test_single_region_network_offers_no_choice_and_uses_network_region(
    database_url: str, kb_dir: Path, tmp_path: Path
) -> None:
    settings = settings_for(database_url, kb_dir, tmp_path, network_region="ST")
    async with running(settings, build_search(settings)) as single:
        calls = await single.send("/settings", user_id=PERSON)
        assert "Region" not in texts_of(calls)[0]
        assert "s:region" not in [d for c in calls for _, d in c.buttons()]
        text = (await open_topic(single)).text
    assert "IQ Netzwerk Sachsen-Anhalt" in text
    assert "Fragen Sie dazu auch die Netzwerkstelle." in text, "the default office name"


# ------------------------------------------------------------------ plain language
async def test_plain_language_in_english(bot: Harness) -> None:
    await bot.send("/start", user_id=PERSON, language_code="en")
    await bot.send("/settings", user_id=PERSON, language_code="en")
    await bot.press("s:plain", user_id=PERSON, language_code="en")
    text = (await open_topic(bot, language_code="en")).text
    assert "Get help near you.\nThe diversity desk helps you look." in text
    assert "In short" not in text
    assert "municipal integration centre" in text, "the referral stays"


def _markup(value: object) -> dict[str, Any]:
    """The reply_markup a sent message carried, as Telegram echoes it in a callback."""
    import json

    markup = json.loads(value) if isinstance(value, str) else value
    assert isinstance(markup, dict)
    return markup
