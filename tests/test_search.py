"""Search as people use it: misspelt, in English, off topic; plus a floor on retrieval quality."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from knowledge import Outcome, SearchEngine, SearchResult
from knowledge.evaluation import Quality, evaluate, load_questions, shown_ids
from knowledge.semantic import Vectors
from tests.conftest import CACHE_DIR

DEV_QUESTIONS = Path(__file__).resolve().parent / "data" / "questions_dev.yaml"


@pytest.fixture(params=["search_engine", "lexical_engine"])
def engine(request: pytest.FixtureRequest) -> SearchEngine:
    """Each test runs with the semantic layer and with the lexical layers only."""
    result: SearchEngine = request.getfixturevalue(request.param)
    return result


def top(engine: SearchEngine, question: str) -> str | None:
    ranked = engine.rank(question)
    return ranked[0].topic_id if ranked else None


def answered(result: SearchResult) -> str | None:
    """The topic the bot answers with at once (None: no answer, only suggestions or a note)."""
    return result.topic.id if result.outcome is Outcome.ANSWER and result.topic else None


@pytest.mark.parametrize(
    "spelling", ["Tätigkeitsbericht", "Taetigkeitsbericht", "Tatigkeitsbericht"]
)
def test_umlaut_spellings_find_activity_report(engine: SearchEngine, spelling: str) -> None:
    assert answered(engine.search(spelling)) == "activity_report"


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Dolmetscherpol einrichten", "interpreter_pool"),
        ("anonymisierte Bewerbngen", "anonymised_applications"),
        ("wie schreiben wir stellenanzeigne fuer alle bewerber", "job_ads"),
    ],
)
def test_typos_still_find_the_topic(engine: SearchEngine, question: str, topic: str) -> None:
    result = engine.search(question)
    assert top(engine, question) == topic
    if engine.has_semantic:
        # Lexical-only mode ranks it first too but is more cautious about showing it.
        assert topic in shown_ids(result)


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("How do we join the network?", "join_process"),
        ("What is an interpreter pool?", "interpreter_pool"),
        ("What is the Diversity Charter?", "charta_der_vielfalt"),
    ],
)
def test_english_questions(engine: SearchEngine, question: str, topic: str) -> None:
    result = engine.search(question)
    assert result.lang == "en"
    assert answered(result) == topic


@pytest.mark.parametrize(
    "one",
    ["Dolmetscherpool einrichten", "anonymisierte Bewerbungen", "Tätigkeitsbericht fällig wann"],
)
def test_word_order_does_not_matter(engine: SearchEngine, one: str) -> None:
    other = " ".join(reversed(one.split()))  # "wann fällig Tätigkeitsbericht"
    first, second = engine.search(one), engine.search(other)
    assert top(engine, one) == top(engine, other)
    assert first.outcome is second.outcome
    assert first.topic == second.topic


@pytest.mark.parametrize(
    ("question", "rule"),
    [
        ("Wie verlängere ich mein Visum?", "personal_case"),
        ("I need a work permit for my husband", "personal_case"),
        ("Wie wird das Wetter morgen in Köln?", "weather_sports_trivia"),
        ("Wie viele Einwohner hat Wuppertal?", "weather_sports_trivia"),
        ("einwohnerzahl köln", "weather_sports_trivia"),
        ("Hallo!", "greeting"),
        ("danke dir!", "thanks"),
        ("Wie geht es dir?", "small_talk"),
        ("Kannst du meinen Brief vom Jobcenter übersetzen?", "translation"),
        ("Please translate this letter into Arabic", "translation"),
    ],
)
def test_out_of_scope_questions(engine: SearchEngine, question: str, rule: str) -> None:
    result = engine.search(question)
    assert result.outcome is Outcome.OUT_OF_SCOPE
    assert result.scope_rule == rule
    assert result.topic is None
    assert result.suggestions == ()


# Reported by people trying the bot (issue 10): each must reach the right topic, as the answer
# or among the did-you-mean buttons.
@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Ich will Partner werden. Was muss ich tun?", "join_process"),
        ("Wie werden wir Mitglied im Netzwerk?", "join_process"),
        ("hilfe", "bot_about"),
        (
            "Wir sind ein Hotel mit 40 Beschäftigten und wollen Geflüchtete ausbilden",
            "apprenticeships_kausa",
        ),
        ("Chef sagt wir sollen Stellenanzeigen ändern, aber wie genau?", "job_ads"),
        (
            "Wir sind 'n kleiner Pflegedienst und haben null Ahnung von dem Thema – "
            "wo fangen wir an?",
            "first_steps",
        ),
    ],
)
def test_reported_questions_reach_their_topic(
    search_engine: SearchEngine, question: str, topic: str
) -> None:
    result = search_engine.search(question)
    assert topic in shown_ids(result), (result.outcome, [m.topic_id for m in result.ranked[:3]])


# Scope patterns fire on whole words only, and organisational wording is never a personal case.
@pytest.mark.parametrize(
    "question",
    [
        "Wie werden wir Mitglied im Netzwerk?",  # "lied" inside "Mitglied"
        "Gibt es Train-the-Trainer-Angebote für interkulturelle Kompetenz?",  # "rain"
        "Wir haben schon drei Fachkräfte aus Tunesien gewonnen – wie binden wir sie?",
        "Unsere Stadt hat 60.000 Einwohner, ein Drittel mit Einwanderungsgeschichte. Wo anfangen?",
        "Sollen wir unsere Öffnungszeiten für berufstätige Kundinnen anpassen?",
        "Wie erklären wir Bürgergeld-Kundinnen unsere Bescheide in einfacher Sprache?",
        "Unsere Rezeption braucht Leute, die Arabisch sprechen – wie finden wir sie?",
        "Sollen wir unsere Formulare übersetzen lassen?",
        "Dürfen wir in der Stellenanzeige nach der Staatsangehörigkeit fragen?",
        "Wie gewinnen wir eine Fachkraft aus dem Ausland?",
        "Wir sind ein Hotel und wollen Geflüchtete ausbilden",
        "Wie gehe ich im Team mit rassistischen Witzen um?",
        "Wie werden Einwohner mit Einwanderungsgeschichte im Integrationsrat vertreten?",
    ],
)
def test_scope_patterns_leave_organisations_questions_alone(
    search_engine: SearchEngine, question: str
) -> None:
    assert search_engine.scope_rule(question) is None


def test_question_at_the_end_of_a_long_story_is_found(search_engine: SearchEngine) -> None:
    story = (
        "Wir sind ein Familienunternehmen im Sauerland und stellen Maschinenteile her. "
        "Seit Jahren wächst die Firma, und die Stimmung im Team ist gut. "
    ) * 25
    question = (
        story + "Wie schreiben wir unsere Stellenanzeigen so, dass sich alle angesprochen fühlen?"
    )
    assert len(question) > 3000
    result = search_engine.search(question)
    assert "job_ads" in shown_ids(result)


def test_question_in_the_middle_of_a_long_story_is_found(search_engine: SearchEngine) -> None:
    """The question stands on its own line between two long parts of the story."""
    before = (
        "Wir sind ein Familienunternehmen im Sauerland und stellen Maschinenteile her. "
        "Seit Jahren wächst die Firma, und die Stimmung im Team ist gut.\n"
    ) * 12
    after = (
        "\nUnsere Kantine ist neu, der Parkplatz wurde erweitert, die Ausbildungswerkstatt hat "
        "neue Maschinen, und im Sommer feiern wir wie jedes Jahr ein Betriebsfest. "
    ) * 10
    message = (
        before
        + "Wie schreiben wir unsere Stellenanzeigen so, dass sich alle angesprochen fühlen?"
        + after
    )
    assert len(message) > 2500
    assert "job_ads" in shown_ids(search_engine.search(message))


def test_what_the_embedding_reads_of_a_long_message_ends_with_its_question() -> None:
    """The embedding model reads 200 characters of a long message: those that lead up to
    its last question, however the message breaks its lines and whatever follows."""
    from knowledge.search import _EMBED_CHARS, _window
    from knowledge.text import asking_sentences

    def window_of(message: str) -> str:
        chosen = asking_sentences(message)
        assert chosen is not None, "a long message"
        return _window(message, chosen[-1])

    story = "Wir sind eine Stadtverwaltung mit vielen Ämtern und Bürgerbüros. " * 15
    rest = "Im Sommer feiern wir jedes Jahr ein großes Fest mit allen Beschäftigten. " * 15
    for between in ("\n", "\n\n", "  "):
        message = story + between + "Wie geht das?" + between + rest
        window = window_of(message)
        assert window.endswith("Wie geht das?") and len(window) == _EMBED_CHARS, repr(between)
    # Two questions apart, the second short: the window still ends with the second.
    message = (
        story
        + "Wie finden wir Fachkräfte aus dem Ausland für die Pflege? "
        + "Das Thema beschäftigt uns schon lange. "
        + "Welche Landesprogramme fördern das? "
        + rest
    )
    assert window_of(message).endswith(
        "Das Thema beschäftigt uns schon lange. Welche Landesprogramme fördern das?"
    )


def test_a_taught_question_is_answered_at_once(lexical_engine: SearchEngine) -> None:
    engine = SearchEngine(lexical_engine.kb)
    question = "Was mache ich mit dem Kram vom Ministerium jedes Frühjahr?"
    before = engine.search(question).topic
    assert before is None or before.id != "activity_report"
    engine.learn(question, "activity_report")
    result = engine.search(question)
    assert result.outcome is Outcome.ANSWER
    assert result.topic is not None and result.topic.id == "activity_report"
    assert engine.search(question.lower().rstrip("?")).topic == result.topic  # nearly the same
    engine.learn("Wo kaufe ich günstig Kaffee für das Büro?", None)
    assert engine.search("Wo kaufe ich günstig Kaffee fürs Büro?").outcome is (Outcome.OUT_OF_SCOPE)


def test_organisation_asking_about_visas_is_in_scope(engine: SearchEngine) -> None:
    # "wir"/"unsere Fachkraft": the organisation asks, not a person about their own case.
    result = engine.search("Wie bekommt unsere neue Fachkraft aus Indien ein Visum?")
    assert result.outcome is not Outcome.OUT_OF_SCOPE


@pytest.mark.parametrize("question", ["Wie backe ich ein Brot?", "Welche Farbe hat der Mond?"])
def test_off_topic_question_gets_no_answer(engine: SearchEngine, question: str) -> None:
    result = engine.search(question)
    assert result.outcome is not Outcome.ANSWER
    assert result.topic is None


@pytest.mark.parametrize("question", ["", "   ", "?!?...", "§§§ ---", "\n\t"])
def test_empty_or_punctuation_only_is_unknown(engine: SearchEngine, question: str) -> None:
    result = engine.search(question)
    assert result.outcome is Outcome.UNKNOWN
    assert result.topic is None


@pytest.mark.parametrize(
    "question",
    ["x" * 5000, ("Wie schreiben wir den Tätigkeitsbericht? " * 150)[:5000], "ä" * 5000],
)
def test_very_long_input_does_not_crash(engine: SearchEngine, question: str) -> None:
    assert len(question) == 5000
    result = engine.search(question)
    assert result.outcome in set(Outcome)
    assert result.question == question.strip()


def test_suggestions_at_most_three_without_duplicates(engine: SearchEngine) -> None:
    questions = [q.text for q in load_questions(DEV_QUESTIONS)]
    questions += ["Bericht Partner Treffen", "Netzwerk", "Vielfalt", "Ausbildung"]
    suggested = 0
    for result in engine.search_many(questions):
        ids = [t.id for t in result.suggestions]
        assert len(ids) <= 3, result.question
        assert len(set(ids)) == len(ids), result.question
        if result.outcome is Outcome.SUGGEST:
            suggested += 1
            assert ids, result.question
        else:
            assert ids == [], result.question
    assert suggested >= 5, "the question set must exercise suggestions"


def test_ranking_is_deterministic(engine: SearchEngine) -> None:
    questions = ["Bericht Partner Treffen", "Wie finden wir Dolmetscher?", "funding for training"]
    for question in questions:
        first = engine.rank(question)
        assert engine.rank(question) == first
        assert engine.search(question) == engine.search(question)


def test_the_language_asked_in_only_labels_the_result(engine: SearchEngine) -> None:
    """The bot starts searching a message before it has read the chat's language
    (`QuestionService.prefetch`) and puts that language on the result afterwards: the decision
    must not depend on it."""
    from dataclasses import replace

    for question in load_questions(DEV_QUESTIONS)[::3]:
        german = engine.search(question.text, "de")
        assert german.lang == "de"
        assert engine.search(question.text, "en") == replace(german, lang="en"), question.text


def test_ranking_is_the_same_in_a_fresh_index(lexical_engine: SearchEngine) -> None:
    fresh = SearchEngine(lexical_engine.kb)
    for question in ["Bericht Partner Treffen", "Vielfalt im Betrieb", "Mentoring"]:
        assert fresh.rank(question) == lexical_engine.rank(question)


# ------------------------------------------------------------------ quality floor
def _quality(engine: SearchEngine, name: str) -> Quality:
    quality = evaluate(engine, load_questions(DEV_QUESTIONS))
    print(f"\n{name}\n" + "\n".join(quality.lines()))
    assert quality.in_scope == 100
    assert quality.out_of_scope == 25
    return quality


def test_quality_floor_semantic(search_engine: SearchEngine) -> None:
    # Measured at 76a6b3e: top1 0.90, top3 0.99, oos_rejected 1.00, confident_wrong 0.02.
    quality = _quality(search_engine, "semantic")
    assert quality.top1 >= 0.86
    assert quality.top3 >= 0.95
    assert quality.oos_rejected >= 0.92
    assert quality.confident_wrong <= 0.04


def test_quality_floor_lexical(lexical_engine: SearchEngine) -> None:
    # Measured at 76a6b3e: top1 0.86, top3 0.99, oos_rejected 1.00, confident_wrong 0.04.
    quality = _quality(lexical_engine, "lexical")
    assert quality.top1 >= 0.80
    assert quality.top3 >= 0.95
    assert quality.confident_wrong <= 0.05


def test_quality_floor_on_independently_worded_questions(search_engine: SearchEngine) -> None:
    """200 questions written without seeing the dev set or the topics' alternate questions."""
    # Measured: top1 0.893, top3 0.967, confident wrong 0.02, out of scope rejected 0.94.
    quality = evaluate(
        search_engine, load_questions(DEV_QUESTIONS.parent / "questions_holdout.yaml")
    )
    assert quality.top1 >= 0.86
    assert quality.top3 >= 0.94
    assert quality.confident_wrong <= 0.04
    assert quality.oos_rejected >= 0.90
    assert quality.oos_no_answer >= 0.95


def test_an_index_loaded_from_the_cache_ranks_exactly_like_a_fresh_one(tmp_path: Path) -> None:
    from knowledge import load_knowledge

    kb = load_knowledge()
    fresh = SearchEngine(kb)
    first = SearchEngine(kb, cache_dir=tmp_path)  # builds and saves
    assert list(tmp_path.glob("index-*.npz")), "the index was saved"
    cached = SearchEngine(kb, cache_dir=tmp_path)  # loads
    for question in (
        "Was ist KAUSA?",
        "Tatigkeitsbericht Frist",
        "How do we write job ads?",
        "Dolmetscherpol",
    ):
        assert cached.rank(question) == fresh.rank(question) == first.rank(question)


def test_quality_floor_on_the_fresh_evaluation_set(search_engine: SearchEngine) -> None:
    """360 questions by a writer who saw only topic titles and one line each (session 4);
    never used for tuning: the decision is fitted on the other sets."""
    # Measured at the calibration of this commit (the choice model, the alternate questions
    # written the way people ask; wrong answers <= 0.03 of the tuning questions and <= 0.02 of
    # all training questions; the lexical shortcut at 0.975): top1 0.927, top3 0.990, answered
    # right 0.817, shown 0.960, confident wrong 0.013, out of scope rejected 0.983; shown per
    # style: long 0.983, colloquial 0.883, keywords 0.984, plain 0.983, english 0.967.
    quality = evaluate(search_engine, load_questions(DEV_QUESTIONS.parent / "questions_fresh.yaml"))
    assert quality.in_scope == 300
    assert quality.out_of_scope == 60
    assert quality.top1 >= 0.91
    assert quality.top3 >= 0.97
    assert quality.answered_right >= 0.79
    assert quality.shown_right >= 0.945
    assert quality.confident_wrong <= 0.03
    assert quality.oos_rejected >= 0.95
    for style in ("long", "colloquial", "keywords", "plain", "english"):
        _, _, shown = quality.by_style[style]
        assert shown >= 0.85, style


def test_a_close_but_unsure_question_gets_buttons_and_an_off_topic_one_does_not() -> None:
    """Below the answer and suggest thresholds, the floor still offers the best three topics,
    unless an out-of-scope example is closer in meaning than any topic."""
    from dataclasses import replace

    from knowledge import load_knowledge
    from knowledge.decision import load_models
    from knowledge.semantic import E5Embedder
    from tests.conftest import make_settings

    unsure = replace(load_models()["hybrid"], answer=1.01, suggest=1.01, floor=0.0)
    engine = SearchEngine(
        load_knowledge(),
        embedder=E5Embedder(),
        cache_dir=make_settings().embedding_cache_dir,
        model=unsure,
    )
    result = engine.search("Wie läuft die Aufnahme ins Netzwerk ab?")
    assert result.outcome is Outcome.SUGGEST
    assert "join_process" in shown_ids(result)
    assert len(result.suggestions) == 3
    for question in (
        "Welche Pizzeria in Köln liefert noch nach Mitternacht?",
        "Wann hat das Bürgerbüro in Bonn geöffnet?",
    ):
        result = engine.search(question)
        assert result.outcome is Outcome.OUT_OF_SCOPE, question
        assert result.suggestions == ()
    strict = SearchEngine(
        load_knowledge(),
        model=replace(load_models()["lexical"], answer=1.01, suggest=1.01, floor=1.01),
    )
    assert strict.search("Wie läuft die Aufnahme ins Netzwerk ab?").outcome is Outcome.UNKNOWN


def test_the_choice_model_shares_probability_between_close_rivals() -> None:
    """Fitted on questions whose right topic scores highest (or none is right when all score
    low), the model picks the clear winner with confidence, splits it between two equally good
    candidates, and gives "none of them" the most when every candidate scores low."""
    import numpy as np

    from knowledge.decision import choice_probabilities, fit_choice

    rng = np.random.default_rng(3)
    groups, right = [], []
    for i in range(300):
        signals = rng.uniform(0.0, 0.4, size=(6, 1))
        if i % 4:  # in scope: the right candidate stands out
            signals[i % 6, 0] = rng.uniform(0.6, 1.0)
        groups.append(signals)
        right.append(i % 6 if i % 4 else -1)
    weights, bias = fit_choice(groups, right, l2=0.1)

    clear = choice_probabilities(np.asarray([[0.9], [0.2], [0.1]]), weights, bias)
    tied = choice_probabilities(np.asarray([[0.9], [0.9], [0.1]]), weights, bias)
    low = choice_probabilities(np.asarray([[0.2], [0.2], [0.1]]), weights, bias)
    assert int(np.argmax(clear)) == 0 and clear[0] > 0.8
    assert tied[0] == pytest.approx(tied[1]) and tied[0] < 0.5
    assert 1.0 - low.sum() > 0.5
    for probabilities in (clear, tied, low):
        assert probabilities.sum() <= 1.0


class CountingEmbedder:
    """The real embedding model, counting the questions it is asked to embed."""

    def __init__(self) -> None:
        from knowledge.semantic import E5Embedder

        self.inner = E5Embedder()
        self.name = self.inner.name
        self.queried = 0

    def queries(self, texts: Sequence[str]) -> Vectors:
        self.queried += 1
        return self.inner.queries(texts)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self.inner.passages(texts)


def test_a_question_the_lexical_model_is_sure_of_goes_without_an_embedding() -> None:
    """The shortcut saves the embedding (most of a search's CPU) where the lexical model is
    sure; other questions are embedded, and the shortcut changes almost no answer."""
    from dataclasses import replace

    from knowledge import load_knowledge
    from knowledge.decision import load_models
    from tests.conftest import make_settings

    models = load_models()
    assert models["hybrid"].shortcut is not None and models["lexical"].shortcut is None
    counting = CountingEmbedder()
    cache = make_settings().embedding_cache_dir
    engine = SearchEngine(load_knowledge(), embedder=counting, cache_dir=cache)
    full = SearchEngine(
        load_knowledge(),
        embedder=counting,
        cache_dir=cache,
        model=replace(models["hybrid"], shortcut=None),
    )

    counting.queried = 0
    sure = engine.search("Bis wann müssen wir den Tätigkeitsbericht abgeben?")
    assert answered(sure) == "activity_report" and counting.queried == 0
    vague = engine.search("Wir sind eine kleine Behörde und wissen nicht, wo wir anfangen sollen.")
    assert counting.queried == 1 and vague.topic != sure.topic
    counting.queried = 0
    assert answered(full.search("Bis wann müssen wir den Tätigkeitsbericht abgeben?")) == (
        "activity_report"
    )
    assert counting.queried == 1  # without the shortcut every question is embedded

    questions = load_questions(DEV_QUESTIONS)
    counting.queried = 0
    fast = [engine.search(q.text) for q in questions]
    skipped = len(questions) - counting.queried
    assert skipped >= 0.3 * len(questions)
    changed = [
        q.text
        for q, result in zip(questions, fast, strict=True)
        if answered(result) != answered(full.search(q.text))
    ]
    assert len(changed) <= 0.02 * len(questions), changed


def test_the_shortcut_leaves_every_scope_example_to_the_check_by_meaning(
    search_engine: SearchEngine,
) -> None:
    """A personal case full of a topic's words ("my diploma", "a Blue Card for myself") or a
    question about another country is turned away as the full search turns it away: the
    shortcut never answers what only the meaning check can refuse."""
    from dataclasses import replace

    from knowledge.decision import load_models

    full = SearchEngine(
        search_engine.kb,
        embedder=search_engine._embedder,
        cache_dir=CACHE_DIR,
        model=replace(load_models()["hybrid"], shortcut=None),
    )
    for question in (
        "Ich bin Ärztin aus dem Iran. Wie lasse ich mein Diplom in Deutschland anerkennen?",
        "Wie viel kostet die Anerkennung meines Diploms für mich?",
        "How do I apply for an EU Blue Card for myself?",
        "Gibt es in den Niederlanden auch so etwas wie eine Charta für Vielfalt?",
    ):
        assert search_engine.worded_like_scope(question), question
        assert answered(search_engine.search(question)) is None, question
    examples = [text for rule in search_engine.kb.scope_rules for text in rule.examples]
    assert len(examples) > 200
    for text in examples:
        fast, slow = search_engine.search(text), full.search(text)
        assert (fast.outcome, fast.topic) == (slow.outcome, slow.topic), text


def test_the_shortcut_is_the_lowest_probability_within_its_error_budget() -> None:
    """Calibration: from the threshold on, at most 1 in 100 lexical answers is wrong and no
    out-of-scope question is answered (cross-validated results of the lexical model)."""
    from dataclasses import replace

    import numpy as np

    from benchmarks.calibrate import PLACEHOLDER, Scored, shortcut_threshold
    from knowledge.decision import GATE_FEATURES

    def scored(best: float, right: bool, in_scope: bool = True) -> Scored:
        return Scored(best, right, right, in_scope, np.zeros(len(GATE_FEATURES)), gate=1.0)

    lexical = replace(PLACEHOLDER, answer=0.6, suggest=0.5)
    sure = [scored(0.99, True) for _ in range(200)]
    assert shortcut_threshold(sure, lexical) == 0.6
    with_misses = [*sure, scored(0.9, False), scored(0.9, False), scored(0.97, False)]
    assert shortcut_threshold(with_misses, lexical) == 0.905
    outside = [*with_misses, scored(0.985, False, in_scope=False)]
    assert shortcut_threshold(outside, lexical) == 0.99
    assert shortcut_threshold([scored(0.99, False, in_scope=False)], lexical) is None
    # Below the gate's suggest threshold the lexical model does not answer: nothing taken.
    unsure = replace(scored(0.999, False, in_scope=False), gate=0.4)
    assert shortcut_threshold([*outside, unsure], lexical) == 0.99


def test_a_model_file_fitted_for_another_model_is_refused(tmp_path: Path) -> None:
    import json

    from knowledge.decision import MODEL_PATH, load_models

    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    del data["kind"]  # as the per-candidate regression of earlier versions wrote it
    stale = tmp_path / "decision.json"
    stale.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="another model"):
        load_models(stale)
    assert set(load_models()) == {"hybrid", "lexical"}


def test_no_alternate_question_is_taken_from_an_evaluation_set() -> None:
    """The evaluation sets measure questions the topics have never seen: no alternate question
    may repeat or closely paraphrase one of them (keyword queries collide by chance: "netzwerk
    willkommenskultur sachsen-anhalt" is what anyone types)."""
    from rapidfuzz import fuzz, process

    from knowledge import load_knowledge
    from knowledge.text import words

    evaluation = [
        " ".join(words(q.text))
        for name in ("questions_eval_tune.yaml", "questions_eval_test.yaml", "questions_fresh.yaml")
        for q in load_questions(DEV_QUESTIONS.parent / name)
        if q.style != "keywords"
    ]
    close = []
    for topic in load_knowledge().topics:
        for questions in topic.questions.values():
            for question in questions:
                folded = " ".join(words(question))
                if len(folded.split()) < 6:
                    continue
                hit = process.extractOne(folded, evaluation, scorer=fuzz.ratio, score_cutoff=88)
                if hit is not None:
                    close.append((topic.id, question, hit[0]))
    assert close == []


def test_a_question_worded_as_a_topics_own_question_gets_its_answer(
    search_engine: SearchEngine,
) -> None:
    """Someone who types one of a topic's listed questions gets that topic's answer."""
    from knowledge import load_knowledge

    missed = []
    for topic in load_knowledge().topics:
        for lang in ("de", "en"):
            question = topic.questions[lang][0]
            result = search_engine.search(question)
            if result.topic is None or result.topic.id != topic.id:
                missed.append((question, topic.id, result.outcome.value, result.scope_rule))
    # One known miss: "Einwohnern" still trips the citizen-services pattern (scope rules are
    # being made whole-word in issue 10, item 3).
    assert len(missed) <= 1, missed


def test_each_topic_scores_its_own_strings_and_one_without_strings_scores_zero() -> None:
    """The fuzzy signal scores all candidates' strings in one call and takes each topic's
    best from its own segment: an empty topic in between shifts nothing."""
    from rapidfuzz import fuzz

    from knowledge.search import _segment_max

    groups = [[], ["interkulturelle oeffnung"], [], ["partner werden", "wie werden wir partner"]]
    best = _segment_max(groups, "wie werden wir partner", fuzz.ratio)
    assert list(best) == [
        0.0,
        fuzz.ratio("wie werden wir partner", "interkulturelle oeffnung"),
        0.0,
        100.0,
    ]
    assert list(_segment_max([[], []], "x", fuzz.ratio)) == [0.0, 0.0]
