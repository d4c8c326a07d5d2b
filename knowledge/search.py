"""Find the topic that answers a question: BM25 + fuzzy question matching + embeddings.

The lexical side (BM25F over stemmed, decompounded, synonym-expanded terms, with typo
correction against the knowledge base's own vocabulary) decides whether a question is in scope
at all; the fuzzy match on the curated alternate questions and the semantic layer help rank the
candidates. Explicit scope rules catch personal cases and small talk before any of that.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process
from threadpoolctl import threadpool_limits

from knowledge.decision import (
    FEATURES,
    Model,
    candidate_features,
    fit_domain,
    gate_features,
    load_models,
)
from knowledge.model import DEFAULT_OFFICE_NAMES, KnowledgeBase, Topic, fill_office
from knowledge.semantic import Embedder, Vectors, cached_passages
from knowledge.text import (
    LANGS,
    STOPWORDS,
    Lang,
    asking_sentences,
    content_words,
    fold,
    guess_language,
    join_asking,
    split_compound,
    squash,
    stem,
)
from knowledge.text import words as words_of

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float32]

# Field weights of BM25F: curated keywords and titles say most about a topic.
_FIELD_WEIGHTS = {"title": 3.0, "keywords": 3.0, "questions": 1.5, "answer": 0.4}
_K1 = 1.2
_B = 0.6
_CANDIDATES = 20
_CONTEXT_CHARS = 2000  # of a long message, besides its asking sentences
# What the embedding model reads of a message: of a long one (see `knowledge.text.focus`) the
# `_EMBED_CHARS` that end with its last asking sentence, of any other its first `_EMBED_CHARS`
# (a question is seldom longer; a long one without sentences is cut). Its cost grows with the
# length (one core: about 20 ms for a short question, 75 ms for 200 characters, 105 ms for
# 300), and long situations are a sixth of real traffic, so this window decides much of the
# load a bot can carry. Cross-validated on the training questions (answered right, tuning
# part): a 200-character window alone 0.735; 300 characters plus the asking sentences
# embedded again on their own (until November 2026) 0.730, at 38 instead of 27.5 ms of
# search per question of the mixed load; 200 plus the asking sentences 0.745 at 34 ms; 150
# or 250 alone 0.718.
_EMBED_CHARS = 200
_LEARNED_RATIO = 92.0  # how close (rapidfuzz ratio) a question must be to a taught one
_CURATED_RATIO = 97.0  # how close a question must be to one of its best topic's own questions
_CONTEXT_WEIGHT = 0.4  # what a context word counts next to a word of the asking sentences
_INDEX_FORMAT = 2  # bump when the index layout or analysis changes


def _folded(text: str) -> str:
    """The question as scope patterns read it: folded, single spaces, a space at both ends."""
    return " " + " ".join(fold(text).split()) + " "


def _window(text: str, last: str) -> str:
    """The `_EMBED_CHARS` of a long message that end with `last`, its last asking sentence
    (its start when the question comes first). Spaces are folded first, in the message and in
    the sentence alike, so line breaks inside the message do not hide where the sentence ends;
    an asking sentence longer than the window keeps its end."""
    flat = " ".join(text.split())
    last = " ".join(last.split())
    found = flat.rfind(last)
    end = found + len(last) if found >= 0 else _EMBED_CHARS
    return flat[max(0, end - _EMBED_CHARS) : max(end, _EMBED_CHARS)]


class Outcome(StrEnum):
    """What the bot does with a question."""

    ANSWER = "answer"
    SUGGEST = "suggest"
    UNKNOWN = "unknown"
    OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What the fitted model (knowledge/decision.json) does not decide."""

    # A question made only of function words ("Was kannst du alles?") must match this closely.
    function_word_fuzzy: float = 0.85


@dataclass(frozen=True, slots=True)
class Weights:
    """How raw signals are scaled before the model sees them."""

    bm25_half: float = 6.0  # BM25 score that maps to 0.5


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
    scope_by_meaning: bool = False  # out of scope by similarity to examples, not by a pattern


@dataclass(frozen=True, slots=True)
class Candidates:
    """One question's candidate topics: signals (matches, unscored), features, closest
    out-of-scope example. The calibration fits the decision model on these."""

    matches: list[Match]
    features: npt.NDArray[np.float64]
    scope: tuple[str, float] | None
    unknown: float  # share of the question's words the knowledge base has never seen
    words: int  # content words of the asking part
    domain: float = 0.0  # the in-or-out classifier's logit (0 without the semantic layer)

    def closer_outside(self, best: Match) -> bool:
        """Whether an out-of-scope example is closer in meaning than the best topic, while no
        topic is named outright (every content word one of its title or keyword words, as
        "hilfe" names the bot's help topic)."""
        if self.scope is None or self.scope[1] <= best.semantic:
            return False
        return not bool(np.max(self.features[:, FEATURES.index("keyword")]) >= 1.0)

    def gate_features(self, probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The question-level features of the gate, given the candidates' probabilities."""
        semantic = max(m.semantic for m in self.matches) if self.scope is not None else None
        return gate_features(
            probabilities,
            semantic=semantic,
            scope_similarity=self.scope[1] if self.scope is not None else None,
            domain=self.domain,
            coverage=max(m.coverage for m in self.matches),
            unknown=self.unknown,
            content_words=self.words,
        )


# The semantic layer's view of a question: similarity per topic, the closest out-of-scope
# example, the in-or-out classifier's logit.
_Semantic = tuple[FloatArray | None, tuple[str, float] | None, float]


@dataclass(slots=True)
class _Reading:
    """A question after the lexical stage; the semantic stage may follow it."""

    asking: bool  # whether a long message's asking sentences were found
    weighted: list[tuple[str, float]]  # its content words, context words weighted lower
    bm25: FloatArray
    short: str  # the asking sentences, or the start of the message
    embed: str  # what the embedding model reads
    coverage: FloatArray | None = None  # computed once, for both stages
    fuzzy: dict[int, float] = field(default_factory=dict)  # by topic index, likewise


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
        model: Model | None = None,
    ) -> None:
        self.kb = kb
        self.thresholds = thresholds or Thresholds()
        self.weights = weights or Weights()
        models = load_models() if model is None else {}
        self.model = model or models["hybrid" if embedder is not None else "lexical"]
        # Where the lexical model alone is as sure as the hybrid's `shortcut`, the question is
        # answered without embedding it (about four in ten; an embedding is most of a search's
        # CPU time). Calibration passes its own model and gets no shortcut.
        self._lexical = (
            models.get("lexical")
            if embedder is not None and self.model.shortcut is not None
            else None
        )
        self._embedder = embedder
        self._topics = list(kb.topics)
        self._csr: dict[
            Lang, tuple[list[str], IntArray, FloatArray, npt.NDArray[np.int64], FloatArray]
        ] = {}
        self._fuzzy_strings: list[list[str]] = []
        self._full_questions: list[list[str]] = []
        if cache_dir is None or not self._load_index(cache_dir):
            self._compounds: dict[str, tuple[str, ...]] = {}
            self._build_vocabulary()
            self._build_bm25()
            del self._field_words, self._compounds  # only needed while indexing
            self._build_fuzzy()
            if cache_dir is not None:
                self._save_index(cache_dir)
        self._index_of = {topic.id: index for index, topic in enumerate(self._topics)}
        # Stems of each topic's title and keywords (a question that uses them names the
        # topic), indexed by stem: which topics each one names.
        named: dict[str, set[int]] = {}
        for index, topic in enumerate(self._topics):
            for lang in LANGS:
                for text in (topic.title[lang], *topic.keywords.get(lang, ())):
                    for word in content_words(text):
                        named.setdefault(stem(word, lang), set()).add(index)
        self._named_by: dict[str, frozenset[int]] = {
            key: frozenset(topics) for key, topics in named.items()
        }
        # Questions coordinators attached to a topic (or to "out of scope") in the bot.
        self._learned: dict[str, str | None] = {}
        # Counts what was taught: a search result kept from before a `learn` is stale.
        self.generation = 0
        self._passages: Vectors | None = None
        self._scope_ids: list[str] = []
        self._scope_vectors: Vectors | None = None
        self._domain: tuple[npt.NDArray[np.float64], float] | None = None
        self._passage_topic: np.ndarray | None = None
        if embedder is not None:
            self._build_semantic(embedder, cache_dir)

    # ------------------------------------------------------------------ index
    def _topic_fields(self, topic: Topic, lang: Lang) -> dict[str, str]:
        # The details behind "More" and the regional parts count as answer text; `{office}` is
        # indexed as the default name.
        parts = [topic.answer[lang], topic.details.get(lang, "")]
        parts.extend(part.text[lang] for part in topic.regional)
        answer = "\n\n".join(p for p in parts if p)
        return {
            "title": topic.title[lang],
            "keywords": " ".join(topic.keywords.get(lang, ())),
            "questions": " ".join(topic.questions.get(lang, ())),
            "answer": fill_office(answer, DEFAULT_OFFICE_NAMES[lang]),
        }

    def _build_vocabulary(self) -> None:
        # Tokenise every field once; the BM25 index reuses these word lists.
        self._field_words: list[dict[Lang, dict[str, list[str]]]] = [
            {
                lang: {
                    name: content_words(text) for name, text in self._topic_fields(t, lang).items()
                }
                for lang in LANGS
            }
            for t in self._topics
        ]
        vocab: set[str] = set()
        for fields in self._field_words:
            for by_name in fields.values():
                for field_words in by_name.values():
                    vocab.update(w for w in field_words if len(w) >= 3)
        for group in self.kb.synonyms:
            for phrase in group:
                vocab.update(content_words(phrase))
        self._set_vocabulary(vocab)

    def _set_vocabulary(self, vocab: set[str] | frozenset[str]) -> None:
        """The vocabulary and what is derived from it (stems, typo buckets, synonym stems)."""
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

    def _index_terms(self, field_words: list[str], lang: Lang) -> dict[str, float]:
        """Stemmed terms of one topic field, compounds also as their parts."""
        terms: dict[str, float] = defaultdict(float)
        for word, count in Counter(field_words).items():
            terms[stem(word, lang)] += count
            parts = self._compounds.get(word)
            if parts is None:
                parts = self._compounds[word] = tuple(split_compound(word, self._vocab))
            for part in parts:
                terms[stem(part, lang)] += 0.6 * count
        return terms

    def _analyse(self, weighted: Sequence[tuple[str, float]]) -> dict[Lang, dict[str, float]]:
        """Query terms per stemming language, with typo corrections, compound parts, synonyms.

        Each content word comes with its weight (lower for the context of a long message).
        """
        terms: dict[Lang, dict[str, float]] = {lang: defaultdict(float) for lang in LANGS}
        for word, word_weight in weighted:
            for form, weight in self._expand_word(word):
                for lang in LANGS:
                    terms[lang][stem(form, lang)] += weight * word_weight
        for lang in LANGS:
            for term, value in list(terms[lang].items()):
                for phrase in self._synonyms[lang].get(term, ()):
                    for part in phrase.split():
                        if part not in terms[lang]:
                            terms[lang][part] = 0.5 * min(value, 1.0)
        return terms

    def _build_bm25(self) -> None:
        # One document per (topic, language). For each term we keep the topics that contain it
        # and the term's precomputed BM25F weight in each, as numpy arrays: a query is then a few
        # vectorised additions, however many topics there are. The arrays are built in one go
        # (all postings sorted by term) and each term gets views into them.
        n = max(len(self._topics), 1)
        self._n = len(self._topics)
        self._max_idf = math.log(1 + (n + 0.5) / 0.5)
        self._idf: dict[Lang, dict[str, float]] = {}
        self._postings: dict[Lang, dict[str, tuple[IntArray, FloatArray]]] = {}
        for lang in LANGS:
            term_ids: dict[str, int] = {}
            rows: list[int] = []
            docs: list[int] = []
            tfs: list[float] = []
            lengths: list[float] = []
            for index in range(len(self._topics)):
                tf: dict[str, float] = defaultdict(float)
                for name, field_words in self._field_words[index][lang].items():
                    weight = _FIELD_WEIGHTS[name]
                    for term, count in self._index_terms(field_words, lang).items():
                        tf[term] += weight * count
                for term, value in tf.items():
                    rows.append(term_ids.setdefault(term, len(term_ids)))
                    docs.append(index)
                    tfs.append(value)
                lengths.append(sum(tf.values()))
            row_arr = np.asarray(rows, dtype=np.int32)
            order = np.argsort(row_arr, kind="stable")
            row_arr = row_arr[order]
            doc_arr = np.asarray(docs, dtype=np.int32)[order]
            tf_arr = np.asarray(tfs, dtype=np.float32)[order]
            doc_len = np.asarray(lengths or [1.0], dtype=np.float32)
            avg = float(doc_len.mean()) or 1.0
            df = np.bincount(row_arr, minlength=len(term_ids)).astype(np.float32)
            idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
            norm = tf_arr * (_K1 + 1) / (tf_arr + _K1 * (1 - _B + _B * doc_len[doc_arr] / avg))
            weights = (idf[row_arr] * norm).astype(np.float32)
            offsets = np.concatenate(([0], np.cumsum(df.astype(np.int64))))
            self._csr[lang] = (list(term_ids), doc_arr, weights, offsets, idf)
            self._idf[lang] = {}
            self._postings[lang] = {}
            for term, term_id in term_ids.items():
                lo, hi = int(offsets[term_id]), int(offsets[term_id + 1])
                self._idf[lang][term] = float(idf[term_id])
                self._postings[lang][term] = (doc_arr[lo:hi], weights[lo:hi])

    def _index_path(self, cache_dir: Path) -> Path:
        digest = hashlib.sha256(f"{_INDEX_FORMAT}:{self.kb.version}".encode())
        for topic in self._topics:
            digest.update(topic.id.encode())
        return cache_dir / f"index-{digest.hexdigest()[:20]}"

    def _save_index(self, cache_dir: Path) -> None:
        """Keep the lexical index for this knowledge-base version (a restart loads it)."""
        base = self._index_path(cache_dir)
        arrays: dict[str, np.ndarray] = {}
        terms: dict[str, list[str]] = {}
        for lang, (names, docs, weights, offsets, idf) in self._csr.items():
            terms[lang] = names
            arrays.update(
                {
                    f"docs_{lang}": docs,
                    f"weights_{lang}": weights,
                    f"offsets_{lang}": offsets,
                    f"idf_{lang}": idf,
                }
            )
        meta = {
            "n": self._n,
            "max_idf": self._max_idf,
            "terms": terms,
            "vocab": sorted(self._vocab),
            "fuzzy": self._fuzzy_strings,
            "full": self._full_questions,
        }
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npz.tmp")
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, base.with_suffix(".npz"))
            fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".json.tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as text:
                json.dump(meta, text, ensure_ascii=False)
            os.replace(tmp, base.with_suffix(".json"))
        except OSError:
            pass  # a read-only cache folder only costs start-up time

    def _load_index(self, cache_dir: Path) -> bool:
        """Load a saved index for this exact knowledge-base version; False if there is none."""
        base = self._index_path(cache_dir)
        try:
            meta = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
            arrays = np.load(base.with_suffix(".npz"), allow_pickle=False)
            if meta["n"] != len(self._topics):
                return False
            self._n = int(meta["n"])
            self._max_idf = float(meta["max_idf"])
            self._idf = {}
            self._postings = {}
            for lang in LANGS:
                names = meta["terms"][lang]
                docs, weights = arrays[f"docs_{lang}"], arrays[f"weights_{lang}"]
                offsets, idf = arrays[f"offsets_{lang}"], arrays[f"idf_{lang}"]
                self._csr[lang] = (names, docs, weights, offsets, idf)
                bounds = offsets.tolist()
                idf_values = idf.tolist()
                self._idf[lang] = dict(zip(names, idf_values, strict=True))
                self._postings[lang] = {
                    name: (docs[bounds[i] : bounds[i + 1]], weights[bounds[i] : bounds[i + 1]])
                    for i, name in enumerate(names)
                }
            self._set_vocabulary(frozenset(meta["vocab"]))
            self._fuzzy_strings = meta["fuzzy"]
            self._full_questions = meta["full"]
        except (OSError, ValueError, KeyError):
            return False
        return True

    def _build_fuzzy(self) -> None:
        self._fuzzy_strings = []
        self._full_questions = []
        for topic in self._topics:
            strings = [squash(topic.title[lang]) for lang in LANGS]
            full: list[str] = []
            for lang in LANGS:
                for question in topic.questions.get(lang, ()):
                    tokens = words_of(question)  # tokenised once for both forms
                    full.append(" ".join(tokens))
                    strings.append(
                        " ".join(
                            t for t in tokens if t not in STOPWORDS and (len(t) > 1 or t.isdigit())
                        )
                    )
            self._fuzzy_strings.append([s for s in strings if s])
            self._full_questions.append(full)

    def passage_texts(self) -> tuple[list[str], list[int]]:
        """Texts embedded for the semantic layer and the topic index of each."""
        texts: list[str] = []
        owners: list[int] = []
        for index, topic in enumerate(self._topics):
            for lang in LANGS:
                # The first paragraph of the core answer and of the details (since the answer
                # became a short core, the details carry much of what the topic is about).
                firsts = [
                    t.split("\n\n")[0] for t in (topic.answer[lang], topic.details.get(lang)) if t
                ]
                items = [
                    f"{topic.title[lang]}. {fill_office(first, DEFAULT_OFFICE_NAMES[lang])}"
                    for first in firsts
                ]
                items.extend(topic.questions.get(lang, ()))
                texts.extend(items)
                owners.extend([index] * len(items))
        return texts, owners

    def _build_semantic(self, embedder: Embedder, cache_dir: Path | None) -> None:
        # The embedder computes with its own OpenMP threads. OpenBLAS's threads, if left on,
        # keep spinning after each similarity product and starve the next embedding: on two
        # cores that tripled the slowest searches. The product is small; one thread suffices.
        threadpool_limits(limits=1, user_api="blas")
        texts, owners = self.passage_texts()
        self._passages = cached_passages(embedder, texts, cache_dir)
        examples = [(rule.id, e) for rule in self.kb.scope_rules for e in rule.examples]
        self._scope_ids = [rule_id for rule_id, _ in examples]
        self._scope_vectors = cached_passages(
            embedder, [e for _, e in examples], cache_dir, as_queries=True
        )
        # The in-or-out classifier compares the knowledge base's passages with the out-of-scope
        # examples embedded the same way; at query time its logit shifts by a constant, which
        # the calibrated gate absorbs.
        outside = cached_passages(embedder, [e for _, e in examples], cache_dir)
        if outside.shape[0]:
            self._domain = fit_domain(self._passages.astype(np.float64), outside.astype(np.float64))
        self._passage_topic = np.asarray(owners, dtype=np.int32)
        starts = np.flatnonzero(np.diff(self._passage_topic, prepend=-1))
        self._passage_starts = starts
        self._passage_owner_ids = self._passage_topic[starts]

    # ------------------------------------------------------------------ query
    def _bm25(self, query: dict[Lang, dict[str, float]]) -> FloatArray:
        """BM25F score of every topic: the better of its German and English document."""
        best = np.zeros(self._n, dtype=np.float32)
        for lang in LANGS:
            scores = np.zeros(self._n, dtype=np.float32)
            for term, qweight in query[lang].items():
                posting = self._postings[lang].get(term)
                if posting is not None:
                    scores[posting[0]] += min(qweight, 1.0) * posting[1]
            np.maximum(best, scores, out=best)
        return best

    def _coverage(self, weighted: Sequence[tuple[str, float]]) -> FloatArray:
        """For every topic, the IDF-weighted share of the question's words its text contains.

        A word counts when the topic has it, its typo correction, a compound part or a synonym.
        Words the knowledge base has never seen weigh as much as the rarest word: a question
        about the weather shares almost nothing with any topic, however long it is.
        """
        covered = np.zeros(self._n, dtype=np.float32)
        total = 0.0
        for word, word_weight in weighted:
            # The word weighs as its most specific known form: itself, else its typo
            # correction, else the rarest of its compound parts; unknown: the rarest weight.
            form_idf: dict[float, float] = {}
            hits = np.zeros(self._n, dtype=np.float32)
            for form, weight in self._expand_word(word):
                for lang in LANGS:
                    term = stem(form, lang)
                    idf = self._idf[lang].get(term)
                    if idf is not None:
                        form_idf[weight] = max(form_idf.get(weight, 0.0), idf)
                    related = [(term, weight)]
                    for phrase in self._synonyms[lang].get(term, ()):
                        related.extend((part, 0.8 * weight) for part in phrase.split())
                    for candidate, cand_weight in related:
                        posting = self._postings[lang].get(candidate)
                        if posting is not None:
                            docs = posting[0]
                            hits[docs] = np.maximum(hits[docs], min(cand_weight, 1.0))
            word_idf = (form_idf[max(form_idf)] if form_idf else self._max_idf) * word_weight
            total += word_idf
            covered += word_idf * hits
        return covered / total if total else covered

    def _semantic(self, text: str) -> _Semantic:
        """Best cosine similarity per topic (by topic index), the closest out-of-scope
        example, and the in-or-out classifier's logit."""
        if self._embedder is None or self._passages is None or self._passage_topic is None:
            return None, None, 0.0
        query = self._embedder.queries([text])[0]
        domain = 0.0
        if self._domain is not None:
            domain = float(query @ self._domain[0] + self._domain[1])
        scope = self._closest_scope_example(query)
        best = np.full(self._n, -1.0, dtype=np.float32)
        # Passages are stored topic by topic, so each topic's best is one reduceat segment.
        best[self._passage_owner_ids] = np.maximum.reduceat(
            self._passages @ query, self._passage_starts
        )
        return best, scope, min(max(domain, -30.0), 30.0)

    def _closest_scope_example(self, query: Vectors) -> tuple[str, float] | None:
        """The out-of-scope rule whose example question is most like this one, and how much."""
        if not self._scope_ids or self._scope_vectors is None:
            return None
        sims = self._scope_vectors @ query
        best = int(np.argmax(sims))
        return self._scope_ids[best], float(sims[best])

    def _speaks_for_organisation(self, question: str, candidates: Candidates) -> bool:
        """Whether the closest out-of-scope rule's `unless` wording is in the question.

        "Wie bekommt unsere neue Fachkraft ein Visum?" sounds like a personal visa case, but
        "unsere Fachkraft" speaks for an organisation: similarity to out-of-scope examples
        must not turn it away, so it gets the did-you-mean buttons at a lower confidence.
        """
        if candidates.scope is None:
            return False
        rule = next((r for r in self.kb.scope_rules if r.id == candidates.scope[0]), None)
        folded = " " + " ".join(fold(question).split()) + " "
        return rule is not None and any(u.search(folded) for u in rule.unless)

    def scope_rule(self, text: str) -> str | None:
        """The id of the scope rule whose patterns match the question, if any."""
        folded = _folded(text)
        for rule in self.kb.scope_rules:
            if rule.matches(folded):
                return rule.id
        return None

    def worded_like_scope(self, text: str) -> bool:
        """Whether the question is worded as a scope rule's questions are (a personal case:
        the first person, no organisation; another country named), though no pattern named
        its subject. Such a question is never answered by the lexical shortcut: only the check
        by meaning (the rules' examples) can tell "my diploma" from the organisation's topic
        of it."""
        folded = _folded(text)
        return any(rule.worded_like(folded) for rule in self.kb.scope_rules)

    def rank(self, text: str) -> list[Match]:
        """All candidate topics for a question, most probable first."""
        words = content_words(text)
        if not words:
            return self._rank_function_words(text[:300])
        candidates = self.candidates(text)
        return self._ranked(candidates) if candidates is not None else []

    def candidates(self, text: str) -> Candidates | None:
        """The candidate topics of a question with their signals and decision features.

        A long message is read whole: its asking sentences (see `knowledge.text.focus`) count
        fully, the surrounding context at a lower weight, so a story of 3,000 characters with
        the question at the end is found by its question.
        """
        reading = self._read(text)
        if reading is None:
            return None
        return self._candidates(reading, self._semantic(reading.embed))

    def _read(self, text: str) -> _Reading | None:
        """The lexical stage: the question's weighted words and their BM25F scores."""
        chosen = asking_sentences(text)  # once: the lexical and the semantic stage share it
        asking = None if chosen is None else join_asking(chosen)
        context = text if asking is None else text.replace(asking, " ")
        if asking is None:
            weighted = [(w, 1.0) for w in content_words(text[:_CONTEXT_CHARS])]
        else:
            weighted = [(w, 1.0) for w in content_words(asking)]
            weighted += [(w, _CONTEXT_WEIGHT) for w in content_words(context[:_CONTEXT_CHARS])]
        if not weighted:
            return None
        bm25 = self._bm25(self._analyse(weighted))
        short = asking or text[:_CONTEXT_CHARS]
        embed = short[:_EMBED_CHARS] if chosen is None else _window(text, chosen[-1])
        return _Reading(asking is not None, weighted, bm25, short, embed)

    def _candidates(self, reading: _Reading, semantic: _Semantic | None) -> Candidates | None:
        """The candidates of a read question, with the semantic layer's values if given."""
        weighted, bm25 = reading.weighted, reading.bm25
        similarity, scope, domain = semantic if semantic is not None else (None, None, 0.0)
        found = np.flatnonzero(bm25 > 0)
        if found.size == 0 and (similarity is None or not reading.asking):
            return None
        top = found[np.argsort(-bm25[found], kind="stable")[:_CANDIDATES]]
        indices = {int(i) for i in top}
        if similarity is not None:
            closest = np.argpartition(-similarity, min(5, self._n - 1))[:5]
            indices |= {int(i) for i in closest}
        order = sorted(indices)
        if reading.coverage is None:
            reading.coverage = self._coverage(weighted)
        coverage_all = reading.coverage
        focus_words = [w for w, weight in weighted if weight == 1.0]
        squashed = " ".join(focus_words)
        folded = " ".join(words_of(reading.short[:300]))
        fuzzy = reading.fuzzy
        fuzzy.update(self._fuzzy([i for i in order if i not in fuzzy], squashed, folded))
        fuzzy_values = [fuzzy[index] for index in order]
        half = self.weights.bm25_half
        lexical = [float(bm25[i]) / (float(bm25[i]) + half) for i in order]
        sem_values = [float(similarity[i]) for i in order] if similarity is not None else None
        coverage = [float(coverage_all[i]) for i in order]
        features = candidate_features(
            lexical=lexical,
            fuzzy=fuzzy_values,
            semantic=sem_values,
            coverage=coverage,
            bm25=[float(bm25[i]) for i in order],
            keyword=self._keyword_shares(order, focus_words),
            scope_similarity=scope[1] if scope is not None else None,
            content_words=len(focus_words),
        )
        matches = [
            Match(
                topic_id=self._topics[index].id,
                score=0.0,
                bm25=round(float(bm25[index]), 3),
                fuzzy=round(fuzzy_values[k], 3),
                semantic=round(sem_values[k], 4) if sem_values is not None else 0.0,
                coverage=round(coverage[k], 3),
            )
            for k, index in enumerate(order)
        ]
        unknown = sum(weight for word, weight in weighted if not self._known(word)) / sum(
            weight for _, weight in weighted
        )
        return Candidates(
            matches=matches,
            features=features,
            scope=scope,
            unknown=unknown,
            words=len(focus_words),
            domain=domain,
        )

    def _keyword_shares(self, indices: Sequence[int], words: Sequence[str]) -> list[float]:
        """Per topic, the share of the words that are one of its title or keyword words
        (stemmed in either language)."""
        if not words:
            return [0.0] * len(indices)
        named: Counter[int] = Counter()
        for word in words:
            named.update(
                frozenset().union(*(self._named_by.get(stem(word, lang), ()) for lang in LANGS))
            )
        return [named[index] / len(words) for index in indices]

    def _known(self, word: str) -> bool:
        """Whether the knowledge base knows the word, a typo correction of it or its parts."""
        return len(self._expand_word(word)) > 1 or any(
            stem(word, lang) in self._vocab_stems[lang] for lang in LANGS
        )

    def _fuzzy(self, indices: Sequence[int], squashed: str, folded: str) -> dict[int, float]:
        """How close the wording is to each topic's title and alternate questions (0..1).

        Per topic: the mean of the best token-set and token-sort ratio of the squashed content
        words, or the best ratio of the whole wording (function words included) to a curated
        question, whichever is higher. All topics' strings are scored in one `cdist` call per
        scorer (rapidfuzz's C loop; one `extractOne` per topic and scorer cost about a sixth
        of a search's CPU) and each topic takes the best of its own segment.
        """
        if not indices:
            return {}
        # Without content words, or for a topic without strings, the value is 0 (whole too).
        sets = [self._fuzzy_strings[i] if squashed else [] for i in indices]
        wholes = [
            self._full_questions[i] if group else [] for i, group in zip(indices, sets, strict=True)
        ]
        best_set = _segment_max(sets, squashed, fuzz.token_set_ratio)
        best_sort = _segment_max(sets, squashed, fuzz.token_sort_ratio)
        best_whole = _segment_max(wholes, folded, fuzz.ratio)
        return {
            index: float(max((best_set[k] + best_sort[k]) / 200, best_whole[k] / 100))
            for k, index in enumerate(indices)
        }

    def _curated(self, question: str, match: Match) -> bool:
        """Whether the question is worded (function words included) as one of the topic's own
        alternate questions: then it gets that topic's answer, however unsure the model is."""
        folded = " ".join(words_of(question[:300]))
        strings = self._full_questions[self._index_of[match.topic_id]]
        hit = process.extractOne(folded, strings, scorer=fuzz.ratio, score_cutoff=_CURATED_RATIO)
        return hit is not None

    def _ranked(self, candidates: Candidates, model: Model | None = None) -> list[Match]:
        probabilities = (model or self.model).probabilities(candidates.features)
        matches = [
            Match(m.topic_id, round(float(p), 4), m.bm25, m.fuzzy, m.semantic, m.coverage)
            for m, p in zip(candidates.matches, probabilities, strict=True)
        ]
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches

    def _rank_function_words(self, text: str) -> list[Match]:
        """Questions without content words can only match an alternate question almost exactly."""
        folded = " ".join(words_of(text))
        if not folded:
            return []
        matches = []
        for index, topic in enumerate(self._topics):
            strings = self._full_questions[index]
            best = process.extractOne(folded, strings, scorer=fuzz.ratio)
            ratio = (best[1] if best else 0.0) / 100
            if ratio >= self.thresholds.function_word_fuzzy:
                matches.append(
                    Match(topic.id, round(ratio, 4), 0.0, round(ratio, 3), 0.0, coverage=1.0)
                )
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches

    @property
    def has_semantic(self) -> bool:
        """Whether the semantic layer (embeddings) is on."""
        return self._embedder is not None

    def learn(self, question: str, topic_id: str | None) -> None:
        """Attach a question to a topic (None: out of scope), effective for the next search.

        The same question, or one worded almost the same, then gets that topic (or the scope
        message); the question also joins the topic's alternate questions for the fuzzy
        signal, so similar wordings rank the topic higher.
        """
        folded = " ".join(words_of(question))
        if not folded or (topic_id is not None and topic_id not in self._index_of):
            return
        self._learned[folded] = topic_id
        self.generation += 1
        if topic_id is not None:
            index = self._index_of[topic_id]
            # New lists (not appends): a search running in another thread keeps its snapshot.
            self._full_questions[index] = [*self._full_questions[index], folded]
            self._fuzzy_strings[index] = [*self._fuzzy_strings[index], squash(question)]

    def _learned_topic(self, question: str) -> tuple[bool, str | None]:
        """(found, topic id or None for out of scope) for a question coordinators taught."""
        if not self._learned:
            return False, None
        folded = " ".join(words_of(question))
        hit = process.extractOne(
            folded, list(self._learned), scorer=fuzz.ratio, score_cutoff=_LEARNED_RATIO
        )
        if hit is None:
            return False, None
        return True, self._learned[hit[0]]

    def search(self, text: str, lang: Lang | None = None) -> SearchResult:
        """Decide how to answer `text`: one topic, up to three suggestions, or honestly not.

        Scope rules come first. Then the model's probability that the best candidate is right
        decides: high enough, it is the answer; otherwise, when the best three together are
        likely enough to hold the right one, they are offered as buttons; otherwise the bot
        says it does not know (out of scope when an out-of-scope example is the closest
        meaning). `lang` (else the question's own language) only labels the result with the
        language to answer in: the decision does not depend on it, so the bot can search a
        message before it has read the chat's language.
        """
        lang = lang or guess_language(text)
        question = text.strip()
        taught, topic_id = self._learned_topic(question)
        if taught and topic_id is None:
            return SearchResult(
                question, lang, Outcome.OUT_OF_SCOPE, None, 1.0, scope_rule="taught"
            )
        if taught and topic_id is not None:
            return SearchResult(question, lang, Outcome.ANSWER, self.kb.by_id[topic_id], 1.0)
        rule = self.scope_rule(question)
        if rule is not None:
            return SearchResult(question, lang, Outcome.OUT_OF_SCOPE, None, 0.0, scope_rule=rule)
        if not content_words(question):
            ranked = self._rank_function_words(question[:300])
            if ranked:
                best = self.kb.by_id[ranked[0].topic_id]
                return SearchResult(
                    question, lang, Outcome.ANSWER, best, ranked[0].score, ranked=tuple(ranked)
                )
            return SearchResult(question, lang, Outcome.UNKNOWN, None, 0.0)
        reading = self._read(question)
        if reading is None:
            return SearchResult(question, lang, Outcome.UNKNOWN, None, 0.0)
        shortcut = self._shortcut(question, lang, reading)
        if shortcut is not None:
            return shortcut
        candidates = self._candidates(reading, self._semantic(reading.embed))
        if candidates is None:
            return SearchResult(question, lang, Outcome.UNKNOWN, None, 0.0)
        ranked = self._ranked(candidates)
        top = ranked[0]
        by_id = self.kb.by_id
        model = self.model
        gate = model.gate(candidates.gate_features(np.asarray([m.score for m in ranked])))
        if (top.score >= model.answer or self._curated(question, top)) and gate >= model.suggest:
            return SearchResult(
                question, lang, Outcome.ANSWER, by_id[top.topic_id], top.score, ranked=tuple(ranked)
            )
        scope = candidates.scope
        closer_outside = candidates.closer_outside(top)
        if (
            gate >= model.suggest
            or (gate >= model.floor and not closer_outside)
            or (gate >= model.suggest / 2 and self._speaks_for_organisation(question, candidates))
        ):
            return SearchResult(
                question,
                lang,
                Outcome.SUGGEST,
                None,
                top.score,
                suggestions=tuple(by_id[m.topic_id] for m in ranked[:3]),
                ranked=tuple(ranked),
            )
        if scope is not None and scope[1] > top.semantic:
            return SearchResult(
                question,
                lang,
                Outcome.OUT_OF_SCOPE,
                None,
                top.score,
                scope_rule=scope[0],
                ranked=tuple(ranked),
                scope_by_meaning=True,
            )
        return SearchResult(question, lang, Outcome.UNKNOWN, None, top.score, ranked=tuple(ranked))

    def _shortcut(self, question: str, lang: Lang, reading: _Reading) -> SearchResult | None:
        """The lexical model's answer, when it is sure enough to go without the embedding.

        Calibration picks the probability from cross-validated lexical results on the training
        questions and the scope rules' examples: the lowest at which these answers are as
        rarely wrong as `benchmarks.calibrate.MAX_SHORTCUT_WRONG` and no out-of-scope question
        is answered. A question worded like a scope rule's always takes the full search.
        """
        lexical, threshold = self._lexical, self.model.shortcut
        if lexical is None or threshold is None or self.worded_like_scope(question):
            return None
        candidates = self._candidates(reading, None)
        if candidates is None:
            return None
        ranked = self._ranked(candidates, lexical)
        top = ranked[0]
        if top.score < threshold:
            return None
        gate = lexical.gate(candidates.gate_features(np.asarray([m.score for m in ranked])))
        if gate < lexical.suggest:
            return None
        topic = self.kb.by_id[top.topic_id]
        return SearchResult(question, lang, Outcome.ANSWER, topic, top.score, ranked=tuple(ranked))

    def search_many(self, texts: Iterable[str], lang: Lang | None = None) -> list[SearchResult]:
        """`search` for each text, in order."""
        return [self.search(text, lang) for text in texts]


def _segment_max(
    groups: Sequence[Sequence[str]], query: str, scorer: Callable[..., float]
) -> npt.NDArray[np.float64]:
    """The best score of `query` against each group of strings (0 for an empty group)."""
    flat = [text for group in groups for text in group]
    best = np.zeros(len(groups), dtype=np.float64)
    if not flat:
        return best
    scores = process.cdist([query], flat, scorer=scorer, dtype=np.float64)[0]
    sizes = np.fromiter((len(group) for group in groups), dtype=np.int64, count=len(groups))
    filled = sizes > 0
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))[filled]
    best[filled] = np.maximum.reduceat(scores, starts)
    return best
