"""Checks for plain-language texts: sentence length and unexplained jargon (`plain_jargon.yaml`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

JARGON_FILE = Path(__file__).resolve().parent / "plain_jargon.yaml"
# A sentence ends with its line, or at . ! ? before a capital letter – but not after a single
# letter ("z. B. Die", "d. h."), and not before a number ("Nr. 5", "Abs. 2").
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\s\w\.)\s+(?=[A-ZÄÖÜ„\"'(])")
_WORD = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class Jargon:
    """Words plain texts must explain where they first use them, and what counts as explaining."""

    terms: tuple[str, ...]
    explained_after: tuple[str, ...]
    explained_before: tuple[str, ...]

    @classmethod
    def load(cls, path: Path = JARGON_FILE) -> Jargon:
        """Read the jargon list."""
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(
            terms=tuple(str(t) for t in data["terms"]),
            explained_after=tuple(str(m) for m in data["explained_after"]),
            explained_before=tuple(str(m) for m in data["explained_before"]),
        )

    def unexplained(self, text: str) -> list[tuple[str, str]]:
        """(term, line) for each term whose first line in `text` does not explain it."""
        found: list[tuple[str, str]] = []
        for term in self.terms:
            pattern = _term_pattern(term)
            for line in text.splitlines():
                match = pattern.search(line)
                if match is None:
                    continue
                before, after = line[: match.start()], line[match.end() :]
                if not (
                    any(m in after for m in self.explained_after)
                    or any(_precedes(m, before) for m in self.explained_before)
                ):
                    found.append((term, line.strip()))
                break  # explained (or not) where first used
        return found


def _precedes(marker: str, before: str) -> bool:
    if marker == "(":  # the word in brackets right after what it names: "Zentralstelle (ZFE)"
        return before.endswith("(")
    return marker in before


def _term_pattern(term: str) -> re.Pattern[str]:
    left = r"(?<!\w)" if _WORD.match(term[0]) else ""
    right = r"(?!\w)" if _WORD.match(term[-1]) else ""
    return re.compile(left + re.escape(term) + right)


def sentences(text: str) -> list[str]:
    """The sentences of a text: each line, split after . ! ? (bullets count as sentences)."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip().removeprefix("- ")
        out.extend(s for s in _SENTENCE_END.split(line) if _WORD.search(s))
    return out


def average_sentence_words(text: str) -> float:
    """Words per sentence on average (0 for a text without words)."""
    parts = sentences(text)
    if not parts:
        return 0.0
    words = sum(len([w for w in s.split() if _WORD.search(w)]) for s in parts)
    return words / len(parts)
