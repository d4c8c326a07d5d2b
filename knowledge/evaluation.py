"""Measure retrieval quality on a labelled question set, and how long answers are on a phone
(used by the benchmarks and by floor tests)."""

from __future__ import annotations

import itertools
from collections import defaultdict
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
    """A question, the topic id that should answer it (None: out of scope) and how it is
    written (long, colloquial, keywords, plain, english; empty for the older sets)."""

    text: str
    topic: str | None
    style: str = ""


@dataclass(frozen=True, slots=True)
class Quality:
    """Retrieval quality figures; shares are of in-scope or out-of-scope questions."""

    in_scope: int
    out_of_scope: int
    top1: float
    top3: float
    answered_right: float
    shown_right: float  # answered with the right topic, or the right topic among the buttons
    confident_wrong: float
    oos_rejected: float
    oos_no_answer: float
    misses: list[tuple[str, str | None, str | None, str]] = field(default_factory=list)
    by_style: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    # (best candidate's probability, whether it is the right topic) for every question
    confidence: list[tuple[float, bool]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [
            f"in-scope questions          {self.in_scope}",
            f"  top-1 (ranked first)      {self.top1:.3f}",
            f"  top-3                     {self.top3:.3f}",
            f"  answered with right topic {self.answered_right:.3f}",
            f"  right topic shown         {self.shown_right:.3f}   (answer or a button)",
            f"  confident wrong answers   {self.confident_wrong:.3f}",
            f"out-of-scope questions      {self.out_of_scope}",
            f"  rejected (don't know)     {self.oos_rejected:.3f}",
            f"  no confident answer       {self.oos_no_answer:.3f}",
        ]
        if self.confidence:
            out.append("  calibration: best candidate's probability -> share right (n)")
            edges = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.01)
            for lo, hi in itertools.pairwise(edges):
                bucket = [right for p, right in self.confidence if lo <= p < hi]
                if bucket:
                    share = sum(bucket) / len(bucket)
                    out.append(f"    {lo:.1f}-{min(hi, 1.0):.1f}  {share:.3f}  ({len(bucket)})")
        if self.by_style:
            out.append(
                "  per style (in scope: n, answered right, shown; out of scope: n, rejected)"
            )
            out.extend(
                f"    {style:<12} {n:>4}  {a:.3f}  {s:.3f}"
                for style, (n, a, s) in sorted(self.by_style.items())
            )
        return out


def load_questions(path: Path) -> list[LabelledQuestion]:
    """Read a `questions: [{q, topic, style?}]` YAML file."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        LabelledQuestion(str(item["q"]), item.get("topic"), str(item.get("style") or ""))
        for item in data["questions"]
    ]


def _ranked_ids(result: SearchResult) -> list[str]:
    if result.outcome is Outcome.OUT_OF_SCOPE:
        return []
    return [m.topic_id for m in result.ranked]


def shown_ids(result: SearchResult) -> list[str]:
    """The topics a person sees: the answer, or the did-you-mean buttons."""
    if result.topic is not None:
        return [result.topic.id]
    return [t.id for t in result.suggestions]


def evaluate(engine: SearchEngine, questions: list[LabelledQuestion]) -> Quality:
    """Run every question through the engine and count outcomes."""
    inside = [q for q in questions if q.topic]
    outside = [q for q in questions if not q.topic]
    top1 = top3 = right = shown = wrong = rejected = no_answer = 0
    misses: list[tuple[str, str | None, str | None, str]] = []
    styles: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    confidence: list[tuple[float, bool]] = []
    for q in inside:
        result = engine.search(q.text)
        ids = _ranked_ids(result)
        if result.ranked:
            confidence.append((result.ranked[0].score, ids[:1] == [q.topic]))
        top1 += bool(ids[:1] == [q.topic])
        top3 += q.topic in ids[:3]
        answered = result.topic.id if result.topic else None
        is_right = answered == q.topic
        is_shown = q.topic in shown_ids(result)
        right += is_right
        shown += is_shown
        wrong += result.outcome is Outcome.ANSWER and answered != q.topic
        if q.style:
            counts = styles[q.style]
            counts[0] += 1
            counts[1] += is_right
            counts[2] += is_shown
        if answered != q.topic:
            misses.append((q.text, q.topic, ids[0] if ids else None, result.outcome.value))
    for q in outside:
        result = engine.search(q.text)
        if result.ranked:
            confidence.append((result.ranked[0].score, False))
        is_rejected = result.outcome in (Outcome.UNKNOWN, Outcome.OUT_OF_SCOPE)
        rejected += is_rejected
        no_answer += result.outcome is not Outcome.ANSWER
        if q.style:
            counts = styles[f"oos:{q.style}"]
            counts[0] += 1
            counts[1] += is_rejected
            counts[2] += is_rejected
        if not is_rejected:
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
        shown_right=shown / n_in,
        confident_wrong=wrong / n_in,
        oos_rejected=rejected / n_out,
        oos_no_answer=no_answer / n_out,
        misses=misses,
        by_style={s: (n, a / max(n, 1), b / max(n, 1)) for s, (n, a, b) in styles.items()},
        confidence=confidence,
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
