"""Text normalisation: how German spellings, compounds and languages are understood."""

from __future__ import annotations

import pytest

from knowledge.text import clear_language, focus, fold, guess_language, split_compound, words


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Tätigkeitsbericht", "taetigkeitsbericht"),
        ("ÖFFNUNG", "oeffnung"),
        ("Übersetzung", "uebersetzung"),
        ("Straße", "strasse"),
        ("GROẞE", "grosse"),
        ("KAUSA", "kausa"),
    ],
)
def test_fold_spells_umlauts_and_eszett_out(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_fold_makes_umlaut_and_ae_spelling_equal() -> None:
    assert fold("Fachkräfte") == fold("Fachkraefte") == fold("FACHKRÄFTE")


@pytest.mark.parametrize(
    ("raw", "folded"),
    [("Café", "cafe"), ("Señora", "senora"), ("Çağlar", "caglar"), ("İstanbul", "istanbul")],
)
def test_fold_removes_accents(raw: str, folded: str) -> None:
    assert fold(raw) == folded


@pytest.mark.parametrize("raw", ["مرحبا", "שלום", "Привет"])
def test_fold_keeps_letters_of_other_scripts(raw: str) -> None:
    assert fold(raw) == raw.casefold()
    assert words(raw) == [raw.casefold()]


def test_words_splits_on_spaces_and_punctuation() -> None:
    assert words("Was ist KAUSA? Ausbildung, bitte!") == [
        "was",
        "ist",
        "kausa",
        "ausbildung",
        "bitte",
    ]


def test_words_hyphenated_word_gives_joined_form_and_parts() -> None:
    assert words("Ausländer-Behörde") == ["auslaenderbehoerde", "auslaender", "behoerde"]


@pytest.mark.parametrize("raw", ["§ 81a AufenthG", "§81a AufenthG"])
def test_words_paragraph_sign_becomes_one_token(raw: str) -> None:
    assert words(raw) == ["paragraf81a", "aufenthg"]


def test_words_keeps_letters_with_digits_together() -> None:
    assert words("Deutsch B2 lernen") == ["deutsch", "b2", "lernen"]


def test_split_compound_finds_two_known_words() -> None:
    assert tuple(split_compound("dolmetscherpool", {"dolmetscher", "pool"})) == (
        "dolmetscher",
        "pool",
    )


def test_split_compound_allows_linking_s() -> None:
    assert tuple(split_compound("ausbildungsplatz", {"ausbildung", "platz"})) == (
        "ausbildung",
        "platz",
    )


def test_split_compound_prefers_longest_known_head() -> None:
    vocab = {"dolmetscher", "dolmetscherpool", "pool", "poolsitzung", "sitzung"}
    assert tuple(split_compound("dolmetscherpoolsitzung", vocab)) == ("dolmetscherpool", "sitzung")


def test_split_compound_needs_both_halves_known() -> None:
    assert tuple(split_compound("dolmetscherpool", {"dolmetscher"})) == ()
    assert tuple(split_compound("dolmetscherpool", {"pool"})) == ()


@pytest.mark.parametrize(
    ("word", "vocab"),
    [
        ("pool", {"po", "ol", "pool"}),
        ("hauspol", {"haus", "pol"}),  # shorter than eight letters
        ("tagplatz", {"tag", "platz"}),  # a three-letter head is too short to trust
        ("ausbildungab", {"ausbildung", "ab"}),  # a two-letter tail is too short to trust
    ],
)
def test_split_compound_leaves_short_words_and_parts_alone(word: str, vocab: set[str]) -> None:
    assert tuple(split_compound(word, vocab)) == ()


@pytest.mark.parametrize(
    "question",
    [
        "How can we join the network?",
        "What does the report have to contain?",
        "Is there funding for intercultural training?",
    ],
)
def test_guess_language_english(question: str) -> None:
    assert guess_language(question) == "en"


@pytest.mark.parametrize(
    "question",
    [
        "Wie koennen wir dem Netzwerk beitreten?",
        "Was ist das Partnernetzwerk und wer ist dabei?",
    ],
)
def test_guess_language_german(question: str) -> None:
    assert guess_language(question, default="en") == "de"


def test_guess_language_umlaut_means_german() -> None:
    # English function words would win the vote, but an umlaut is decisive.
    assert guess_language("the training for the staff and the Förderung", default="en") == "de"
    assert guess_language("Größe", default="en") == "de"


def test_guess_language_eszett_means_german() -> None:
    assert guess_language("Maßnahmen Straße", default="en") == "de"


def test_guess_language_uses_default_when_undecided() -> None:
    assert guess_language("KAUSA") == "de"
    assert guess_language("KAUSA", default="en") == "en"
    assert guess_language("", default="en") == "en"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("How do we write job ads?", "en"),
        ("Is there funding for intercultural training?", "en"),
        ("Wie schreiben wir Stellenanzeigen?", "de"),
        ("Fördermittel Dolmetscher", "de"),
        ("How can an association in Köln become a partner?", "en"),
        ("Where can I park my bicycle in Münster?", "en"),
        ("Köln", None),  # a place alone: the setting decides
        ("Größe", None),
        ("interpreter pool", None),  # keywords alone: the setting decides
        ("hilfe", None),
    ],
)
def test_clear_language_only_when_unmistakable(text: str, lang: str | None) -> None:
    assert clear_language(text) == lang


def test_focus_picks_the_asking_sentences_of_a_long_message() -> None:
    text = (
        "Ich bin Integrationsbeauftragte einer Stadt im Sauerland. Unser Bürgermeister möchte "
        "wissen, welche Pflichten auf die Verwaltung zukommen. Können Sie das zusammenfassen?"
    )
    picked = focus(text)
    assert picked is not None
    assert "Pflichten" in picked  # the short question brings the sentence it refers to
    assert "Sauerland" not in picked
    assert focus("Wie fangen wir an?") is None  # short messages are read as they are
