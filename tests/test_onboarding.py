"""Partnership requests from "how do we join?" to a linked partner, as people use the bot."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from telegram.error import TimedOut

from bot.app import build_application, build_services
from bot.db.engine import dispose
from bot.db.models import (
    Invite,
    OnboardingDraft,
    OnboardingRequest,
    OutboxMessage,
    Partner,
    PartnerContact,
    UnansweredQuestion,
)
from bot.office import export_requests
from bot.offline import BOT_USER, Call, OfflineBotApi
from bot.services.onboarding import measure_topics
from bot.settings import Settings
from knowledge import SearchEngine
from tests.conftest import COORDINATOR_ID, OFFICE_CHAT_ID, STICKER, Harness, texts_of

ASKER = 5001
COLLEAGUE = 5002
STRANGER = 4711


def last_text(calls: list) -> str:  # type: ignore[type-arg]
    texts = texts_of(calls) + texts_of(calls, "editMessageText")
    return texts[-1] if texts else ""


async def answer(
    harness: Harness, text: str | None = None, user_id: int = ASKER, **kwargs: object
) -> str:
    calls = await harness.send(text, user_id=user_id, **kwargs)
    return "\n".join(texts_of(calls))


async def press(harness: Harness, data: str, user_id: int = ASKER) -> str:
    calls = await harness.press(data, user_id=user_id)
    return "\n".join(texts_of(calls) + texts_of(calls, "editMessageText"))


async def fill_until_measures(harness: Harness, user: int = ASKER) -> list[Call]:
    """Go through the form without a slip up to the measures; returns the calls that show
    their buttons."""
    for step in ("/join", "Verein", "ob:type:association", "Köln", "ob:size:s", "Ana", "a@b.de"):
        if step.startswith("ob:"):
            await harness.press(step, user_id=user)
        else:
            await harness.send(step, user_id=user)
    return await harness.press("ob:skip", user_id=user)  # no phone number


async def fill_until_review(harness: Harness, user: int = ASKER) -> str:
    """Go through the whole form with a few mistakes on the way; returns the review text."""
    assert "(1/10)" in await answer(harness, "/join", user)
    assert "Bitte geben Sie etwas ein" in await answer(harness, "   ", user)
    assert "zu lang" in await answer(harness, "x" * 5000, user)
    assert "Textnachricht" not in await answer(harness, None, user, extra=STICKER)  # asks again
    assert "(2/10)" in await answer(harness, "Stadt Musterstadt 🙂", user)
    assert "(3/10)" in await press(harness, "ob:type:municipality", user)
    assert "(4/10)" in await answer(harness, "Musterstadt, Kreis Beispiel", user)
    assert "(5/10)" in await press(harness, "ob:size:m", user)
    assert "(6/10)" in await answer(harness, "Ayşe Yılmaz", user)
    assert "nicht wie eine E-Mail" in await answer(harness, "ayse at musterstadt", user)
    assert "(7/10)" in await answer(harness, "a.yilmaz@musterstadt.example", user)
    assert "nicht wie eine Telefonnummer" in await answer(harness, "call me", user)
    assert "(8/10)" in await answer(harness, "+49 211 1234-567", user)
    await press(harness, "ob:m:0", user)
    await press(harness, "ob:m:1", user)
    await press(harness, "ob:m:1", user)  # changed their mind
    assert "(9/10)" in await press(harness, "ob:m:done", user)
    assert "(10/10)" in await answer(harness, "Mehrsprachige Bürgerinfos <neu>", user)
    assert "einverstanden" in await answer(harness, "2027 bis 2028", user)
    return await press(harness, "ob:consent", user)


async def test_full_request_with_bad_input_edit_and_submit(harness: Harness) -> None:
    review = await fill_until_review(harness)
    first_measure = measure_topics(harness.services.kb)[0]
    assert "Stadt Musterstadt 🙂" in review
    assert "a.yilmaz@musterstadt.example" in review
    assert first_measure.title["de"] in review
    assert "Mehrsprachige Bürgerinfos &lt;neu&gt;" in review, "free text is escaped"

    assert "(6/10)" in await press(harness, "ob:edit:email")
    edited = await answer(harness, "ayse.yilmaz@musterstadt.example")
    assert "Bitte prüfen Sie" in edited and "ayse.yilmaz@musterstadt.example" in edited

    submitted = await press(harness, "ob:submit")
    assert "A-0001" in submitted
    async with harness.services.sessions() as session:
        [request] = (await session.scalars(select(OnboardingRequest))).all()
        assert (await session.scalars(select(OnboardingDraft))).all() == []
        [note] = (await session.scalars(select(OutboxMessage))).all()
    assert (request.org_name, request.org_type, request.size) == (
        "Stadt Musterstadt 🙂",
        "municipality",
        "m",
    )
    assert request.email == "ayse.yilmaz@musterstadt.example"
    assert request.phone == "+49 211 1234-567"
    assert json.loads(request.measures) == [first_measure.id]
    assert request.status == "submitted" and request.consent_at is not None
    assert (
        note.chat_id == OFFICE_CHAT_ID
        and "A-0001" in note.text
        and "rq:ok:1" in (note.buttons or "")
    )

    status = await answer(harness, "/status")
    assert "A-0001" in status and "eingegangen" in status


async def test_form_survives_a_restart(
    harness: Harness, settings: Settings, search_engine: SearchEngine
) -> None:
    await answer(harness, "/join")
    await answer(harness, "Kreisverwaltung Beispiel")
    await press(harness, "ob:type:authority")
    # The bot restarts: a new Application (empty chat_data) on the same database.
    services = build_services(settings, search=search_engine)
    api = OfflineBotApi()
    app = build_application(services, request=api, rate_limit=False)
    async with app:
        restarted = Harness(app=app, api=api, services=services)
        calls = await restarted.send("Beispielstadt", user_id=ASKER)
        assert "(4/10)" in "\n".join(texts_of(calls)), "continues with the next step"
        calls = await restarted.send("/join", user_id=ASKER)
        assert "Weitermachen" in str(calls[-1].buttons())
        calls = await restarted.press("ob:resume", user_id=ASKER)
        assert "(4/10)" in "\n".join(texts_of(calls))
    await dispose(services.sessions, services.readers)
    async with harness.services.sessions() as session:
        draft = await session.get(OnboardingDraft, ASKER)
    assert draft is not None
    assert json.loads(draft.data) == {
        "org_name": "Kreisverwaltung Beispiel",
        "org_type": "authority",
        "place": "Beispielstadt",
    }


async def test_cancel_deletes_the_draft_and_old_buttons_do_nothing(harness: Harness) -> None:
    await answer(harness, "/join")
    await answer(harness, "Verein Vielfalt e. V.")
    assert "gelöscht" in await answer(harness, "/cancel")
    async with harness.services.sessions() as session:
        assert await session.get(OnboardingDraft, ASKER) is None
    calls = await harness.press("ob:type:association", user_id=ASKER)
    assert [c for c in calls if c.method == "answerCallbackQuery"]
    assert "nicht ganz sicher" not in last_text(calls)
    assert "Nichts" not in await answer(harness, "Was ist KAUSA?"), "text is a question again"


async def test_pressing_a_button_of_an_earlier_step_shows_the_current_step(
    harness: Harness,
) -> None:
    await answer(harness, "/join")
    await answer(harness, "Firma Beispiel GmbH")
    await press(harness, "ob:type:company")
    text = await press(harness, "ob:type:chamber")  # the old question's button again
    assert "(3/10)" in text
    async with harness.services.sessions() as session:
        draft = await session.get(OnboardingDraft, ASKER)
    assert draft is not None and json.loads(draft.data)["org_type"] == "company"


async def submitted_request(harness: Harness) -> None:
    await fill_until_review(harness)
    await press(harness, "ob:submit")


async def test_approval_links_requester_and_invite_links_colleagues_within_limit(
    harness: Harness,
) -> None:
    await submitted_request(harness)
    calls = await harness.send("/requests", user_id=COORDINATOR_ID)
    assert "rq:ok:1" in [d for c in calls for _, d in c.buttons()]
    approved = await press(harness, "rq:ok:1", user_id=COORDINATOR_ID)
    assert "angenommen" in approved
    async with harness.services.sessions() as session:
        [partner] = (await session.scalars(select(Partner))).all()
        [invite] = (await session.scalars(select(Invite))).all()
        contacts = (await session.scalars(select(PartnerContact))).all()
        notes = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == ASKER))
        ).all()
    assert partner.name == "Stadt Musterstadt 🙂"
    assert [c.chat_id for c in contacts] == [ASKER]
    payload = f"inv_{invite.token}"
    assert len(payload) <= 64
    assert f"start={payload}" in approved
    assert any(f"start={payload}" in n.text for n in notes), "the requester gets the link too"

    linked = await harness.send(f"/start {payload}", user_id=COLLEAGUE)
    assert "verknüpft" in texts_of(linked)[0]
    again = await harness.send(f"/start {payload}", user_id=COLLEAGUE)
    assert "bereits" in texts_of(again)[0]
    for extra_user in range(6000, 6000 + invite.max_uses - 1):
        await harness.send(f"/start {payload}", user_id=extra_user)
    too_many = await harness.send(f"/start {payload}", user_id=7000)
    assert "so oft genutzt" in texts_of(too_many)[0]
    unknown = await harness.send("/start inv_doesnotexist", user_id=7001)
    assert "ungültig" in texts_of(unknown)[0]
    assert "angenommen" in await answer(harness, "/status")
    late = await harness.press("rq:no:1", user_id=COORDINATOR_ID)
    assert any("bereits entschieden" in c.text for c in late if c.method == "answerCallbackQuery")


async def test_decline_with_reason_informs_the_requester(harness: Harness) -> None:
    await submitted_request(harness)
    asked = await press(harness, "rq:no:1", user_id=COORDINATOR_ID)
    assert "Grund" in asked
    calls = await harness.send(
        "Bitte zuerst mit dem Integrationsrat sprechen.", user_id=COORDINATOR_ID
    )
    assert "abgelehnt" in "\n".join(texts_of(calls))
    async with harness.services.sessions() as session:
        [request] = (await session.scalars(select(OnboardingRequest))).all()
        [note] = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == ASKER))
        ).all()
    assert request.status == "declined"
    assert "Integrationsrat" in note.text
    status = await answer(harness, "/status")
    assert "abgelehnt" in status and "Integrationsrat" in status


async def test_ask_back_and_the_requesters_reply_reach_each_other(harness: Harness) -> None:
    await submitted_request(harness)
    await harness.deliver()  # the office's notice of the request
    await press(harness, "rq:ask:1", user_id=COORDINATOR_ID)
    calls = await harness.send("Welche Abteilungen sind beteiligt?", user_id=COORDINATOR_ID)
    asked = harness.services.texts.get("de", "onboarding.asked_office", number="A-0001")
    assert texts_of(calls) == [asked]
    # Telegram hiccups when the question goes out: it is not lost, the next round delivers it.
    harness.api.raise_next("sendMessage", TimedOut("timed out"))
    assert [c.chat_id for c in await harness.deliver()] == [ASKER], "tried once, failed"
    [question] = [
        c for c in await harness.deliver(later=timedelta(minutes=1)) if c.chat_id == ASKER
    ]
    assert "Rückfrage" in question.text and "Abteilungen" in question.text
    async with harness.services.sessions() as session:
        [request] = (await session.scalars(select(OnboardingRequest))).all()
    assert request.status == "in_review"

    # A second question; the answer to the first (Telegram's Reply) still finds its request.
    await press(harness, "rq:ask:1", user_id=COORDINATOR_ID)
    await harness.send("Und ab wann?", user_id=COORDINATOR_ID)
    await harness.deliver()
    reply_to = await harness.delivered(ASKER, "Abteilungen")
    # An answer too long to pass on is refused whole, with its length (an emoji counts two,
    # as Telegram counts), never cut; the shorter one goes.
    too_long = "Personalamt 🏛 " * 150
    calls = await harness.send(too_long, user_id=ASKER, reply_to=reply_to)
    refused = harness.services.texts.get(
        "de", "common.too_long_to_relay", length=len(too_long) + 150, limit=2000
    )
    assert texts_of(calls) == [refused]
    calls = await harness.send("Personalamt und Bürgerbüro.", user_id=ASKER, reply_to=reply_to)
    assert texts_of(calls) == [harness.services.texts.get("de", "onboarding.answer_forwarded")]
    [to_office] = [c for c in await harness.deliver() if c.chat_id == OFFICE_CHAT_ID]
    assert "Personalamt und Bürgerbüro." in to_office.text and "A-0001" in to_office.text


async def test_strangers_cannot_review_requests(harness: Harness) -> None:
    await submitted_request(harness)
    calls = await harness.send("/requests", user_id=STRANGER)
    assert texts_of(calls) == [harness.services.texts.get("de", "common.coordinator_only")]
    for data in ("rq:ok:1", "rq:no:1", "rq:ask:1"):
        calls = await harness.press(data, user_id=STRANGER)
        assert [c for c in calls if c.method == "answerCallbackQuery"]
    await harness.send("Abgelehnt!", user_id=STRANGER)
    async with harness.services.sessions() as session:
        [request] = (await session.scalars(select(OnboardingRequest))).all()
        partners = (await session.scalars(select(Partner))).all()
    assert request.status == "submitted" and partners == []


async def test_untouched_drafts_expire(harness: Harness) -> None:
    await answer(harness, "/join")
    service = harness.services.onboarding
    assert await service.expire_drafts(older_than=timedelta(days=30)) == 0
    assert await service.expire_drafts(older_than=timedelta(seconds=-1)) == 1


async def test_join_button_under_join_answers_and_in_the_menu(harness: Harness) -> None:
    calls = await harness.send("/start", user_id=ASKER)
    assert "ob:join" in [d for c in calls for _, d in c.buttons()]
    calls = await harness.send("Wie werden wir Partner im Netzwerk?", user_id=ASKER)
    assert "ob:join" in [d for c in calls for _, d in c.buttons()]
    assert "(1/10)" in await press(harness, "ob:join")


async def test_requests_export_is_a_german_spreadsheet_csv(
    harness: Harness, settings: Settings, tmp_path: Path
) -> None:
    await submitted_request(harness)
    path = tmp_path / "anfragen.csv"
    assert await export_requests(settings, path) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "BOM so spreadsheet programs detect UTF-8"
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0][:4] == ["Nummer", "Eingang", "Status", "Organisation"]
    assert rows[1][0] == "A-0001" and rows[1][3] == "Stadt Musterstadt 🙂"
    assert rows[1][8] == "a.yilmaz@musterstadt.example"


async def test_two_concurrent_approvals_create_one_partner(harness: Harness) -> None:
    await submitted_request(harness)
    await asyncio.gather(
        harness.press("rq:ok:1", user_id=COORDINATOR_ID),
        harness.press("rq:ok:1", user_id=COORDINATOR_ID),
    )
    async with harness.services.sessions() as session:
        partners = (await session.scalars(select(Partner))).all()
        contacts = (await session.scalars(select(PartnerContact))).all()
    assert len(partners) == 1 and len(contacts) == 1


async def test_double_submit_creates_one_request_and_the_second_tap_is_already_done(
    harness: Harness,
) -> None:
    await fill_until_review(harness)
    before = len(harness.api.calls)
    await asyncio.gather(
        harness.press("ob:submit", user_id=ASKER), harness.press("ob:submit", user_id=ASKER)
    )
    calls = harness.api.calls[before:]
    texts = harness.services.texts
    assert texts_of(calls) == [texts.get("de", "onboarding.submitted", number="A-0001")], (
        "one confirmation and no review screen again"
    )
    assert sorted(texts_of(calls, "answerCallbackQuery")) == [
        "",
        texts.get("de", "common.already_done"),
    ]
    async with harness.services.sessions() as session:
        assert len((await session.scalars(select(OnboardingRequest))).all()) == 1


async def test_submitting_an_incomplete_draft_shows_the_review_again(harness: Harness) -> None:
    onboarding = harness.services.onboarding
    await answer(harness, "/join")
    draft = await onboarding.draft(chat_id=ASKER)
    assert draft is not None
    draft.answers = {"org_name": "Verein Lücke", "org_type": "association"}
    draft.step = "review"
    assert await onboarding.save(draft)
    calls = await harness.press("ob:submit", user_id=ASKER)
    [shown] = texts_of(calls)
    assert "Bitte prüfen Sie" in shown and "Verein Lücke" in shown
    assert texts_of(calls, "answerCallbackQuery") == [""]
    assert await onboarding.draft(chat_id=ASKER) is not None
    async with harness.services.sessions() as session:
        assert (await session.scalars(select(OnboardingRequest))).all() == []


async def test_an_answer_sent_twice_at_once_is_not_taken_as_a_question(
    harness: Harness,
) -> None:
    """The first copy answers the place; the second finds the form waiting for the size
    button and shows that step again: it is neither searched nor kept as unanswered."""
    await answer(harness, "/join")
    await answer(harness, "Verein Doppelt")
    await press(harness, "ob:type:association")
    before = len(harness.api.calls)
    await asyncio.gather(harness.send("Köln", user_id=ASKER), harness.send("Köln", user_id=ASKER))
    calls = [c for c in harness.api.calls[before:] if c.chat_id == ASKER]
    size = harness.services.texts.get("de", "onboarding.ask.size")
    assert texts_of(calls) == [size, size], "the size step, shown again to the second copy"
    assert not [d for c in calls for _, d in c.buttons() if d.startswith("ho:")]
    draft = await harness.services.onboarding.draft(chat_id=ASKER)
    assert draft is not None and (draft.step, draft.answers["place"]) == ("size", "Köln")
    async with harness.services.sessions() as session:
        assert (await session.scalars(select(UnansweredQuestion))).all() == []
    # A real question while the form waits for a button is still answered as one.
    assert "KAUSA" in await answer(harness, "Was ist KAUSA?")


async def test_an_answer_sent_twice_at_once_is_not_the_next_typed_answer(
    harness: Harness,
) -> None:
    """The contact's name twice at once: the first is the name, the copy is not taken as the
    e-mail address (nor refused as a bad one): the e-mail step is shown again."""
    await answer(harness, "/join")
    await answer(harness, "Verein Doppelt")
    await press(harness, "ob:type:association")
    await answer(harness, "Köln")
    await press(harness, "ob:size:s")
    before = len(harness.api.calls)
    name = "Erika Muster"
    await asyncio.gather(harness.send(name, user_id=ASKER), harness.send(name, user_id=ASKER))
    shown = texts_of([c for c in harness.api.calls[before:] if c.chat_id == ASKER])
    email = harness.services.texts.get("de", "onboarding.ask.email")
    assert shown == [email, email], shown
    draft = await harness.services.onboarding.draft(chat_id=ASKER)
    assert draft is not None and (draft.step, draft.answers["contact_name"]) == ("email", name)


async def test_an_edited_answer_sent_twice_at_once_shows_the_review_again(
    harness: Harness,
) -> None:
    await fill_until_review(harness)
    await press(harness, "ob:edit:place")
    before = len(harness.api.calls)
    await asyncio.gather(harness.send("Bonn", user_id=ASKER), harness.send("Bonn", user_id=ASKER))
    shown = texts_of([c for c in harness.api.calls[before:] if c.chat_id == ASKER])
    assert len(shown) == 2 and all("Bitte prüfen Sie" in t and "Bonn" in t for t in shown)
    async with harness.services.sessions() as session:
        assert (await session.scalars(select(UnansweredQuestion))).all() == []


async def test_a_decline_reason_is_only_taken_from_the_chat_where_it_was_asked(
    harness: Harness,
) -> None:
    await submitted_request(harness)
    await harness.press("rq:no:1", user_id=COORDINATOR_ID, chat_id=OFFICE_CHAT_ID)
    # Chatting elsewhere does not decline anything.
    await harness.send(
        "Guten Morgen zusammen!", user_id=COORDINATOR_ID, chat_id=-7777, chat_type="supergroup"
    )
    await harness.send("Was ist KAUSA?", user_id=COORDINATOR_ID)
    async with harness.services.sessions() as session:
        [request] = (await session.scalars(select(OnboardingRequest))).all()
    assert request.status == "submitted"
    await harness.send(
        "Bitte erst Integrationsrat fragen",
        user_id=COORDINATOR_ID,
        chat_id=OFFICE_CHAT_ID,
        chat_type="supergroup",
    )
    async with harness.services.sessions() as session:
        [request] = (await session.scalars(select(OnboardingRequest))).all()
    assert request.status == "declined"


async def test_join_in_a_group_points_to_the_private_chat(harness: Harness) -> None:
    calls = await harness.send("/join", user_id=ASKER, chat_id=-100889, chat_type="supergroup")
    link = f"https://t.me/{BOT_USER['username']}"
    assert texts_of(calls) == [
        harness.services.texts.get("de", "onboarding.private_only", link=link)
    ]
