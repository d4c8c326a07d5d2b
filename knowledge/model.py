"""The knowledge base as immutable values: topics, sources, categories, scope rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from knowledge.text import Lang

CATEGORY_IDS = ("network", "bot", "concept", "hr", "services", "support", "examples")


class OrganisationType(StrEnum):
    """The kinds of organisation the network knows, once: partners and join requests have one,
    the /firststeps wizard asks for one, a topic may apply to some (applies_to)."""

    AUTHORITY = "authority"
    MUNICIPALITY = "municipality"
    ASSOCIATION = "association"
    COMPANY = "company"
    CHAMBER = "chamber"
    POLICE = "police"
    JOBCENTER = "jobcenter"
    OTHER = "other"


ORGANISATION_TYPES: tuple[str, ...] = tuple(OrganisationType)

DYNAMIC_PARTS = ("next_meetings", "report_deadline", "office_contact")
# The German Länder as ISO 3166-2:DE codes without the "DE-" prefix.
REGIONS = (
    "BB",
    "BE",
    "BW",
    "BY",
    "HB",
    "HE",
    "HH",
    "MV",
    "NI",
    "NW",
    "RP",
    "SH",
    "SL",
    "SN",
    "ST",
    "TH",
)
# Topic texts name the network office only through this placeholder; the bot fills in the
# configured name (OFFICE_NAME_DE / OFFICE_NAME_EN), the search index these defaults.
OFFICE_PLACEHOLDER = "{office}"
DEFAULT_OFFICE_NAMES: Mapping[Lang, str] = {"de": "Netzwerkstelle", "en": "network office"}


def fill_office(text: str, office: str) -> str:
    """`text` with every `{office}` replaced by the office's name."""
    return text.replace(OFFICE_PLACEHOLDER, office)


@dataclass(frozen=True, slots=True)
class Source:
    """Where an answer's facts come from: a URL, a seed page, or a project note."""

    title: str
    url: str | None = None
    seed: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RegionalPart:
    """A part of an answer that holds only in one Land (a referral to a regional body)."""

    region: str
    text: Mapping[Lang, str]


@dataclass(frozen=True, slots=True)
class Topic:
    """One curated answer with everything the search needs to find it."""

    id: str
    category: str
    title: Mapping[Lang, str]
    answer: Mapping[Lang, str]
    questions: Mapping[Lang, tuple[str, ...]]
    keywords: Mapping[Lang, tuple[str, ...]]
    related: tuple[str, ...]
    sources: tuple[Source, ...]
    reviewed: date
    plain: Mapping[Lang, str] = field(default_factory=dict)
    details: Mapping[Lang, str] = field(default_factory=dict)
    regional: tuple[RegionalPart, ...] = ()
    applies_to: tuple[str, ...] = ()
    dynamic: str | None = None
    path: str = ""

    def answer_text(self, lang: Lang, *, plain: bool = False) -> str:
        """The answer in `lang`, in plain language when asked for and available."""
        if plain and self.plain.get(lang):
            return self.plain[lang]
        return self.answer[lang]

    def regional_texts(self, lang: Lang, region: str) -> list[str]:
        """The parts of the answer that hold in `region`, in file order."""
        return [part.text[lang] for part in self.regional if part.region == region]


@dataclass(frozen=True, slots=True)
class Category:
    """A group of topics shown together in the topic menu."""

    id: str
    title: Mapping[Lang, str]


@dataclass(frozen=True, slots=True)
class ScopeRule:
    """A kind of question the bot must not answer from the knowledge base (weather, own visa)."""

    id: str
    patterns: tuple[re.Pattern[str], ...]
    requires: tuple[re.Pattern[str], ...] = ()
    unless: tuple[re.Pattern[str], ...] = ()
    examples: tuple[str, ...] = ()  # typical questions of this kind, for the semantic check

    def matches(self, folded: str) -> bool:
        """True when the question hits a pattern and every `requires`, and no `unless`."""
        if not self.patterns or not any(p.search(folded) for p in self.patterns):
            return False
        return self._worded(folded)

    def worded_like(self, folded: str) -> bool:
        """True when the question is worded as this rule's questions are (every `requires`,
        no `unless`: for personal cases, the first person and no organisation), whatever it
        asks about; False for a rule without `requires`."""
        return bool(self.requires) and self._worded(folded)

    def _worded(self, folded: str) -> bool:
        if any(u.search(folded) for u in self.unless):
            return False
        return all(r.search(folded) for r in self.requires)


@dataclass(frozen=True, slots=True)
class PracticeExample:
    """A public example of what one organisation did, attached to a topic (the directory of
    practice starts with these; approved report items join them in the database)."""

    id: str
    topic: str
    partner: str
    org_type: str
    region: str  # the place as the network names it ("Duisburg", "Kreis Lippe")
    year: int
    done: Mapping[Lang, str]
    result: Mapping[Lang, str]
    source: Source
    path: str = ""


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """All topics of one network, validated, with a content version for caches."""

    topics: tuple[Topic, ...]
    categories: tuple[Category, ...]
    synonyms: tuple[frozenset[str], ...]
    scope_rules: tuple[ScopeRule, ...]
    version: str
    by_id: Mapping[str, Topic] = field(default_factory=dict)
    examples: tuple[PracticeExample, ...] = ()

    def topic(self, topic_id: str) -> Topic | None:
        """The topic with this id, or None."""
        return self.by_id.get(topic_id)

    def in_category(self, category_id: str) -> list[Topic]:
        """Topics of one category in file order."""
        return [t for t in self.topics if t.category == category_id]
