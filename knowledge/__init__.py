"""Curated knowledge about intercultural opening and the search that finds it (pure Python)."""

from knowledge.loader import BUNDLED_DIR, KnowledgeError, Problem, load_knowledge
from knowledge.model import (
    ORGANISATION_TYPES,
    Category,
    KnowledgeBase,
    OrganisationType,
    Source,
    Topic,
)
from knowledge.search import Match, Outcome, SearchEngine, SearchResult, Thresholds
from knowledge.text import Lang, clear_language, guess_language

__all__ = [
    "BUNDLED_DIR",
    "ORGANISATION_TYPES",
    "Category",
    "KnowledgeBase",
    "KnowledgeError",
    "Lang",
    "Match",
    "OrganisationType",
    "Outcome",
    "Problem",
    "SearchEngine",
    "SearchResult",
    "Source",
    "Thresholds",
    "Topic",
    "clear_language",
    "guess_language",
    "load_knowledge",
]
