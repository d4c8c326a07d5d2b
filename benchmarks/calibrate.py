"""Fit the decision model: `python -m benchmarks.calibrate` (writes knowledge/decision.json).

Training questions: both parts of the session-3 evaluation set plus the older development and
held-out sets; never the fresh set (`tests/data/questions_fresh.yaml`), which the benchmark
reports as the test. Five-fold cross-validation over questions gives out-of-fold probabilities:
first the candidates' (the choice model), then the gate's on those. Each model's L2 penalty is
the one of `L2_GRID` under which the out-of-fold probabilities give the questions' actual
outcomes the highest likelihood. The three thresholds are chosen on the out-of-fold results:

- suggest and floor: of the pairs at which out-of-scope questions (all training sets) still end
  in "don't know" at least `MIN_REJECTED` of the time, the one that shows the right topic
  (answer or button) for most in-scope questions of the tuning part. Buttons come when the gate
  reaches `suggest`, or reaches `floor` while no out-of-scope example is closer in meaning than
  the best topic;
- answer: for that `suggest`, the lowest probability at which wrong direct answers (a wrong
  topic, or any topic for an out-of-scope question) stay at or below `MAX_WRONG` of the tuning
  part's in-scope questions and at or below `MAX_WRONG_ALL` of all training questions'. The
  tuning part is written like real users (the older sets are close to the topics' own wording
  and alone would make the bot overconfident); with 200 questions one question moves it by
  0.005, so the larger pool is a second, steadier check. The session-3 test part showed about
  one point more wrong answers than the tuning part's cross-validation, hence both budgets lie
  below the issue's 0.04.

It prints the cross-validated calibration (probability bucket -> share right) and the figures
the thresholds give on the training questions; the benchmark reports the fresh set.
"""

from __future__ import annotations

import argparse
import itertools
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from knowledge import SearchEngine, load_knowledge
from knowledge.decision import (
    FEATURES,
    GATE_FEATURES,
    MODEL_PATH,
    FloatArray,
    Model,
    choice_probabilities,
    fit_choice,
    fit_logistic,
    save_models,
)
from knowledge.evaluation import LabelledQuestion, load_questions
from knowledge.search import Candidates
from knowledge.semantic import E5Embedder

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# The evaluation set's two parts written like real users (the test part was reported in
# session 3 and joined the training in session 4, when a fresh set took its place), then the
# older sets.
REAL_USERS = ("questions_eval_tune.yaml", "questions_eval_test.yaml")
TRAINING = (*REAL_USERS, "questions_dev.yaml", "questions_holdout.yaml")
CACHE = ROOT / "data" / "cache"
MAX_WRONG = 0.03  # of the tuning part's in-scope questions
MAX_WRONG_ALL = 0.02  # of all training questions' (a second, steadier budget)
MIN_REJECTED = 0.93
MAX_SHORTCUT_WRONG = 0.01  # of the questions the hybrid search answers from the lexical model
FOLDS = 5
L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
PLACEHOLDER = Model((0.0,) * len(FEATURES), 0.0, (0.0,) * len(GATE_FEATURES), 0.0, 1.0, 1.0)


@dataclass(frozen=True, slots=True)
class Example:
    """One training question's candidates and which one is right (-1: none)."""

    candidates: Candidates | None
    right: int
    in_scope: bool
    tune: bool = False  # from the tuning part of the evaluation set


def examples(
    engine: SearchEngine, questions: list[LabelledQuestion], tune: frozenset[str] = frozenset()
) -> list[Example]:
    """Candidates of every question the scope rules let through (`tune`: the tuning part's)."""
    out = []
    for q in questions:
        if engine.scope_rule(q.text) is not None:
            continue  # a scope pattern decides; the model never sees the question
        candidates = engine.candidates(q.text)
        ids = [m.topic_id for m in candidates.matches] if candidates is not None else []
        right = ids.index(q.topic) if q.topic in ids else -1
        out.append(Example(candidates, right, q.topic is not None, q.text in tune))
    return out


def _folds(n: int, seed: int = 11) -> list[set[int]]:
    index = list(range(n))
    random.Random(seed).shuffle(index)
    return [set(index[fold::FOLDS]) for fold in range(FOLDS)]


def fit_candidates(train: list[Example], l2: float) -> tuple[FloatArray, float]:
    """The choice model over the candidates of the training examples."""
    pairs = [(e.candidates.features, e.right) for e in train if e.candidates is not None]
    return fit_choice([features for features, _ in pairs], [right for _, right in pairs], l2=l2)


@dataclass(frozen=True, slots=True)
class Scored:
    """Out-of-fold result for one question."""

    best: float  # the best candidate's probability
    best_right: bool
    right_in_top3: bool
    in_scope: bool
    gate_features: FloatArray
    gate: float = 0.0
    closer_outside: bool = False  # an out-of-scope example is closer than the best topic
    tune: bool = False
    # The probability the candidates' model gave what happened: the right candidate, or "none
    # of them" for an out-of-scope question or one whose topic is not among the candidates.
    likelihood: float = 1.0


def _score(weights: FloatArray, bias: float, example: Example) -> Scored:
    if example.candidates is None:
        return Scored(
            0.0, False, False, example.in_scope, np.zeros(len(GATE_FEATURES)), tune=example.tune
        )
    p = choice_probabilities(example.candidates.features, weights, bias)
    order = np.argsort(-p, kind="stable")
    return Scored(
        best=float(p[order[0]]),
        best_right=int(order[0]) == example.right,
        right_in_top3=example.right in {int(i) for i in order[:3]},
        in_scope=example.in_scope,
        gate_features=example.candidates.gate_features(p),
        closer_outside=example.candidates.closer_outside(example.candidates.matches[int(order[0])]),
        tune=example.tune,
        likelihood=float(p[example.right] if example.right >= 0 else 1.0 - p.sum()),
    )


def _gate_label(s: Scored) -> float:
    return 1.0 if s.in_scope and s.right_in_top3 else 0.0


def _candidates_out_of_fold(data: list[Example], l2: float) -> list[Scored]:
    scored: list[Scored | None] = [None] * len(data)
    for held in _folds(len(data)):
        weights, bias = fit_candidates([d for i, d in enumerate(data) if i not in held], l2)
        for i in held:
            scored[i] = _score(weights, bias, data[i])
    return [s for s in scored if s is not None]


def _fit_gate(scored: list[Scored], l2: float) -> tuple[FloatArray, float]:
    return fit_logistic(
        np.vstack([s.gate_features for s in scored]),
        np.asarray([_gate_label(s) for s in scored]),
        l2=l2,
    )


def _gate_out_of_fold(first: list[Scored], l2: float) -> list[Scored]:
    out: list[Scored] = list(first)
    for held in _folds(len(first)):
        gw, gb = _fit_gate([s for i, s in enumerate(first) if i not in held], l2)
        for i in held:
            z = float(first[i].gate_features @ gw + gb)
            out[i] = replace(first[i], gate=1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))
    return out


def _log_likelihood(probabilities: list[float]) -> float:
    return float(np.sum(np.log(np.maximum(probabilities, 1e-12))))


def cross_validated(
    data: list[Example], l2: float | None = None
) -> tuple[list[Scored], float, float]:
    """Out-of-fold candidate probabilities, then out-of-fold gate probabilities, and the L2
    penalties of the two models: `l2` for both, or each one's most likely of `L2_GRID`."""
    grid = L2_GRID if l2 is None else (l2,)
    first, candidate_l2 = max(
        ((_candidates_out_of_fold(data, c), c) for c in grid),
        key=lambda pair: _log_likelihood([s.likelihood for s in pair[0]]),
    )
    scored, gate_l2 = max(
        ((_gate_out_of_fold(first, g), g) for g in grid),
        key=lambda pair: _log_likelihood(
            [s.gate if _gate_label(s) else 1.0 - s.gate for s in pair[0]]
        ),
    )
    return scored, candidate_l2, gate_l2


def _buttons(s: Scored, suggest: float, floor: float) -> bool:
    """Whether the question gets an answer or buttons (not "don't know") at these thresholds."""
    return s.gate >= suggest or (s.gate >= floor and not s.closer_outside)


def _answer_threshold(tune: list[Scored], everything: list[Scored], suggest: float) -> float:
    """The lowest probability at which wrong answers stay within both budgets."""
    for t in np.arange(0.05, 1.0, 0.01):
        if all(
            sum(1 for s in part if s.gate >= suggest and s.best >= t and not s.best_right)
            <= budget * max(sum(s.in_scope for s in part), 1)
            for part, budget in ((tune, MAX_WRONG), (everything, MAX_WRONG_ALL))
        ):
            return float(t)
    return 1.0


def thresholds(scored: list[Scored]) -> tuple[float, float, float]:
    """(answer, suggest, floor) thresholds as the module docstring explains."""
    outside = [s for s in scored if not s.in_scope]
    tune = [s for s in scored if s.tune] or scored
    tune_inside = [s for s in tune if s.in_scope]
    allowed = (1 - MIN_REJECTED) * len(outside)
    grid = [round(float(t), 2) for t in np.arange(0.01, 1.0, 0.01)]
    best: tuple[tuple[float, float], float, float, float] | None = None
    for suggest in grid:
        answer = _answer_threshold(tune, scored, suggest)
        for floor in (f for f in grid if f <= suggest):
            if sum(_buttons(s, suggest, floor) for s in outside) > allowed:
                continue
            shown = sum(
                (s.best_right if s.gate >= suggest and s.best >= answer else s.right_in_top3)
                for s in tune_inside
                if _buttons(s, suggest, floor)
            )
            answered = sum(
                s.best_right for s in tune_inside if s.gate >= suggest and s.best >= answer
            )
            key = (float(shown + answered), float(answered))
            if best is None or key > best[0]:
                best = (key, answer, suggest, floor)
    if best is None:
        return 1.0, 1.0, 1.0
    return best[1], best[2], best[3]


def _outcomes(scored: list[Scored], model: Model) -> str:
    inside = [s for s in scored if s.in_scope]
    outside = [s for s in scored if not s.in_scope]
    n = max(len(inside), 1)
    answered = [s for s in inside if s.gate >= model.suggest and s.best >= model.answer]
    shown = sum(
        s.best_right if s.gate >= model.suggest and s.best >= model.answer else s.right_in_top3
        for s in inside
        if _buttons(s, model.suggest, model.floor)
    )
    wrong = sum(
        1 for s in scored if s.gate >= model.suggest and s.best >= model.answer and not s.best_right
    )
    rejected = sum(not _buttons(s, model.suggest, model.floor) for s in outside)
    return (
        f"answered right {sum(s.best_right for s in answered) / n:.3f}, shown {shown / n:.3f}, "
        f"confident wrong {wrong / n:.3f}, out of scope rejected "
        f"{rejected / max(len(outside), 1):.3f} ({len(inside)} in scope, {len(outside)} out)"
    )


def report(scored: list[Scored], model: Model) -> list[str]:
    """Calibration buckets and the outcome shares the thresholds give."""
    lines = ["calibration (cross-validated): best candidate's probability -> share right"]
    edges = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01]
    for lo, hi in itertools.pairwise(edges):
        bucket = [s for s in scored if lo <= s.best < hi]
        if bucket:
            right = sum(s.best_right for s in bucket) / len(bucket)
            lines.append(f"  {lo:.1f}-{min(hi, 1.0):.1f}: {len(bucket):>4} questions, {right:.3f}")
    inside = [s for s in scored if s.in_scope]
    outside = [s for s in scored if not s.in_scope]
    lines.append("trade-off of the suggest threshold: gate -> shown, out of scope rejected")
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        t_shown = sum(
            s.best_right if s.best >= model.answer else s.right_in_top3
            for s in inside
            if s.gate >= t
        ) / max(len(inside), 1)
        t_rejected = sum(s.gate < t for s in outside) / max(len(outside), 1)
        lines.append(f"  {t:.2f}: {t_shown:.3f}, {t_rejected:.3f}")
    lines.append(
        f"thresholds: answer {model.answer:.2f}, suggest {model.suggest:.2f}, "
        f"floor {model.floor:.2f} (cross-validated)"
    )
    lines.append(f"  tuning part:  {_outcomes([s for s in scored if s.tune], model)}")
    lines.append(f"  all training: {_outcomes(scored, model)}")
    return lines


def shortcut_threshold(scored: list[Scored], lexical: Model) -> float | None:
    """The lowest probability of the lexical model at which its own answers are wrong for at
    most `MAX_SHORTCUT_WRONG` of the questions they take and for no out-of-scope question
    (cross-validated): from there on the hybrid search answers without an embedding."""
    start = round(max(lexical.answer, 0.5), 3)
    for t in sorted({round(float(x), 3) for x in np.arange(start, 1.0, 0.005)} | {start}):
        taken = [s for s in scored if s.gate >= lexical.suggest and s.best >= t]
        wrong = sum(not s.best_right for s in taken)
        if taken and wrong <= MAX_SHORTCUT_WRONG * len(taken) and all(s.in_scope for s in taken):
            return t
    return None


def scope_examples(engine: SearchEngine, model: Model) -> list[Scored]:
    """The scope rules' own examples, scored by the fitted `model` as out-of-scope questions
    the shortcut could take: all but those a pattern turns away or the personal-case wording
    sends to the full search (they are not training questions, so no cross-validation)."""
    scored = []
    for rule in engine.kb.scope_rules:
        for text in rule.examples:
            if engine.scope_rule(text) is not None or engine.worded_like_scope(text):
                continue
            example = Example(engine.candidates(text), -1, in_scope=False)
            s = _score(np.asarray(model.weights), model.bias, example)
            scored.append(replace(s, gate=model.gate(s.gate_features)))
    return scored


def fit(data: list[Example], scored: list[Scored], candidate_l2: float, gate_l2: float) -> Model:
    """The final model: candidates on all examples, the gate on the out-of-fold features,
    the thresholds on the out-of-fold results (`scored`)."""
    weights, bias = fit_candidates(data, candidate_l2)
    gw, gb = _fit_gate(scored, gate_l2)
    answer, suggest, floor = thresholds(scored)
    return Model(
        tuple(float(w) for w in weights),
        bias,
        tuple(float(w) for w in gw),
        gb,
        answer=answer,
        suggest=suggest,
        floor=floor,
    )


def main() -> None:
    """Fit both models, print their cross-validated figures, write the model file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--l2", type=float, default=None, help="regularisation strength (default: chosen by CV)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print, do not write the file")
    args = parser.parse_args()
    kb = load_knowledge()
    questions = [q for name in TRAINING for q in load_questions(DATA / name)]
    tune = frozenset(q.text for name in REAL_USERS for q in load_questions(DATA / name))
    print(f"training questions: {len(questions)} from {', '.join(TRAINING)}")
    models: dict[str, Model] = {}
    for mode in ("hybrid", "lexical"):
        embedder = E5Embedder() if mode == "hybrid" else None
        engine = SearchEngine(kb, embedder=embedder, cache_dir=CACHE, model=PLACEHOLDER)
        data = examples(engine, questions, tune)
        scored, candidate_l2, gate_l2 = cross_validated(data, args.l2)
        model = fit(data, scored, candidate_l2, gate_l2)
        print(f"\n== {mode}")
        print(f"L2 penalty (cross-validated): candidates {candidate_l2:g}, gate {gate_l2:g}")
        print("\n".join(report(scored, model)))
        print(
            "weights: "
            + ", ".join(f"{n} {w:+.2f}" for n, w in zip(FEATURES, model.weights, strict=True))
        )
        print(
            "gate: "
            + ", ".join(
                f"{n} {w:+.2f}" for n, w in zip(GATE_FEATURES, model.gate_weights, strict=True)
            )
        )
        models[mode] = model
        if mode == "lexical":
            outside = scope_examples(engine, model)
            shortcut = shortcut_threshold([*scored, *outside], model)
            taken = [s for s in scored if shortcut is not None and s.gate >= model.suggest]
            taken = [s for s in taken if shortcut is not None and s.best >= shortcut]
            print(
                f"shortcut (hybrid answers from the lexical model alone): probability "
                f">= {shortcut}, {len(taken) / max(len(scored), 1):.3f} of the questions, "
                f"{sum(not s.best_right for s in taken)} of them wrong (cross-validated); "
                f"{len(outside)} scope examples checked too"
            )
            models["hybrid"] = replace(models["hybrid"], shortcut=shortcut)
    if not args.dry_run:
        save_models(models, note="written by python -m benchmarks.calibrate; do not edit")
        print(f"\nwrote {MODEL_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
