"""The directory of practice: "who in the network already did this?"

Examples are rows of one table: the public ones from the knowledge base (`knowledge/examples`,
copied in at every start) and report items the office approved. Only those two ever get in,
so an item a partner did not agree to publish, or one the office has not approved, never shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.db import reports as db
from bot.db.models import Example, utcnow
from bot.services.base import Clock, Service, Sessions
from knowledge import KnowledgeBase
from knowledge.text import fold

__all__ = ["FACETS", "PAGE_SIZE", "DirectoryService", "Example", "Page", "asks_for_examples"]

PAGE_SIZE = 5
# Every answer shows its topic's example count on a button: read for all topics at once and
# kept this long, so an answer costs no query for it. Examples change a few times a year (an
# approved report item); a button showing the old count for a few seconds is harmless.
COUNTS_TTL = timedelta(seconds=30)
FACETS = ("topic", "type", "region")
_FACET_COLUMNS = {"topic": "topic_id", "type": "org_type", "region": "region"}

# "Wer hat schon …", "gibt es Beispiele …", "who already …": the person wants to hear from
# others who did it, not the general advice. Matched on the folded text (umlauts, case).
_ASKS_FOR_EXAMPLES = re.compile(
    r"\b(?:wer hat (?:schon|bereits)|wer (?:macht|nutzt|bietet) (?:schon|bereits)"
    r"|welche? (?:partner|organisationen|behoerden|firmen|unternehmen|kommunen)\w* "
    r"(?:haben|hat|machen|nutzen) (?:schon|bereits)"
    r"|(?:gibt es|kennen sie|habt ihr|haben sie) (?:\w+ ){0,2}"
    r"(?:beispiele?|praxisbeispiele?|erfahrungen)"
    r"|beispiele? aus dem netzwerk|erfahrungen (?:von|anderer) "
    r"|who (?:has |have )?already|who else (?:has|did|does)"
    r"|(?:are there|any) (?:\w+ ){0,2}examples?|examples? from the network"
    r"|which (?:partners|organisations|organizations) (?:have|did))"
)


def asks_for_examples(text: str) -> bool:
    """Whether a question asks who already did something (answered from the directory)."""
    return bool(_ASKS_FOR_EXAMPLES.search(fold(text)))


@dataclass(frozen=True, slots=True)
class Page:
    """One page of examples under a filter."""

    facet: str  # topic, type, region
    value: str
    examples: tuple[Example, ...]
    offset: int
    total: int

    @property
    def has_next(self) -> bool:
        """More examples after this page."""
        return self.offset + len(self.examples) < self.total


class DirectoryService(Service):
    """Looks up the directory of practice; copies in the knowledge base's public examples."""

    def __init__(self, sessions: Sessions, kb: KnowledgeBase, *, clock: Clock = utcnow) -> None:
        super().__init__(sessions, clock=clock)
        self._kb = kb
        self._counts: dict[str, int] = {}
        self._counts_until: datetime | None = None

    async def sync_seeds(self) -> int:
        """Copy the knowledge base's public examples in (idempotent; removed ones go)."""
        keys = [f"seed:{e.id}" for e in self._kb.examples]
        async with self._sessions.begin() as session:
            for example in self._kb.examples:
                source = example.source
                await db.put_example(
                    session,
                    values={
                        "key": f"seed:{example.id}",
                        "item_id": None,
                        "topic_id": example.topic,
                        "partner": example.partner,
                        "org_type": example.org_type,
                        "region": example.region,
                        "year": example.year,
                        "language": None,
                        "done": example.done["de"],
                        "result": example.result.get("de", ""),
                        "done_en": example.done["en"],
                        "result_en": example.result.get("en", ""),
                        "link": source.url,
                        "source": source.title,
                        "contact": None,
                        "created_at": self._clock(),
                    },
                )
            await db.drop_seeds_except(session, keep=keys)
        self._counts_until = None
        return len(keys)

    async def count(self, topic_id: str) -> int:
        """How many examples the topic has (at most `COUNTS_TTL` old)."""
        now = self._clock()
        if self._counts_until is None or now >= self._counts_until:
            self._counts = await self.counts_by_topic()
            self._counts_until = now + COUNTS_TTL
        return self._counts.get(topic_id, 0)

    async def page(self, facet: str, value: str, *, offset: int = 0) -> Page:
        """Examples of one topic, organisation type or region, `PAGE_SIZE` at a time."""
        filters: dict[str, str | None] = {"topic_id": None, "org_type": None, "region": None}
        filters[_FACET_COLUMNS[facet]] = value
        async with self._sessions() as session:
            found, total = await db.examples(
                session,
                topic_id=filters["topic_id"],
                org_type=filters["org_type"],
                region=filters["region"],
                offset=max(offset, 0),
                limit=PAGE_SIZE,
            )
        return Page(facet, value, tuple(found), max(offset, 0), total)

    async def choices(self, facet: str) -> list[tuple[str, int]]:
        """The topics, organisation types or regions that have examples, with counts; topics
        the knowledge base no longer has are left out."""
        async with self._sessions() as session:
            values = await db.facet(session, column=_FACET_COLUMNS[facet])
        if facet == "topic":
            values = [(v, n) for v, n in values if self._kb.topic(v) is not None]
        # A partner imported without a region has none to choose by (its examples are under
        # their topic and organisation type).
        return [(v, n) for v, n in values if v]

    async def counts_by_topic(self) -> dict[str, int]:
        """Examples per topic (for `stats`)."""
        async with self._sessions() as session:
            return await db.example_counts(session)
