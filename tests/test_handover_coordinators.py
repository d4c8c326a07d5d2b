"""Hand-over without an office chat (no COORDINATOR_CHAT_ID): each coordinator gets the
question in their own chat, and a coordinator's reply there reaches the person who asked."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import Handover
from knowledge import SearchEngine
from tests.conftest import make_settings, running, texts_of

STRANGER = 7301
COORDINATORS = (9101, 9102)


async def test_without_an_office_chat_each_coordinator_gets_the_question(
    database_url: str, search_engine: SearchEngine
) -> None:
    settings = make_settings(
        database_url=database_url, coordinator_chat_id=None, coordinator_ids=COORDINATORS
    )
    async with running(settings, search_engine) as harness:
        question = "Was ist ein Kulturdolmetscher-Zertifikat?"
        [reply] = [c for c in await harness.send(question, user_id=STRANGER) if c.buttons()]
        [button] = [d for _, d in reply.buttons() if d.startswith("ho:")]
        pressed = await harness.press(button, user_id=STRANGER)
        mine = texts_of([c for c in pressed if c.chat_id == STRANGER])
        assert any("Netzwerkstelle weitergegeben" in t for t in mine)
        assert not any("nicht eingerichtet" in t for t in mine)
        to_coordinators = [c for c in await harness.deliver() if c.chat_id in COORDINATORS]
        assert sorted(c.chat_id or 0 for c in to_coordinators) == sorted(COORDINATORS)
        assert all(question in c.text for c in to_coordinators)

        # The second coordinator's copy is as good as the first: a reply to it is relayed.
        coordinator = COORDINATORS[1]
        relayed = await harness.send(
            "Das Zertifikat gibt es bei der IHK.",
            user_id=coordinator,
            reply_to=await harness.delivered(coordinator, question),
        )
        assert texts_of(relayed) == [harness.services.texts.get("de", "handover.relayed")]
        [to_asker] = [c for c in await harness.deliver() if c.chat_id == STRANGER]
        assert "Antwort der Netzwerkstelle" in to_asker.text and "IHK" in to_asker.text
        async with harness.services.sessions() as session:
            [handover] = (await session.scalars(select(Handover))).all()
        assert handover.answered_at is not None
