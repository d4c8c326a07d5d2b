"""Whatever a person types reaches other people as typed: every value a catalog text fills in is
escaped for HTML, markup the bot builds itself is kept (and nothing is escaped twice)."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import OutboxMessage
from bot.services.onboarding import Draft
from bot.texts import Markup, Texts, join, link
from tests.conftest import COORDINATOR_ID, OFFICE_CHAT_ID, Harness, texts_of

ASKER = 5301
NASTY = {
    "org_name": "Müller & Söhne <GmbH>",
    "place": 'Köln "Nord" & Süd',
    "contact_name": "Jo <b>Ed</b> & 'Co'",
    "email": "jo@mueller.example",
    "phone": "+49 221 12345",
    "measures_text": "Sprachkurse & <Mentoring>",
    "timeframe": "2027 & später",
}


def test_values_are_escaped_and_markup_is_kept() -> None:
    texts = Texts.load()
    shown = texts.get("de", "onboarding.status_reason", reason="a & b <c>")
    assert "a &amp; b &lt;c&gt;" in shown
    nested = texts.get("de", "onboarding.status_reason", reason=Markup("<i>x</i>"))
    assert "<i>x</i>" in nested
    assert isinstance(shown, Markup)
    assert join("\n", [shown, "<x>"]).endswith("&lt;x&gt;")
    assert link("https://a.example/?a=1&b=2", "<go>") == (
        '<a href="https://a.example/?a=1&amp;b=2">&lt;go&gt;</a>'
    )
    assert texts.plain("de", "onboarding.status_reason", reason="a & b").count("&amp;") == 0


async def _submit(harness: Harness) -> int:
    onboarding = harness.services.onboarding
    started = await onboarding.start(chat_id=ASKER, user_id=ASKER, language="de")
    answers: dict[str, object] = {**NASTY, "org_type": "company", "size": "s"}
    draft = Draft(ASKER, "de", "review", answers, version=started.version)
    assert await onboarding.save(draft)
    request = await onboarding.submit(draft, user_id=ASKER)
    assert request is not None
    return request.id


async def _outbox_texts(harness: Harness, chat_id: int) -> list[str]:
    async with harness.services.sessions() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == chat_id))
        return [row.text for row in rows]


def _assert_escaped(text: str, *values: str) -> None:
    for value in values:
        escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped in text, (value, text)
        assert "&amp;amp;" not in text, "escaped twice"


async def test_every_field_of_a_request_reaches_people_as_typed(harness: Harness) -> None:
    request_id = await _submit(harness)
    [office] = await _outbox_texts(harness, OFFICE_CHAT_ID)
    _assert_escaped(office, *NASTY.values())
    listed = texts_of(await harness.send("/requests", user_id=COORDINATOR_ID))
    _assert_escaped(listed[-1], *NASTY.values())

    approved = await harness.press(f"rq:ok:{request_id}", user_id=COORDINATOR_ID)
    _assert_escaped("\n".join(texts_of(approved)), NASTY["org_name"])
    [to_requester] = await _outbox_texts(harness, ASKER)
    _assert_escaped(to_requester, NASTY["org_name"])
    _assert_escaped(
        "\n".join(texts_of(await harness.send("/status", user_id=ASKER))), NASTY["org_name"]
    )

    # A colleague linked through the invite sees the name as typed too.
    token = to_requester.split("start=inv_", 1)[1].split('"')[0].split()[0]
    linked = texts_of(await harness.send(f"/start inv_{token}", user_id=5302))
    _assert_escaped(linked[0], NASTY["org_name"])


async def test_decline_reason_and_ask_back_question_are_escaped(harness: Harness) -> None:
    first = await _submit(harness)
    await harness.press(f"rq:no:{first}", user_id=COORDINATOR_ID)
    await harness.send("Zu früh & <noch> nicht", user_id=COORDINATOR_ID)
    [declined] = await _outbox_texts(harness, ASKER)
    _assert_escaped(declined, "Zu früh & <noch> nicht")
    status = "\n".join(texts_of(await harness.send("/status", user_id=ASKER)))
    _assert_escaped(status, "Zu früh & <noch> nicht")


async def test_a_handed_over_question_reaches_the_office_as_typed(harness: Harness) -> None:
    question = 'Qwertz & <Zyxwv> "Plopp" Brumm?'
    calls = await harness.send(question, user_id=ASKER)
    handover = [d for c in calls for _, d in c.buttons() if d.startswith("ho:")]
    assert handover, "an unknown question offers the hand-over"
    await harness.press(handover[0], user_id=ASKER)
    [to_office] = [c.text for c in await harness.deliver() if c.chat_id == OFFICE_CHAT_ID]
    _assert_escaped(to_office, question)


async def test_a_broadcast_keeps_its_formatting(harness: Harness) -> None:
    await harness.send("/broadcast", user_id=COORDINATOR_ID)
    text = "Treffen & Austausch"
    entities = [{"type": "bold", "offset": 0, "length": 7}]
    calls = await harness.send(text, user_id=COORDINATOR_ID, extra={"entities": entities})
    assert texts_of(calls), "the audience question follows"
    await harness.press("bc:aud:subscribers", user_id=COORDINATOR_ID)
    preview = await harness.press("bc:lang:any", user_id=COORDINATOR_ID)
    assert any("<b>Treffen</b> &amp; Austausch" in t for t in texts_of(preview))
