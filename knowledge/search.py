"""Find the topic that answers a question: BM25 + fuzzy question matching + embeddings.

The lexical side (BM25F over stemmed, decompounded, synonym-expanded terms, with typo
correction against the knowledge base's own vocabulary) decides whether a question is in scope
at all; the fuzzy match on the curated alternate questions and the semantic layer help rank the
candidates. Explicit scope rules catch personal cases and small talk before any of that.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from knowledge.model import KnowledgeBase, Topic
from knowledge.semantic import Embedder, Vectors, cached_passages
from knowledge.text import (
    LANGS,
    Lang,
    content_words,
    fold,
    guess_language,
    split_compound,
    squash,
    stem,
)
from knowledge.text import words as words_of

# Field weights of BM25F: curated keywords and titles say most about a topic.
_FIELD_WEIGHTS = {"title": 3.0, "keywords": 3.0, "questions": 1.5, "answer": 0.4}
_K1 = 1.2
_B = 0.6
_CANDIDATES = 20


class Outcome(StrEnum):
    """What the bot does with a question."""

    ANSWER = "answer"
    SUGGEST = "suggest"
    UNKNOWN = "unknown"
    OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Calibrated on the development questions; see benchmarks/retrieval.py."""

    answer: float = 0.55
    margin: float = 0.06
    suggest: float = 0.38
    suggest_window: float = 0.15
    # In scope at all: most of the question's (IDF-weighted) words occur in the topic ...
    min_coverage: float = 0.45
    # ... or the meaning is very close and at least some words occur (long, chatty questions).
    rescue_semantic: float = 0.885
    rescue_coverage: float = 0.25
    # With the semantic layer on, nothing is answered or suggested below this similarity.
    min_semantic: float = 0.85
    # A question made only of function words ("Was kannst du alles?") must match this closely.
    function_word_fuzzy: float = 0.85


@dataclass(frozen=True, slots=True)
class Weights:
    """How the three signals are combined into one confidence in [0, 1]."""

    lexical: float = 0.35
    fuzzy: float = 0.25
    semantic: float = 0.25
    coverage: float = 0.15
    bm25_half: float = 6.0  # BM25 score that maps to 0.5
    sem_floor: float = 0.80  # cosine similarity at which the semantic signal starts
    sem_ceiling: float = 0.93


@dataclass(frozen=True, slots=True)
class Match:
    """One candidate topic with its signals."""

    topic_id: str
    score: float
    bm25: float
    fuzzy: float
    semantic: float
    coverage: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The decision for one question and the evidence behind it."""

    question: str
    lang: Lang
    outcome: Outcome
    topic: Topic | None
    score: float
    suggestions: tuple[Topic, ...] = ()
    scope_rule: str | None = None
    ranked: tuple[Match, ...] = field(default=(), repr=False)


@dataclass(slots=True)
class _Query:
    terms: dict[Lang, dict[str, float]]  # stemmed term -> weight, per stemming language
    originals: list[tuple[str, dict[Lang, str]]]  # content word -> its stem per language
    squashed: str


class SearchEngine:
    """An index over one knowledge base; build once, query many times (thread-safe reads)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        embedder: Embedder | None = None,
        cache_dir: Path | None = None,
        thresholds: Thresholds | None = None,
        weights: Weights | None = None,
    ) -> None:
        self.kb = kb
        self.thresholds = thresholds or Thresholds()
        self.weights = weights or Weights()
        self._embedder = embedder
        self._topics = list(kb.topics)
        self._build_vocabulary()
        self._build_bm25()
        self._build_fuzzy()
        self._passages: Vectors | None = None
        self._passage_topic: np.ndarray | None = None
        if embedder is not None:
            self._build_semantic(embedder, cache_dir)

    # ------------------------------------------------------------------ index
    def _topic_fields(self, topic: Topic, lang: Lang) -> dict[str, str]:
        return {
            "title": topic.title[lang],
            "keywords": " ".join(topic.keywords.get(lang, ())),
            "questions": " ".join(topic.questions.get(lang, ())),
            "answer": topic.answer[lang],
        }

    def _build_vocabulary(self) -> None:
        vocab: set[str] = set()
        for topic in self._topics:
            for lang in LANGS:
                for text in self._topic_fields(topic, lang).values():
                    vocab.update(w for w in content_words(text) if len(w) >= 3)
        for group in self.kb.synonyms:
            for phrase in group:
                vocab.update(content_words(phrase))
        self._vocab = frozenset(vocab)
        self._vocab_stems = {lang: frozenset(stem(w, lang) for w in vocab) for lang in LANGS}
        # Bucket by first letter so typo correction compares against a small list.
        buckets: dict[str, list[str]] = defaultdict(list)
        for word in sorted(vocab):
            buckets[word[0]].append(word)
        self._buckets = dict(buckets)
        # Synonym groups as stem sets: a query stem in a group adds the others.
        self._synonyms: dict[Lang, dict[str, set[str]]] = {lang: defaultdict(set) for lang in LANGS}
        for group in self.kb.synonyms:
            for lang in LANGS:
                group_stems = {" ".join(stem(w, lang) for w in content_words(p)) for p in group}
                for member in group_stems:
                    self._synonyms[lang][member] |= group_stems - {member}

    def _expand_word(self, word: str) -> list[tuple[str, float]]:
        """The word, its typo correction and its compound parts, with weights."""
        out = [(word, 1.0)]
        known = word in self._vocab or any(
            stem(word, lang) in self._vocab_stems[lang] for lang in LANGS
        )
        if not known and len(word) >= 5 and not word.isdigit():
            candidates = self._buckets.get(word[0], [])
            cutoff = 84.0 if len(word) < 8 else 80.0
            hit = process.extractOne(word, candidates, scorer=fuzz.ratio, score_cutoff=cutoff)
            if hit is not None:
                out.append((hit[0], 0.9))
                word = hit[0]
        for part in split_compound(word, self._vocab):
            out.append((part, 0.6))
        return out

    def _analyse(self, text: str, *, index_side: bool = False) -> dict[Lang, dict[str, float]]:
        terms: dict[Lang, dict[str, float]] = {lang: defaultdict(float) for lang in LANGS}
        for word in content_words(text):
            expansions = (
                [(word, 1.0)] + [(p, 0.6) for p in split_compound(word, self._vocab)]
                if index_side
                else self._expand_word(word)
            )
            for form, weight in expansions:
                for lang in LANGS:
                    terms[lang][stem(form, lang)] += weight
        if not index_side:
            for lang in LANGS:
                for term in list(terms[lang]):
                    for phrase in self._synonyms[lang].get(term, ()):
                        for part in phrase.split():
                            if part not in terms[lang]:
                                terms[lang][part] = 0.5
        return terms

    def _build_bm25(self) -> None:
        # One document per (topic, language); postings hold BM25F-weighted term frequencies.
        self._postings: dict[Lang, dict[str, list[tuple[int, float]]]] = {
            lang: defaultdict(list) for lang in LANGS
        }
        lengths: dict[Lang, list[float]] = {lang: [] for lang in LANGS}
        for index, topic in enumerate(self._topics):
            for lang in LANGS:
                tf: dict[str, float] = defaultdict(float)
                for name, text in self._topic_fields(topic, lang).items():
                    weight = _FIELD_WEIGHTS[name]
                    for term, count in self._analyse(text, index_side=True)[lang].items():
                        tf[term] += weight * count
                for term, value in tf.items():
                    self._postings[lang][term].append((index, value))
                lengths[lang].append(sum(tf.values()))
        n = max(len(self._topics), 1)
        self._doc_len = {lang: np.asarray(lengths[lang] or [1.0]) for lang in LANGS}
        self._avg_len = {lang: float(self._doc_len[lang].mean()) or 1.0 for lang in LANGS}
        self._idf = {
            lang: {
                term: math.log(1 + (n - len(posts) + 0.5) / (len(posts) + 0.5))
                for term, posts in self._postings[lang].items()
            }
            for lang in LANGS
        }
        self._max_idf = math.log(1 + (n + 0.5) / 0.5)

    def _build_fuzzy(self) -> None:
        self._fuzzy_strings: list[list[str]] = []
        for topic in self._topics:
            strings = [squash(topic.title[lang]) for lang in LANGS]
            for lang in LANGS:
                strings.extend(squash(q) for q in topic.questions.get(lang, ()))
            self._fuzzy_strings.append([s for s in strings if s])

    def passage_texts(self) -> tuple[list[str], list[int]]:
        """Texts embedded for the semantic layer and the topic index of each."""
        texts: list[str] = []
        owners: list[int] = []
        for index, topic in enumerate(self._topics):
            for lang in LANGS:
                first_paragraph = topic.answer[lang].split("\n\n")[0]
                items = [f"{topic.title[lang]}. {first_paragraph}", *topic.questions.get(lang, ())]
                texts.extend(items)
                owners.extend([index] * len(items))
        return texts, owners

    def _build_semantic(self, embedder: Embedder, cache_dir: Path | None) -> None:
        texts, owners = self.passage_texts()
        self._passages = cached_passages(embedder, texts, cache_dir)
        self._passage_topic = np.asarray(owners, dtype=np.int32)

    # ------------------------------------------------------------------ query
    def _bm25(self, query: dict[Lang, dict[str, float]]) -> dict[int, float]:
        scores: dict[int, float] = defaultdict(float)
        for lang in LANGS:
            lang_scores: dict[int, float] = defaultdict(float)
            doc_len, avg = self._doc_len[lang], self._avg_len[lang]
            for term, qweight in query[lang].items():
                posts = self._postings[lang].get(term)
                if not posts:
                    continue
                idf = self._idf[lang][term]
                for doc, tf in posts:
                    norm = tf * (_K1 + 1) / (tf + _K1 * (1 - _B + _B * doc_len[doc] / avg))
                    lang_scores[doc] += min(qweight, 1.0) * idf * norm
            for doc, value in lang_scores.items():
                scores[doc] = max(scores[doc], value)
        return scores

    def _coverage(self, words: Sequence[str], index: int) -> float:
        """IDF-weighted share of the question's words that the topic's text knows."""
        if not words:
            return 0.0
        total = 0.0
        covered = 0.0
        for word in words:
            forms = self._expand_word(word)
            best_idf = self._max_idf
            hit = 0.0
            for form, weight in forms:
                for lang in LANGS:
                    term = stem(form, lang)
                    related = [(term, weight)]
                    for phrase in self._synonyms[lang].get(term, ()):
                        related.extend((part, 0.8 * weight) for part in phrase.split())
                    for candidate, cand_weight in related:
                        idf = self._idf[lang].get(candidate)
                        if idf is None:
                            continue
                        if candidate == term:
                            best_idf = min(best_idf, idf)
                        if any(doc == index for doc, _ in self._postings[lang][candidate]):
                            hit = max(hit, min(cand_weight, 1.0))
            total += best_idf
            covered += best_idf * hit
        return covered / total if total else 0.0

    def _semantic(self, text: str) -> dict[int, float]:
        if self._embedder is None or self._passages is None or self._passage_topic is None:
            return {}
        query = self._embedder.queries([text])[0]
        sims = self._passages @ query
        best = np.full(len(self._topics), -1.0, dtype=np.float32)
        np.maximum.at(best, self._passage_topic, sims)
        return {i: float(v) for i, v in enumerate(best)}

    def _scope_rule(self, text: str) -> str | None:
        folded = " " + " ".join(fold(text).split()) + " "
        for rule in self.kb.scope_rules:
            if rule.matches(folded):
                return rule.id
        return None

    def rank(self, text: str) -> list[Match]:
        """All candidate topics for a question, best first."""
        words = content_words(text[:2000])
        if not words:
            return self._rank_function_words(text[:300])
        query = self._analyse(" ".join(words))
        bm25 = self._bm25(query)
        semantic = self._semantic(text[:2000])
        candidates = set(sorted(bm25, key=bm25.__getitem__, reverse=True)[:_CANDIDATES])
        if semantic and bm25:
            candidates |= set(sorted(semantic, key=semantic.__getitem__, reverse=True)[:5])
        squashed = " ".join(words)
        w = self.weights
        matches: list[Match] = []
        for index in candidates:
            strings = self._fuzzy_strings[index]
            fuzzy = 0.0
            if squashed and strings:
                best = process.extractOne(squashed, strings, scorer=fuzz.token_set_ratio)
                sort_best = process.extractOne(squashed, strings, scorer=fuzz.token_sort_ratio)
                fuzzy = ((best[1] if best else 0.0) + (sort_best[1] if sort_best else 0.0)) / 200
            lexical = bm25.get(index, 0.0)
            lex_norm = lexical / (lexical + w.bm25_half)
            sem = semantic.get(index, 0.0)
            sem_norm = min(max((sem - w.sem_floor) / (w.sem_ceiling - w.sem_floor), 0.0), 1.0)
            coverage = self._coverage(words, index)
            if semantic:
                score = (
                    w.lexical * lex_norm
                    + w.fuzzy * fuzzy
                    + w.semantic * sem_norm
                    + w.coverage * coverage
                )
            else:
                rest = w.lexical + w.fuzzy + w.coverage
                score = (w.lexical * lex_norm + w.fuzzy * fuzzy + w.coverage * coverage) / rest
            matches.append(
                Match(
                    topic_id=self._topics[index].id,
                    score=round(score, 4),
                    bm25=round(lexical, 3),
                    fuzzy=round(fuzzy, 3),
                    semantic=round(sem, 4),
                    coverage=round(coverage, 3),
                )
            )
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches

    def _rank_function_words(self, text: str) -> list[Match]:
        """Questions without content words can only match an alternate question almost exactly."""
        folded = " ".join(words_of(text))
        if not folded:
            return []
        matches = []
        for _index, topic in enumerate(self._topics):
            strings = [
                " ".join(words_of(q)) for lang in LANGS for q in topic.questions.get(lang, ())
            ]
            best = process.extractOne(folded, strings, scorer=fuzz.ratio)
            ratio = (best[1] if best else 0.0) / 100
            if ratio >= self.thresholds.function_word_fuzzy:
                matches.append(
                    Match(topic.id, round(ratio, 4), 0.0, round(ratio, 3), 0.0, coverage=1.0)
                )
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches

    def _in_scope(self, match: Match) -> bool:
        t = self.thresholds
        if match.coverage >= t.min_coverage:
            return True
        return match.semantic >= t.rescue_semantic and match.coverage >= t.rescue_coverage

    def _semantic_ok(self, match: Match) -> bool:
        if self._passages is None or (match.bm25 == 0.0 and match.semantic == 0.0):
            return True  # semantic layer off, or a function-word match
        return match.semantic >= self.thresholds.min_semantic

    def search(self, text: str, lang: Lang | None = None) -> SearchResult:
        """Decide how to answer `text`: one topic, up to three suggestions, or honestly not."""
        lang = lang or guess_language(text)
        question = text.strip()
        rule = self._scope_rule(question)
        if rule is not None:
            return SearchResult(question, lang, Outcome.OUT_OF_SCOPE, None, 0.0, scope_rule=rule)
        ranked = self.rank(question)
        if not ranked:
            return SearchResult(question, lang, Outcome.UNKNOWN, None, 0.0)
        top = ranked[0]
        t = self.thresholds
        second = ranked[1].score if len(ranked) > 1 else 0.0
        in_scope = self._in_scope(top) and self._semantic_ok(top)
        by_id = self.kb.by_id
        if in_scope and top.score >= t.answer and top.score - second >= t.margin:
            return SearchResult(
                question, lang, Outcome.ANSWER, by_id[top.topic_id], top.score, ranked=tuple(ranked)
            )
        if in_scope and top.score >= t.suggest:
            close = [m for m in ranked[:3] if m.score >= top.score - t.suggest_window]
            return SearchResult(
                question,
                lang,
                Outcome.SUGGEST,
                None,
                top.score,
                suggestions=tuple(by_id[m.topic_id] for m in close),
                ranked=tuple(ranked),
            )
        return SearchResult(question, lang, Outcome.UNKNOWN, None, top.score, ranked=tuple(ranked))

    def search_many(self, texts: Iterable[str], lang: Lang | None = None) -> list[SearchResult]:
        """`search` for each text, in order."""
        return [self.search(text, lang) for text in texts]
