"""The sources policy of `kb check`: each refused link and each undated figure says file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import _parser, cmd_kb
from knowledge.loader import BUNDLED_DIR, load_knowledge
from knowledge.model import Source
from knowledge.sources import POLICY_FILE, undated_figure, years_in
from tests.test_loader import (
    VALID_TOPIC,
    edited,
    line_of,
    make_kb,
    only_problem,
    problem_in,
    problems_of,
)


def with_url(url: str, text: str = VALID_TOPIC) -> str:
    """The valid topic citing `url` instead of its note."""
    return edited('    note: "intern"', f'    url: "{url}"', text)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://www.example.org/page", "use https, not http"),
        ("https://wz.de./nrw/artikel", "host ends with a dot"),
        ("https://www1.wdr.de./rundfunkrat.html", "host ends with a dot"),
        ("https://www.yumpu.com/de/document/view/1/x", "www.yumpu.com is never a source"),
        ("https://pdfslide.tips/documents/x.html", "pdfslide.tips is never a source"),
        ("https://pdfslide.org/documents/x.html", "pdfslide.org is never a source"),
        ("https://fdocuments.net/document/x.html", "document-sharing site"),
        ("https://docslib.org/doc/1/x", "document-sharing site"),
        ("https://9dok.net/document/x.html", "document-sharing site"),
        ("https://de.readkong.com/page/x", "document-sharing site"),
        ("https://docplayer.org/1-x.html", "document-sharing site"),
        ("https://www.scribd.com/document/1/x", "document-sharing site"),
        ("https://issuu.com/x/docs/y", "document-sharing site"),
        ("https://knigalit.ru/avtori/book/chitat/?page=18", "e-book site"),
        ("https://kampuspedia.com/de/Charta_der_Vielfalt", "Wikipedia mirror"),
        ("https://www.aktiencheck.de/news/Artikel-1", "stock-news site"),
        ("https://www.example.org/author/vivi/page/29", "tag or author archive page"),
        ("https://blog.example.org/tag/womenatwork/page/4", "tag or author archive page"),
        ("https://www.example.de/schlagwort/vielfalt/", "tag or author archive page"),
        ("https://www.example.de/autor/mustermann/", "tag or author archive page"),
    ],
)
def test_refused_link_names_file_line_and_reason(tmp_path: Path, url: str, expected: str) -> None:
    text = with_url(url)
    problem = problem_in(tmp_path, text)
    assert problem.path == "topics/x.yaml"
    assert problem.line == line_of(text, "    url:")
    assert problem.message.startswith("source:")
    assert expected in problem.message
    assert url in problem.message


@pytest.mark.parametrize(
    "url",
    [
        "https://www.land.nrw/pressemitteilung/x",
        "https://www.gesetze-im-internet.de/agg/__11.html",
        "https://www.charta-der-vielfalt.de/",
        "https://www.example.org/tagung/2024",  # "tag" only as a whole path segment
        "https://notyumpu.com/x",  # a host that merely ends like a listed one
    ],
)
def test_primary_publishers_are_accepted(tmp_path: Path, url: str) -> None:
    assert load_knowledge(make_kb(tmp_path, {"x.yaml": with_url(url)})).topics


def test_every_refused_source_of_a_topic_is_reported(tmp_path: Path) -> None:
    text = with_url("http://www.example.org/a")
    text = edited(
        "reviewed:",
        '  - title: "Kopie"\n    url: "https://www.yumpu.com/x"\nreviewed:',
        text,
    )
    problems = problems_of(make_kb(tmp_path, {"x.yaml": text}))
    assert [p.line for p in problems] == [
        line_of(text, "http://www.example.org/a"),
        line_of(text, "yumpu"),
    ]


def test_a_network_can_bring_its_own_never_list(tmp_path: Path) -> None:
    root = make_kb(tmp_path, {"x.yaml": with_url("https://www.example.org/a")})
    (root / POLICY_FILE).write_text(
        "never:\n  - {host: example.org, why: our own test mirror}\n", encoding="utf-8"
    )
    problem = only_problem(root)
    assert "our own test mirror" in problem.message


def test_broken_policy_file_is_reported(tmp_path: Path) -> None:
    root = make_kb(tmp_path, {"x.yaml": VALID_TOPIC})
    (root / POLICY_FILE).write_text(
        "never:\n  - {host: a.org, pattern: x, why: both}\n  - {pattern: '(', why: bad}\n",
        encoding="utf-8",
    )
    problems = problems_of(root)
    assert [(p.path, p.line) for p in problems] == [(POLICY_FILE, 2), (POLICY_FILE, 3)]


def test_bundled_policy_lists_the_known_mirrors() -> None:
    policy = (BUNDLED_DIR / POLICY_FILE).read_text(encoding="utf-8")
    for host in ("yumpu", "pdfslide", "fdocuments", "docslib", "9dok", "readkong", "docplayer"):
        assert host in policy


# ------------------------------------------------------------------ dated figures
_REGIONAL_2013 = (
    'regional:\n  - region: ST\n    de: "Seit 2013 im Netzwerk."\n    en: "Since 2013."\n'
)


@pytest.mark.parametrize(
    ("edits", "figure", "message"),
    [
        pytest.param(
            [('  de: "Eine kurze Antwort."', '  de: "2019: 29 Partner."')],
            "2019: 29 Partner",
            "answer.de names the year 2019, but no source is dated",
            id="year_without_a_dated_source",
        ),
        pytest.param(
            [
                ('  en: "A short answer."', '  en: "As of 2024: 38 partners."'),
                ('"Projektnotiz"', '"Ministerium: Bericht, 2019"'),
            ],
            "As of 2024",
            "newest source is dated 2019",
            id="figure_newer_than_the_newest_source",
        ),
        pytest.param(
            [("questions:", f"{_REGIONAL_2013}questions:")],
            "Seit 2013",
            "regional.ST.de names the year 2013",
            id="year_in_a_regional_part",
        ),
    ],
)
def test_an_undated_figure_is_reported_at_its_line(
    tmp_path: Path, edits: list[tuple[str, str]], figure: str, message: str
) -> None:
    text = VALID_TOPIC
    for old, new in edits:
        text = edited(old, new, text)
    problem = problem_in(tmp_path, text)
    assert problem.line == line_of(text, figure)
    assert message in problem.message


def test_dated_source_covers_earlier_figures_and_plans(tmp_path: Path) -> None:
    text = edited('  de: "Eine kurze Antwort."', '  de: "2012 gegründet, 2019: 29, bis 2028."')
    text = edited('"Projektnotiz"', '"Pressemitteilung, 2022"', text)
    assert load_knowledge(make_kb(tmp_path, {"x.yaml": text})).topics


def test_date_in_the_note_counts() -> None:
    sources = [Source(title="Land NRW: Pressemitteilung", note="vom 16.07.2014, nicht online")]
    assert undated_figure([("answer.de", "Seit 2014.")], sources, 2026) is None


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("2019: 29 Partner, 2022: 34", {2019, 2022}),
        ("Stand 2025/2026", {2025, 2026}),
        ("2012–2022", {2012, 2022}),
        ("am 16.07.2014", {2014}),
        ("100.000 Beschäftigte, § 2010, 12019 Orte, 1989, 2031", set()),
    ],
)
def test_years_in_text(text: str, years: set[int]) -> None:
    assert years_in(text) == years


# ------------------------------------------------------------------ kb check
def test_kb_check_prints_each_violation_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = with_url("http://www.example.org/a")
    root = make_kb(tmp_path, {"x.yaml": text})
    monkeypatch.setenv("KNOWLEDGE_DIR", str(root))
    monkeypatch.chdir(tmp_path)  # no .env of the developer
    assert cmd_kb(_parser().parse_args(["kb", "check"])) == 1
    err = capsys.readouterr().err
    assert f"topics/x.yaml:{line_of(text, '    url:')}: source: use https" in err
