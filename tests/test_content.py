"""The bundled topics as a reader meets them: plain language that is plain, answers that fit a
phone, one name for the office, referrals limited to their Land."""

from __future__ import annotations

import re
import statistics

import pytest

from knowledge.evaluation import first_message_lengths
from knowledge.loader import load_knowledge
from knowledge.model import KnowledgeBase
from knowledge.plain import Jargon, average_sentence_words, sentences
from knowledge.text import LANGS

MEDIAN_LIMIT = 900  # characters a reader sees in the first message, median over all topics
SENTENCE_WORDS = 15


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    """The knowledge base shipped with the bot."""
    return load_knowledge()


@pytest.fixture(scope="module")
def jargon() -> Jargon:
    """knowledge/plain_jargon.yaml."""
    return Jargon.load()


# ------------------------------------------------------------------ plain language
def test_every_topic_has_plain_german_and_english(kb: KnowledgeBase) -> None:
    missing = [(t.id, lang) for t in kb.topics for lang in LANGS if not t.plain.get(lang)]
    assert missing == []


def test_plain_sentences_are_short(kb: KnowledgeBase) -> None:
    long = {
        (t.id, lang): round(average_sentence_words(t.plain[lang]), 1)
        for t in kb.topics
        for lang in LANGS
        if t.plain.get(lang) and average_sentence_words(t.plain[lang]) > SENTENCE_WORDS
    }
    assert long == {}


def test_plain_texts_explain_their_jargon(kb: KnowledgeBase, jargon: Jargon) -> None:
    unexplained = {
        (t.id, lang): jargon.unexplained(t.plain[lang])
        for t in kb.topics
        for lang in LANGS
        if t.plain.get(lang) and jargon.unexplained(t.plain[lang])
    }
    assert unexplained == {}


def test_sentences_split_at_stops_and_lines_but_not_abbreviations() -> None:
    text = "Fragen Sie z. B. die Stadt. Das hilft!\n- ein Punkt\nNoch einer? Ja."
    assert sentences(text) == [
        "Fragen Sie z. B. die Stadt.",
        "Das hilft!",
        "ein Punkt",
        "Noch einer?",
        "Ja.",
    ]
    assert average_sentence_words("Eins zwei drei. Vier.") == 2.0


@pytest.mark.parametrize(
    "line",
    [
        "KAUSA ist eine Beratung für Ausbildung.",
        "Das AGG (ein Gesetz gegen Diskriminierung) gilt für alle.",
        "Das steht im Gleichbehandlungsgesetz, kurz AGG.",
        "In NRW hilft die Zentralstelle in Bonn (ZFE NRW).",
        "Es heißt Einstiegsqualifizierung.",
        "The Job-BSK is a German course at work.",
        "KAUSA – a service for apprenticeships.",
    ],
)
def test_explained_jargon_passes(jargon: Jargon, line: str) -> None:
    assert jargon.unexplained(line) == []


@pytest.mark.parametrize(
    ("line", "term"),
    [
        ("Der Job-BSK passt zum Arbeitsplatz.", "Job-BSK"),
        ("Das steht im Integrationsgesetz NRW in § 5.", "§"),
        ("Fragen Sie bei KAUSA nach.", "KAUSA"),
        ("The ZFE NRW helps employers.", "ZFE NRW"),
    ],
)
def test_unexplained_jargon_is_found(jargon: Jargon, line: str, term: str) -> None:
    assert (term, line) in jargon.unexplained(line)


def test_jargon_explained_once_may_be_used_again(jargon: Jargon) -> None:
    text = "KAUSA ist eine Beratung für Ausbildung.\nKAUSA hilft Betrieben."
    assert jargon.unexplained(text) == []


def test_jargon_is_matched_as_a_whole_word(jargon: Jargon) -> None:
    assert jargon.unexplained("Die Kita hat ein Schild.\nAGGRESSIV ist niemand.") == []


# ------------------------------------------------------------------ a phone's worth
def test_median_first_message_fits_a_phone(kb: KnowledgeBase) -> None:
    lengths = first_message_lengths(kb)
    assert len(lengths) == len(kb.topics) * len(LANGS)
    median = statistics.median(lengths)
    print(f"median first message: {median:.0f} characters")
    assert median <= MEDIAN_LIMIT


def test_no_editors_notes_in_user_text(kb: KnowledgeBase) -> None:
    notes = re.compile(r"sind überholt|Ältere Hinweise|TODO|FIXME|Stand 2025/2026", re.I)
    found = [
        (t.id, lang)
        for t in kb.topics
        for lang in LANGS
        for text in (t.answer[lang], t.details.get(lang, ""), t.plain.get(lang, ""))
        if notes.search(text)
    ]
    assert found == []


# ------------------------------------------------------------------ one office, what users can do
OTHER_OFFICE_NAMES = re.compile(  # other bodies' offices ("KAUSA coordination office") are fine
    r"Netzwerkgeschäftsstelle|Geschäftsstelle des Netzwerks|Netzwerk-Büro|Netzwerkstelle"
    r"|Netzwerkkoordination|network coordination|network's office|network office"
)
PROMISES = re.compile(r"meldet sich|vermittelt die|will get back to you|will arrange")


def _texts(kb: KnowledgeBase) -> list[tuple[str, str]]:
    out = []
    for t in kb.topics:
        for lang in LANGS:
            out.append((t.id, t.answer[lang]))
            out.extend((t.id, text) for text in (t.details.get(lang), t.plain.get(lang)) if text)
            out.extend((t.id, part.text[lang]) for part in t.regional)
    return out


def test_the_office_is_only_named_through_the_placeholder(kb: KnowledgeBase) -> None:
    found = [(i, m.group()) for i, text in _texts(kb) if (m := OTHER_OFFICE_NAMES.search(text))]
    assert found == []


def test_referrals_do_not_promise_what_the_office_does(kb: KnowledgeBase) -> None:
    found = [(i, m.group()) for i, text in _texts(kb) if (m := PROMISES.search(text))]
    assert found == []


NRW_ONLY = re.compile(r"Kommunale[sn]? Integrationszentr|KAUSA-Landesstelle NRW|ZFE NRW")
NRW_TOPICS = frozenset(  # topics about NRW itself may name its institutions in the core text
    {
        "network_overview",
        "nrw_support_structures",
        "nrw_public_admin_initiative",
        "tintg_nrw",
        "example_municipalities",
        "example_jobcenter_duisburg",
        "example_police",
        "example_rheinbahn_wdr",
    }
)


def test_nrw_only_institutions_sit_in_nw_parts(kb: KnowledgeBase) -> None:
    found = [
        (t.id, lang, m.group())
        for t in kb.topics
        if t.id not in NRW_TOPICS
        for lang in LANGS
        for text in (t.answer[lang], t.plain.get(lang, ""))
        if (m := NRW_ONLY.search(text)) and "NRW" not in text[max(0, m.start() - 80) : m.start()]
    ]
    assert found == []
