"""The calibrated decision: how likely is each candidate topic the one that answers a question?

The search computes a handful of signals for every candidate topic (BM25F, fuzzy match on the
alternate questions, embedding similarity, vocabulary coverage, each also relative to the best
*other* candidate). A choice model turns them into the probability that each candidate is the
right one: every candidate gets a score (a weighted sum of its signals), "none of them" gets 0,
and a softmax over these makes the probabilities, which sum to at most one. It is fitted on
labelled questions (`python -m benchmarks.calibrate`, which also picks the regularisation and
the three thresholds by cross-validation) and stored in `decision.json` next to this file, one
model for the hybrid search and one for lexical-only.

Why a model rather than hand-set thresholds: the signals disagree in different ways for long
situations, chat spelling and keywords; a fitted combination ranks better than the fixed weights
did (top-1 0.82 -> see the benchmark) and its probability means the same thing for every
question, so "answer" and "did you mean" can be chosen for a wanted error rate.

Why a softmax over the candidates rather than a yes/no regression per candidate: a candidate is
only as likely as its rivals leave room for. Two close candidates share the probability, so the
best one is not answered with confidence when a second topic fits almost as well; scored one by
one, both looked sure. In cross-validation it answered 0.71 of the real-user questions
directly and right where the regression answered 0.66, within the same wrong-answer budgets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MODEL_PATH = Path(__file__).resolve().parent / "decision.json"
# How the weights turn into probabilities; a model file written for another kind (the earlier
# per-candidate logistic regression) would load without error and decide wrongly.
KIND = "choice"

# The order of the columns of a feature matrix; the model file names them to catch a mismatch.
FEATURES = (
    "lexical",  # BM25F score squashed to [0, 1)
    "fuzzy",  # best fuzzy ratio against the topic's title and alternate questions
    "semantic",  # cosine similarity, rescaled around the range where it discriminates
    "coverage",  # IDF-weighted share of the question's words the topic contains
    "lexical_gap",  # each of the four minus the best other candidate's value
    "fuzzy_gap",
    "semantic_gap",
    "coverage_gap",
    "scope_gap",  # closest out-of-scope example's similarity minus this topic's
    "length",  # log of the number of content words
    "bm25_rank",  # 1 / (1 + rank by BM25F among the candidates)
    "semantic_rank",  # 1 / (1 + rank by similarity)
    "keyword",  # share of the question's words that are the topic's title or keyword words
)

# Question-level features of the gate: is the question about the knowledge base at all, with
# the right topic among the best three?
GATE_FEATURES = (
    "best",  # the best candidate's probability
    "top3",  # the best three's probabilities summed
    "semantic",  # the highest similarity of any topic (rescaled)
    "scope_gap",  # closest out-of-scope example minus the highest topic similarity
    "domain",  # the knowledge base's own in-or-out classifier on the question's embedding
    "coverage",  # the highest coverage
    "unknown",  # share of the question's words the knowledge base has never seen
    "length",  # log of the number of content words
)


@dataclass(frozen=True, slots=True)
class Model:
    """The choice model's weights, the gate's, and the three decision thresholds."""

    weights: tuple[float, ...]
    bias: float
    gate_weights: tuple[float, ...]
    gate_bias: float
    answer: float  # answer directly when the best candidate's probability reaches this ...
    suggest: float  # ... and the gate's; offer buttons when only the gate's does
    # Below `suggest`, buttons still when the gate reaches this and no out-of-scope example is
    # closer in meaning than the best topic: a bare "don't know" only when nothing is close.
    floor: float = 1.0
    # Hybrid only: the lexical model's probability at which the hybrid search answers without
    # the semantic layer (None: never).
    shortcut: float | None = None

    def probabilities(self, features: FloatArray) -> FloatArray:
        """P(candidate is the right topic) for each row of `features`."""
        return choice_probabilities(features, np.asarray(self.weights), self.bias)

    def gate(self, features: FloatArray) -> float:
        """P(the question is in scope and its topic among the best three)."""
        return float(_sigmoid(features @ np.asarray(self.gate_weights) + self.gate_bias))


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return out


def choice_probabilities(features: FloatArray, weights: FloatArray, bias: float) -> FloatArray:
    """P(each candidate is the right topic): a softmax over the candidates' scores and the
    score 0 of "none of them", so the probabilities sum to at most one."""
    scores = features @ weights + bias
    top = max(float(scores.max(initial=0.0)), 0.0)  # shifted so that no exp overflows
    exps = np.exp(scores - top)
    out: FloatArray = exps / (math.exp(-top) + float(exps.sum()))
    return out


def gate_features(
    probabilities: FloatArray,
    *,
    semantic: float | None,
    scope_similarity: float | None,
    domain: float,
    coverage: float,
    unknown: float,
    content_words: int,
) -> FloatArray:
    """The gate's feature vector for one question (columns GATE_FEATURES)."""
    ordered = np.sort(probabilities)[::-1]
    sem = (semantic - 0.8) * 10.0 if semantic is not None else 0.0
    scope = (
        (scope_similarity - semantic) * 10.0
        if scope_similarity is not None and semantic is not None
        else 0.0
    )
    return np.asarray(
        [
            float(ordered[0]) if ordered.size else 0.0,
            float(ordered[:3].sum()),
            sem,
            scope,
            domain,
            coverage,
            unknown,
            math.log1p(content_words),
        ]
    )


def load_models(path: Path = MODEL_PATH) -> dict[str, Model]:
    """The fitted models by mode ("hybrid", "lexical") from the model file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if (
        data.get("kind") != KIND
        or tuple(data["features"]) != FEATURES
        or tuple(data["gate_features"]) != GATE_FEATURES
    ):
        raise ValueError(f"{path.name}: fitted for another model; run benchmarks.calibrate")
    return {
        mode: Model(
            weights=tuple(float(w) for w in entry["weights"]),
            bias=float(entry["bias"]),
            gate_weights=tuple(float(w) for w in entry["gate_weights"]),
            gate_bias=float(entry["gate_bias"]),
            answer=float(entry["answer"]),
            suggest=float(entry["suggest"]),
            floor=float(entry.get("floor", entry["suggest"])),
            shortcut=None if entry.get("shortcut") is None else float(entry["shortcut"]),
        )
        for mode, entry in data["models"].items()
    }


def save_models(models: dict[str, Model], path: Path = MODEL_PATH, note: str = "") -> None:
    """Write the models with the feature names they were fitted on."""
    data = {
        "note": note,
        "kind": KIND,
        "features": list(FEATURES),
        "gate_features": list(GATE_FEATURES),
        "models": {
            mode: {
                "weights": [round(w, 6) for w in m.weights],
                "bias": round(m.bias, 6),
                "gate_weights": [round(w, 6) for w in m.gate_weights],
                "gate_bias": round(m.gate_bias, 6),
                "answer": round(m.answer, 4),
                "suggest": round(m.suggest, 4),
                "floor": round(m.floor, 4),
                "shortcut": None if m.shortcut is None else round(m.shortcut, 4),
            }
            for mode, m in models.items()
        },
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def candidate_features(
    *,
    lexical: Sequence[float],
    fuzzy: Sequence[float],
    semantic: Sequence[float] | None,
    coverage: Sequence[float],
    bm25: Sequence[float],
    keyword: Sequence[float],
    scope_similarity: float | None,
    content_words: int,
) -> FloatArray:
    """The feature matrix for one question's candidates (one row each, columns FEATURES)."""
    n = len(lexical)
    lex = np.asarray(lexical, dtype=np.float64)
    fuz = np.asarray(fuzzy, dtype=np.float64)
    cov = np.asarray(coverage, dtype=np.float64)
    raw_sem = np.asarray(semantic if semantic is not None else [0.0] * n, dtype=np.float64)
    # e5 similarities live in a narrow band (about 0.75-0.95): stretch it.
    sem = (raw_sem - 0.8) * 10.0 if semantic is not None else np.zeros(n)
    scope = (
        (scope_similarity - raw_sem) * 10.0
        if scope_similarity is not None and semantic is not None
        else np.zeros(n)
    )
    columns = [
        lex,
        fuz,
        sem,
        cov,
        _gap(lex),
        _gap(fuz),
        _gap(sem),
        _gap(cov),
        scope,
        np.full(n, math.log1p(content_words)),
        1.0 / (1.0 + _ranks(np.asarray(bm25, dtype=np.float64))),
        1.0 / (1.0 + _ranks(raw_sem)) if semantic is not None else np.zeros(n),
        np.asarray(keyword, dtype=np.float64),
    ]
    return np.column_stack(columns)


def _gap(values: FloatArray) -> FloatArray:
    """Each value minus the best of the others (positive only for the single best)."""
    if values.size < 2:
        return np.zeros_like(values)
    order = np.argsort(-values, kind="stable")
    best, second = values[order[0]], values[order[1]]
    others_best = np.full_like(values, best)
    others_best[order[0]] = second
    out: FloatArray = values - others_best
    return out


def _ranks(values: FloatArray) -> FloatArray:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty_like(values)
    ranks[order] = np.arange(values.size, dtype=np.float64)
    return ranks


# ---------------------------------------------------------------------- fitting


Objective = Callable[[FloatArray], tuple[float, FloatArray, FloatArray]]


def _newton(objective: Objective, size: int, iterations: int) -> FloatArray:
    """Minimise a convex `objective` (returning value, gradient, Hessian) from zero by Newton
    steps, halved while a full step would not lower the value."""
    w = np.zeros(size)
    value, gradient, hessian = objective(w)
    for _ in range(iterations):
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while True:
            trial = objective(w - scale * step)
            if trial[0] <= value or scale < 1e-6:
                break
            scale /= 2
        w = w - scale * step
        value, gradient, hessian = trial
        if float(np.max(np.abs(scale * step))) < 1e-8:
            break
    return w


def fit_logistic(
    x: FloatArray,
    y: FloatArray,
    *,
    l2: float = 1.0,
    iterations: int = 50,
    sample_weights: FloatArray | None = None,
) -> tuple[FloatArray, float]:
    """L2-regularised logistic regression by Newton's method (small data: a few thousand rows)."""
    rows, cols = x.shape
    design = np.hstack([x, np.ones((rows, 1))])
    weights = np.ones(rows) if sample_weights is None else sample_weights
    penalty = np.full(cols + 1, l2)
    penalty[-1] = 0.0  # the bias is not shrunk

    def objective(w: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        z = np.clip(design @ w, -30, 30)
        p = 1.0 / (1.0 + np.exp(-z))
        # -log-likelihood: log(1 + e^z) - y z, weighted per row
        loss = float(weights @ (np.logaddexp(0.0, z) - y * z)) + 0.5 * float(penalty @ w**2)
        gradient = design.T @ (weights * (p - y)) + penalty * w
        curvature = weights * p * (1 - p)
        hessian = (design * curvature[:, None]).T @ design + np.diag(penalty + 1e-9)
        return loss, gradient, hessian

    w = _newton(objective, cols + 1, iterations)
    return w[:-1], float(w[-1])


def fit_choice(
    groups: Sequence[FloatArray], right: Sequence[int], *, l2: float = 1.0, iterations: int = 100
) -> tuple[FloatArray, float]:
    """Fit the choice model of `choice_probabilities` by Newton's method.

    `groups` are the questions' feature matrices, `right` the index of each one's right
    candidate (-1: none of them is). The columns are scaled to unit spread while fitting, so
    the L2 penalty shrinks every signal alike; the weights come back on the original scale.
    """
    x = np.vstack(groups)
    rows, cols = x.shape
    spread = x.std(axis=0)
    spread[spread == 0] = 1.0  # a column that never varies (no semantic layer) stays at 0
    design = np.hstack([x / spread, np.ones((rows, 1))])
    sizes = np.asarray([g.shape[0] for g in groups])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    owner = np.repeat(np.arange(len(groups)), sizes)
    chosen = np.zeros(rows)
    for start, index in zip(starts, right, strict=True):
        if index >= 0:
            chosen[start + index] = 1.0
    penalty = np.full(cols + 1, l2)
    penalty[-1] = 0.0

    def objective(w: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        scores = design @ w
        top = np.maximum(np.maximum.reduceat(scores, starts), 0.0)
        exps = np.exp(scores - top[owner])
        totals = np.exp(-top) + np.add.reduceat(exps, starts)  # "none" scores 0
        p = exps / totals[owner]
        loss = float(np.sum(top + np.log(totals)) - chosen @ scores) + 0.5 * float(penalty @ w**2)
        gradient = design.T @ (p - chosen) + penalty * w
        expected = np.add.reduceat(design * p[:, None], starts)  # per question
        hessian = (design * p[:, None]).T @ design - expected.T @ expected + np.diag(penalty + 1e-9)
        return loss, gradient, hessian

    w = _newton(objective, cols + 1, iterations)
    return w[:-1] / spread, float(w[-1])


def fit_domain(
    inside: FloatArray, outside: FloatArray, *, limit: int = 4000
) -> tuple[FloatArray, float]:
    """A linear classifier on sentence embeddings: the knowledge base's own texts against the
    out-of-scope examples, both classes weighted equally.

    It learns what the network's questions are about from the knowledge base alone (no
    evaluation question is involved); its logit is one of the gate's features. At most `limit`
    inside rows are used (every n-th), so a knowledge base of 10,000 topics fits as fast.
    """
    if inside.shape[0] > limit:
        inside = inside[:: -(-inside.shape[0] // limit)]
    x = np.vstack([inside, outside]).astype(np.float64)
    y = np.concatenate([np.ones(inside.shape[0]), np.zeros(outside.shape[0])])
    balance = (
        np.concatenate(
            [
                np.full(inside.shape[0], 0.5 / max(inside.shape[0], 1)),
                np.full(outside.shape[0], 0.5 / max(outside.shape[0], 1)),
            ]
        )
        * x.shape[0]
    )
    return fit_logistic(x, y, l2=0.1, iterations=30, sample_weights=balance)
