"""Measure retrieval quality on a labelled question set, and how long answers are on a phone
(used by the benchmarks and by floor tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowledge.model import KnowledgeBase
from knowledge.render import render_answer, visible_text
from knowledge.search import Outcome, SearchEngine, SearchResult
from knowledge.text import LANGS


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    """A question and the topic id that should answer it (None: out of scope)."""

    text: str
    topic: str | None


@dataclass(frozen=True, slots=True)
class Quality:
    """Retrieval quality figures; shares are of in-scope or out-of-scope questions."""

    in_scope: int
    out_of_scope: int
    top1: float
    top3: float
    answered_right: float
    confident_wrong: float
    oos_rejected: float
    oos_no_answer: float
    misses: list[tuple[str, str | None, str | None, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        return [
            f"in-scope questions          {self.in_scope}",
            f"  top-1 (ranked first)      {self.top1:.3f}",
            f"  top-3                     {self.top3:.3f}",
            f"  answered with right topic {self.answered_right:.3f}",
            f"  confident wrong answers   {self.confident_wrong:.3f}",
            f"out-of-scope questions      {self.out_of_scope}",
            f"  rejected (don't know)     {self.oos_rejected:.3f}",
            f"  no confident answer       {self.oos_no_answer:.3f}",
        ]


def load_questions(path: Path) -> list[LabelledQuestion]:
    """Read a `questions: [{q, topic}]` YAML file."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [LabelledQuestion(str(item["q"]), item.get("topic")) for item in data["questions"]]


def _ranked_ids(result: SearchResult) -> list[str]:
    if result.outcome is Outcome.OUT_OF_SCOPE:
        return []
    return [m.topic_id for m in result.ranked]


def evaluate(engine: SearchEngine, questions: list[LabelledQuestion]) -> Quality:
    """Run every question through the engine and count outcomes."""
    inside = [q for q in questions if q.topic]
    outside = [q for q in questions if not q.topic]
    top1 = top3 = right = wrong = rejected = no_answer = 0
    misses: list[tuple[str, str | None, str | None, str]] = []
    for q in inside:
        result = engine.search(q.text)
        ids = _ranked_ids(result)
        top1 += bool(ids[:1] == [q.topic])
        top3 += q.topic in ids[:3]
        answered = result.topic.id if result.topic else None
        right += answered == q.topic
        wrong += result.outcome is Outcome.ANSWER and answered != q.topic
        if answered != q.topic:
            misses.append((q.text, q.topic, ids[0] if ids else None, result.outcome.value))
    for q in outside:
        result = engine.search(q.text)
        rejected += result.outcome in (Outcome.UNKNOWN, Outcome.OUT_OF_SCOPE)
        no_answer += result.outcome is not Outcome.ANSWER
        if result.outcome is not Outcome.UNKNOWN and result.outcome is not Outcome.OUT_OF_SCOPE:
            top = result.ranked[0].topic_id if result.ranked else None
            misses.append((q.text, None, top, result.outcome.value))
    n_in = max(len(inside), 1)
    n_out = max(len(outside), 1)
    return Quality(
        in_scope=len(inside),
        out_of_scope=len(outside),
        top1=top1 / n_in,
        top3=top3 / n_in,
        answered_right=right / n_in,
        confident_wrong=wrong / n_in,
        oos_rejected=rejected / n_out,
        oos_no_answer=no_answer / n_out,
        misses=misses,
    )


def first_message_lengths(kb: KnowledgeBase, *, region: str = "NW") -> list[int]:
    """Characters a reader sees in each topic's first answer message (every topic, de and en).

    The message as the bot sends it for `region`, with the default office name and without a
    live part; counted as Telegram counts: text without the HTML tags, links as their titles.
    """
    return [
        len(visible_text(render_answer(topic, lang, region=region)))
        for topic in kb.topics
        for lang in LANGS
    ]
