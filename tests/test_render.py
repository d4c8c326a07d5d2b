"""Answers as Telegram HTML, and long texts split into messages Telegram accepts."""

from __future__ import annotations

from datetime import date
from html import escape as _escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.model import RegionalPart, Source, Topic
from knowledge.render import (
    MESSAGE_LIMIT,
    AnswerLabels,
    render_answer,
    render_details,
    source_label,
    split_message,
    visible_text,
)


def make_topic(answer_de: str = "Antwort.", answer_en: str = "Answer.", **kwargs: object) -> Topic:
    values: dict[str, object] = {
        "id": "demo",
        "category": "concept",
        "title": {"de": "Titel <mit> & Zeichen", "en": "Title"},
        "answer": {"de": answer_de, "en": answer_en},
        "questions": {"de": ("a", "b", "c"), "en": ("a", "b", "c")},
        "keywords": {"de": ("k",), "en": ("k",)},
        "related": (),
        "sources": (
            Source(title="Partnernetzwerk & Co", url="https://www.example.org/p?a=1&b=2"),
            Source(title="Projektnotiz", note="intern"),
        ),
        "reviewed": date(2024, 2, 1),
    }
    values.update(kwargs)
    return Topic(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------ render_answer
def test_answer_text_is_escaped() -> None:
    html = render_answer(make_topic("Wenn a < b & c > d, dann <script>."), "de")
    assert "a &lt; b &amp; c &gt; d" in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_title_is_bold_and_escaped() -> None:
    html = render_answer(make_topic(), "de")
    assert html.startswith("<b>Titel &lt;mit&gt; &amp; Zeichen</b>\n\n")


def test_dash_lines_become_bullets() -> None:
    html = render_answer(make_topic("So geht es:\n- erstens\n- zweitens\n  - drittens"), "de")
    assert "• erstens\n• zweitens\n  • drittens" in html
    assert "- erstens" not in html


def test_dash_inside_a_line_is_not_a_bullet() -> None:
    html = render_answer(make_topic("Ein Wort - mitten im Satz."), "de")
    assert "Ein Wort - mitten im Satz." in html
    assert "•" not in html


def test_sources_with_url_are_links() -> None:
    html = render_answer(make_topic(), "de")
    assert (
        '<a href="https://www.example.org/p?a=1&amp;b=2">Partnernetzwerk &amp; Co</a>; Projektnotiz'
        in html
    )
    assert "<i>Quellen:</i>" in html


def test_source_without_url_is_plain_text() -> None:
    html = render_answer(make_topic(), "en")
    assert "Projektnotiz" in html
    assert html.count("<a href=") == 1


def test_reviewed_date_in_each_language_before_the_sources() -> None:
    de = render_answer(make_topic(), "de")
    assert "\n\n<i>geprüft am 01.02.2024</i>\n<i>Quellen:</i> " in de
    en = render_answer(make_topic(), "en")
    assert "\n\n<i>reviewed on 01 February 2024</i>\n<i>Sources:</i> " in en


def test_labels_from_the_bot_are_used() -> None:
    labels = AnswerLabels(sources="Belege", reviewed="Geprüft: {date}", date_format="%Y-%m-%d")
    html = render_answer(make_topic(), "de", labels=labels)
    assert "<i>Belege:</i>" in html
    assert "<i>Geprüft: 2024-02-01</i>" in html


def test_plain_language_version_when_asked() -> None:
    topic = make_topic(plain={"de": "Ganz einfach gesagt.", "en": "Put simply."})
    assert "Ganz einfach gesagt." in render_answer(topic, "de", plain=True)
    assert "Ganz einfach gesagt." not in render_answer(topic, "de")
    assert "Put simply." in render_answer(topic, "en", plain=True)
    assert "Put simply." not in render_answer(topic, "en")


def test_no_plain_text_shows_the_answer() -> None:
    assert "Answer." in render_answer(make_topic(), "en", plain=True)


def test_regional_part_only_for_its_region_after_the_core() -> None:
    topic = make_topic(
        regional=(
            RegionalPart(region="NW", text={"de": "In NRW: KI.", "en": "In NRW: KI."}),
            RegionalPart(region="ST", text={"de": "In Sachsen-Anhalt: IQ.", "en": "IQ ST."}),
        )
    )
    nw = render_answer(topic, "de", region="NW")
    assert "In NRW: KI." in nw and "Sachsen-Anhalt" not in nw
    assert nw.index("Antwort.") < nw.index("In NRW") < nw.index("geprüft am")
    st = render_answer(topic, "de", region="ST")
    assert "In Sachsen-Anhalt: IQ." in st and "NRW" not in st
    assert "NRW" not in render_answer(topic, "de", region="BY")
    assert "NRW" not in render_answer(topic, "de")


def test_office_placeholder_is_filled_and_escaped() -> None:
    topic = make_topic(
        "Fragen Sie die {office}.",
        "Ask the {office}.",
        regional=(RegionalPart(region="NW", text={"de": "Die {office} hilft.", "en": "x"}),),
        details={"de": "Mehr bei der {office}.", "en": "More from the {office}."},
    )
    assert "Fragen Sie die Netzwerkstelle." in render_answer(topic, "de")
    assert "Ask the network office." in render_answer(topic, "en")
    html = render_answer(topic, "de", region="NW", office="Büro <A&B>")
    assert "Fragen Sie die Büro &lt;A&amp;B&gt;." in html
    assert "Die Büro &lt;A&amp;B&gt; hilft." in html
    assert "{office}" not in html
    assert render_details(topic, "en", office="Hub").startswith(
        "<b>Title</b>\n\nMore from the Hub.\n\n<i>Sources:</i> "
    )


def test_details_message_has_every_source_in_full() -> None:
    assert render_details(make_topic(), "de") == ""
    details = render_details(make_topic(details={"de": "- Punkt", "en": "- point"}), "de")
    assert details == (
        "<b>Titel &lt;mit&gt; &amp; Zeichen</b>\n\n• Punkt\n\n<i>Quellen:</i> "
        '<a href="https://www.example.org/p?a=1&amp;b=2">Partnernetzwerk &amp; Co</a>; Projektnotiz'
    )


def test_with_details_the_first_message_names_sources_briefly() -> None:
    sources = (
        Source(title="land.nrw – Pressemitteilung 16. Juli 2014", url="https://land.nrw/a"),
        Source(title="land.nrw – Pressemitteilung (2022)", url="https://land.nrw/b"),
        Source(title="BAMF: Berufssprachkurse", url="https://www.bamf.de/c"),
        Source(title="Ein sehr langer Titel ohne Herausgeberteil davor", url="https://www.x.de/d"),
        Source(title="MKFFI NRW: Bericht, 2019", note="nicht online"),
        Source(title="BAMF: Berufssprachkurse", url="https://www.bamf.de/c"),
    )
    topic = make_topic(sources=sources, details={"de": "Mehr.", "en": "More."})
    html = render_answer(topic, "de")
    assert html.endswith(
        "\n\n<i>geprüft am 01.02.2024 · Quellen:</i> "
        '<a href="https://land.nrw/a">land.nrw 2014</a>, '
        '<a href="https://land.nrw/b">land.nrw 2022</a>, '
        '<a href="https://www.bamf.de/c">BAMF</a> und 2 weitere'
    )
    assert render_answer(topic, "en").endswith("and 2 more")
    full = render_details(topic, "de")
    assert all(_escape(s.title, quote=False) in full for s in sources)


@pytest.mark.parametrize(
    ("source", "label"),
    [
        (
            Source(title="A very long title without a publisher part", url="https://www.ex.org/"),
            "ex.org",
        ),
        (
            Source(title="A very long title without a publisher, 2019", note="n"),
            "A very long title without a pub… 2019",
        ),
        (
            Source(title="Charta der Vielfalt – Über uns (2024)", url="https://c.de"),
            "Charta der Vielfalt 2024",
        ),
        (Source(title="MKFFI NRW: Titel, 2019", note="n"), "MKFFI NRW 2019"),
    ],
)
def test_source_label(source: Source, label: str) -> None:
    assert source_label(source) == label


def test_visible_text_is_what_telegram_counts() -> None:
    html = render_answer(make_topic("a < b"), "de")
    text = visible_text(html)
    assert "<" not in text.replace("a < b", "").replace("Titel <mit>", "")
    assert text.startswith("Titel <mit> & Zeichen\n\na < b")
    assert "Partnernetzwerk & Co; Projektnotiz" in text


def test_extra_part_comes_before_sources() -> None:
    html = render_answer(make_topic(), "de", extra="<b>Nächster Termin:</b> 31.03.2025")
    assert html.index("Antwort.") < html.index("Nächster Termin") < html.index("Quellen")


# ------------------------------------------------------------------ split_message
def test_short_text_is_one_message() -> None:
    text = "<b>Titel</b>\n\nEin Absatz.\n\nNoch einer."
    assert split_message(text) == [text]
    exact = "x" * MESSAGE_LIMIT
    assert split_message(exact) == [exact]


def test_long_text_splits_at_paragraphs() -> None:
    paragraphs = [f"Absatz {i}: " + "Wort " * 150 for i in range(12)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(text) > MESSAGE_LIMIT
    chunks = split_message(text)
    assert len(chunks) > 1
    assert all(len(c) <= MESSAGE_LIMIT for c in chunks)
    # Every chunk starts a paragraph: nothing was cut in the middle of one.
    assert all(c.startswith("Absatz ") for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_single_enormous_word_is_hard_cut() -> None:
    word = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    chunks = split_message(word)
    assert len(chunks) == 3
    assert all(len(c) <= MESSAGE_LIMIT for c in chunks)
    assert "".join(chunks) == word


def test_long_line_splits_at_spaces() -> None:
    text = " ".join(f"w{i}" for i in range(3000))
    chunks = split_message(text, limit=500)
    assert all(len(c) <= 500 for c in chunks)
    assert " ".join(chunks) == text


def test_bold_line_is_not_cut_apart() -> None:
    text = "a" * 30 + "\n<b>fett und wichtig</b>\n" + "b" * 30
    chunks = split_message(text, limit=40)
    assert "<b>fett und wichtig</b>" in chunks
    assert all(len(c) <= 40 for c in chunks)


_WORD = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzäöüß0123456789.,;:!?&;", min_size=1, max_size=12
)
_SPAN = st.one_of(
    _WORD,
    st.lists(_WORD, min_size=1, max_size=4).map(lambda ws: "<b>" + " ".join(ws) + "</b>"),
    st.lists(_WORD, min_size=1, max_size=3).map(lambda ws: "<i>" + " ".join(ws) + "</i>"),
    st.lists(_WORD, min_size=1, max_size=3).map(
        lambda ws: '<a href="https://example.org/x">' + " ".join(ws) + "</a>"
    ),
)
_LINE = st.lists(_SPAN, min_size=1, max_size=4).map(" ".join)  # at most ~300 characters
_PARAGRAPH = st.lists(_LINE, min_size=1, max_size=5).map("\n".join)
_TEXT = st.lists(_PARAGRAPH, min_size=1, max_size=25).map("\n\n".join)


def _balanced(chunk: str) -> bool:
    pairs = (("<b>", "</b>"), ("<i>", "</i>"), ("<a ", "</a>"))
    return all(chunk.count(opening) == chunk.count(closing) for opening, closing in pairs)


@settings(max_examples=100, deadline=None)
@given(text=_TEXT, limit=st.integers(min_value=320, max_value=1000))
def test_split_message_keeps_limit_and_tags(text: str, limit: int) -> None:
    # Rendered answers keep every line far below the limit; tags are safe on such lines.
    assert max(len(line) for line in text.split("\n")) <= limit
    chunks = split_message(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    assert all(_balanced(c) for c in chunks)
    assert " ".join(chunks).split() == text.split()


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab cd\n"), min_size=0, max_size=3000),
    limit=st.integers(min_value=5, max_value=400),
)
def test_split_message_never_exceeds_limit_on_any_text(text: str, limit: int) -> None:
    chunks = split_message(text, limit)
    assert all(len(c) <= limit for c in chunks)
    assert "".join(chunks).replace(" ", "").replace("\n", "") == (
        text.replace(" ", "").replace("\n", "")
    )
