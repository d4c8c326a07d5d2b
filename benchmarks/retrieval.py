"""Retrieval quality and speed: `python -m benchmarks.retrieval` (part of `make bench`).

Prints quality (semantic layer on and off) on the fresh evaluation set (the test: never tuned
on), the session-3 evaluation set (tuned on) and the two older sets, per writing style where
the set has styles, question latency (p50/p99) for the real knowledge base and for synthetic
ones of 1,000 and 10,000 topics, and the index build time. The synthetic topics are the real
ones with invented words mixed in, so the vocabulary grows with the topic count as a real,
larger knowledge base's would. For the semantic layer at 1,000 topics the passage vectors are
random unit vectors written to the cache first (that is what "embeddings from cache" means;
their values do not change the speed), while every query is embedded for real.

"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from knowledge import KnowledgeBase, SearchEngine, Topic, load_knowledge
from knowledge.evaluation import evaluate, load_questions
from knowledge.semantic import E5Embedder, passage_key

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "data" / "questions_dev.yaml"
HOLDOUT = ROOT / "tests" / "data" / "questions_holdout.yaml"
EVAL_TUNE = ROOT / "tests" / "data" / "questions_eval_tune.yaml"
EVAL_TEST = ROOT / "tests" / "data" / "questions_eval_test.yaml"
FRESH = ROOT / "tests" / "data" / "questions_fresh.yaml"
CACHE = ROOT / "data" / "cache"


def _invented_words(rng: random.Random, count: int) -> list[str]:
    syllables = ["ka", "lo", "ver", "mi", "sto", "ran", "te", "bu", "ent", "schaf", "or", "ung"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(count)]


def synthetic_kb(kb: KnowledgeBase, size: int, seed: int = 7) -> KnowledgeBase:
    """`size` topics cloned from the real ones, each with its own invented vocabulary."""
    rng = random.Random(seed)
    vocabulary = _invented_words(rng, max(size * 6, 100))
    topics: list[Topic] = []
    for i in range(size):
        base = kb.topics[i % len(kb.topics)]
        extra = " ".join(rng.sample(vocabulary, 8))
        topics.append(
            replace(
                base,
                id=f"{base.id}_{i}",
                related=(),
                keywords={lang: (*words, extra) for lang, words in base.keywords.items()},
                questions={
                    lang: tuple(f"{q} {rng.choice(vocabulary)}" for q in qs)
                    for lang, qs in base.questions.items()
                },
                answer={lang: f"{text}\n\n{extra}" for lang, text in base.answer.items()},
            )
        )
    return replace(
        kb,
        topics=tuple(topics),
        by_id={t.id: t for t in topics},
        version=f"synthetic-{size}-{seed}",
    )


def latency_ms(
    search: Callable[[str], object], questions: Sequence[str], rounds: int = 3
) -> tuple[float, float]:
    """(p50, p99) in milliseconds over `rounds` passes, after one warm-up pass."""
    for q in questions:
        search(q)
    samples: list[float] = []
    for _ in range(rounds):
        for q in questions:
            start = time.perf_counter()
            search(q)
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def _fill_cache(engine: SearchEngine, cache_dir: Path, name: str) -> None:
    texts, _ = engine.passage_texts()
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((len(texts), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(cache_dir / f"passages-{passage_key(name, texts)}.npy", vectors)


def main() -> None:
    """Print every figure."""
    kb = load_knowledge()
    questions = load_questions(QUESTIONS)
    texts = [q.text for q in questions]
    print(f"knowledge base: {len(kb.topics)} topics, version {kb.version}")
    print(f"questions: {len(questions)} from {QUESTIONS.relative_to(ROOT)}\n")

    start = time.perf_counter()
    embedder = E5Embedder()
    semantic = SearchEngine(kb, embedder=embedder, cache_dir=CACHE)
    print(
        f"hybrid index build (embeddings cached in {CACHE.relative_to(ROOT)}): "
        f"{time.perf_counter() - start:.2f} s"
    )
    lexical = SearchEngine(kb)
    holdout = load_questions(HOLDOUT)
    fresh = load_questions(FRESH)
    tune = load_questions(EVAL_TUNE) + load_questions(EVAL_TEST)
    for label, engine in (("hybrid (lexical + semantic)", semantic), ("lexical only", lexical)):
        print(f"\n== quality, {label}")
        print(f"-- fresh evaluation set, the TEST ({len(fresh)} questions, never tuned on)")
        print("\n".join(evaluate(engine, fresh).lines()))
        print(f"-- session-3 evaluation set, both parts ({len(tune)} questions, tuned on)")
        print("\n".join(evaluate(engine, tune).lines()))
        print(f"-- older development set ({len(questions)} questions)")
        print("\n".join(evaluate(engine, questions).lines()))
        print(f"-- older held-out set ({len(holdout)} questions)")
        print("\n".join(evaluate(engine, holdout).lines()))

    print("\n== latency per question (ms, p50 / p99)")
    p50, p99 = latency_ms(lexical.search, texts)
    print(f"lexical,  {len(kb.topics):>6} topics: {p50:6.2f} / {p99:6.2f}")
    p50, p99 = latency_ms(semantic.search, texts, rounds=3)
    print(f"hybrid,   {len(kb.topics):>6} topics: {p50:6.2f} / {p99:6.2f}")
    for size in (1_000, 10_000):
        big = synthetic_kb(kb, size)
        start = time.perf_counter()
        engine = SearchEngine(big)
        build = time.perf_counter() - start
        p50, p99 = latency_ms(engine.search, texts, rounds=1 if size > 1000 else 3)
        print(f"lexical,  {size:>6} topics: {p50:6.2f} / {p99:6.2f}   (index build {build:.2f} s)")
        if size == 1_000:
            with tempfile.TemporaryDirectory() as tmp:
                _fill_cache(engine, Path(tmp), embedder.name)
                start = time.perf_counter()
                SearchEngine(big, embedder=embedder, cache_dir=Path(tmp))  # builds, saves index
                first = time.perf_counter() - start
                start = time.perf_counter()
                hybrid = SearchEngine(big, embedder=embedder, cache_dir=Path(tmp))
                build = time.perf_counter() - start
                p50, p99 = latency_ms(hybrid.search, texts, rounds=3)
                print(
                    f"hybrid,   {size:>6} topics: {p50:6.2f} / {p99:6.2f}   "
                    f"(index build: {first:.2f} s with embeddings from cache, "
                    f"{build:.2f} s on restart with the index cached too)"
                )


if __name__ == "__main__":
    main()
