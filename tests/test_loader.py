"""Loading knowledge: the bundled base is complete; a broken one says file:line what is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge.loader import BUNDLED_DIR, KnowledgeError, Problem, load_knowledge
from knowledge.model import ORGANISATION_TYPES, KnowledgeBase

# The topic ids of the catalogue (shared/knowledge/catalogue.yaml), copied so the test suite
# does not depend on files outside the repository.
CATALOGUE_IDS = (
    "network_overview",
    "network_benefits",
    "network_requirements",
    "join_process",
    "agreement_measures",
    "activity_report",
    "network_events",
    "network_members",
    "network_contact",
    "bot_about",
    "bot_reminders",
    "network_sachsen_anhalt",
    "iq_niedersachsen",
    "ikoe_definition",
    "business_case",
    "first_steps",
    "leadership_commitment",
    "status_analysis",
    "staff_survey",
    "responsible_person",
    "goals_monitoring",
    "intercultural_training",
    "fair_selection",
    "job_ads",
    "recruiting_outreach",
    "anonymised_applications",
    "apprenticeships_kausa",
    "recognition_foreign_qualifications",
    "job_language_courses",
    "onboarding_mentoring",
    "personnel_development",
    "organisational_quality_development",
    "interpreter_pool",
    "multilingual_plain_language",
    "anti_discrimination",
    "agg_complaint_office",
    "religious_diversity",
    "mso_cooperation",
    "representation_committees",
    "charta_der_vielfalt",
    "funding_support",
    "nrw_support_structures",
    "skilled_immigration",
    "accelerated_procedure",
    "tintg_nrw",
    "nrw_public_admin_initiative",
    "example_jobcenter_duisburg",
    "example_police",
    "example_rheinbahn_wdr",
    "example_municipalities",
)

VALID_TOPIC = """\
id: demo_topic
category: concept
title:
  de: "Demo-Thema"
  en: "Demo topic"
answer:
  de: "Eine kurze Antwort."
  en: "A short answer."
plain:
  de: "Eine kurze Antwort."
  en: "A short answer."
questions:
  de: ["Frage eins?", "Frage zwei?", "Frage drei?"]
  en: ["Question one?", "Question two?", "Question three?"]
keywords:
  de: [demo]
  en: [demo]
related: []
sources:
  - title: "Projektnotiz"
    note: "intern"
reviewed: 2024-05-01
"""


@pytest.fixture(scope="module")
def bundled() -> KnowledgeBase:
    """The knowledge base shipped with the bot."""
    return load_knowledge()


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of `text` that contains `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def edited(old: str, new: str, text: str = VALID_TOPIC) -> str:
    """`text` with `old` replaced by `new`; fails loudly if `old` is not there."""
    assert old in text, old
    return text.replace(old, new, 1)


def make_kb(root: Path, files: dict[str, str]) -> Path:
    """A knowledge directory with the bundled categories and the given topic files."""
    (root / "topics").mkdir(parents=True)
    shutil.copy(BUNDLED_DIR / "categories.yaml", root / "categories.yaml")
    for name, text in files.items():
        (root / "topics" / name).write_text(text, encoding="utf-8")
    return root


def problems_of(root: Path) -> list[Problem]:
    """The problems load_knowledge reports for `root` (it must fail)."""
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root)
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return info.value.problems


def only_problem(root: Path) -> Problem:
    problems = problems_of(root)
    assert len(problems) == 1, problems
    return problems[0]


def problem_in(root: Path, text: str) -> Problem:
    """The one problem of a knowledge directory (made in `root`) whose only topic is `text`."""
    return only_problem(make_kb(root, {"x.yaml": text}))


# ------------------------------------------------------------------ the bundled knowledge base
def test_bundled_kb_has_50_topics(bundled: KnowledgeBase) -> None:
    assert len(bundled.topics) == 50
    assert len({t.id for t in bundled.topics}) == 50


def test_bundled_kb_has_every_catalogue_topic(bundled: KnowledgeBase) -> None:
    assert len(CATALOGUE_IDS) == 50
    missing = [i for i in CATALOGUE_IDS if bundled.topic(i) is None]
    assert missing == []
    assert {t.id for t in bundled.topics} == set(CATALOGUE_IDS)


def test_bundled_topics_are_bilingual(bundled: KnowledgeBase) -> None:
    for topic in bundled.topics:
        for lang in ("de", "en"):
            assert topic.title[lang].strip(), (topic.id, lang)
            assert topic.answer[lang].strip(), (topic.id, lang)
            assert len(topic.questions[lang]) >= 3, (topic.id, lang)


def test_bundled_related_ids_exist(bundled: KnowledgeBase) -> None:
    for topic in bundled.topics:
        for related in topic.related:
            assert bundled.topic(related) is not None, (topic.id, related)
            assert related != topic.id


def test_bundled_topics_have_sources_and_known_categories(bundled: KnowledgeBase) -> None:
    categories = {c.id for c in bundled.categories}
    for topic in bundled.topics:
        assert topic.sources, topic.id
        assert topic.category in categories, topic.id


def test_version_changes_with_content(tmp_path: Path) -> None:
    one = load_knowledge(make_kb(tmp_path / "one", {"x.yaml": VALID_TOPIC}))
    same = load_knowledge(make_kb(tmp_path / "same", {"x.yaml": VALID_TOPIC}))
    changed_text = edited("A short answer.", "A different answer.")
    changed = load_knowledge(make_kb(tmp_path / "changed", {"x.yaml": changed_text}))
    assert one.version == same.version
    assert one.version != changed.version


# ------------------------------------------------------------------ broken knowledge directories
def test_minimal_valid_directory_loads(tmp_path: Path) -> None:
    kb = load_knowledge(make_kb(tmp_path, {"x.yaml": VALID_TOPIC}))
    assert [t.id for t in kb.topics] == ["demo_topic"]
    assert kb.topics[0].path == "topics/x.yaml"


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    text = edited('  en: "Demo topic"', ' en: "Demo topic"')  # indentation slip
    problem = problem_in(tmp_path, text)
    assert problem.path == "topics/x.yaml"
    assert problem.line == line_of(text, ' en: "Demo topic"') == 5
    assert "YAML syntax" in problem.message
    assert str(problem).startswith("topics/x.yaml:5: YAML syntax")


def test_missing_english_answer_points_into_the_answer(tmp_path: Path) -> None:
    text = edited('  en: "A short answer."\n', "")
    problem = problem_in(tmp_path, text)
    assert problem.message == "answer.en: missing or empty text"
    # There is no `en:` line to point at; the answer mapping starts with its `de:` entry.
    assert problem.line == line_of(text, '  de: "Eine kurze Antwort."') == 7


def test_empty_english_answer_points_at_its_line(tmp_path: Path) -> None:
    text = edited('  en: "A short answer."', '  en: "  "')
    problem = problem_in(tmp_path, text)
    assert str(problem) == "topics/x.yaml:8: answer.en: missing or empty text"


def test_unknown_related_id(tmp_path: Path) -> None:
    text = edited("related: []", "related: [no_such_topic]")
    problem = problem_in(tmp_path, text)
    assert "no_such_topic" in problem.message
    assert problem.line == line_of(text, "related:")


def test_related_to_itself(tmp_path: Path) -> None:
    text = edited("related: []", "related: [demo_topic]")
    problem = problem_in(tmp_path, text)
    assert "itself" in problem.message


def test_related_across_files_is_fine(tmp_path: Path) -> None:
    first = edited("related: []", "related: [other_topic]")
    second = edited("id: demo_topic", "id: other_topic")
    kb = load_knowledge(make_kb(tmp_path, {"a.yaml": first, "b.yaml": second}))
    assert kb.by_id["demo_topic"].related == ("other_topic",)


def test_duplicate_id_across_files_names_both_places(tmp_path: Path) -> None:
    problem = only_problem(make_kb(tmp_path, {"a.yaml": VALID_TOPIC, "b.yaml": VALID_TOPIC}))
    assert problem.path == "topics/b.yaml"
    assert problem.line == 1
    assert "demo_topic" in problem.message
    assert "topics/a.yaml:1" in problem.message


@pytest.mark.parametrize(
    "url", ["htps://example.org/page", "https://example org/page", "https://localhost", "www.x.de"]
)
def test_malformed_url(tmp_path: Path, url: str) -> None:
    text = edited('    note: "intern"', f'    url: "{url}"')
    problem = problem_in(tmp_path, text)
    assert "malformed URL" in problem.message
    assert url in problem.message
    assert problem.line == line_of(text, "    url:")


def test_wellformed_url_is_accepted(tmp_path: Path) -> None:
    text = edited('    note: "intern"', '    url: "https://www.example.org/a?b=1&c=2"')
    kb = load_knowledge(make_kb(tmp_path, {"x.yaml": text}))
    assert kb.topics[0].sources[0].url == "https://www.example.org/a?b=1&c=2"


def test_answer_longer_than_one_message(tmp_path: Path) -> None:
    text = edited('  de: "Eine kurze Antwort."', f'  de: "{"Wort " * 900}"')
    problem = problem_in(tmp_path, text)
    assert problem.message.startswith("answer.de:")
    assert "4096" in problem.message
    assert problem.line == line_of(text, "answer:")


def test_answer_counts_length_after_html_escaping(tmp_path: Path) -> None:
    # 3,000 characters as written, but every "&" becomes "&amp;" in the message.
    text = edited('  en: "A short answer."', f'  en: "{"& " * 1500}"')
    problem = problem_in(tmp_path, text)
    assert problem.message.startswith("answer.en:")
    assert "after formatting" in problem.message


def test_unknown_field(tmp_path: Path) -> None:
    text = edited("reviewed:", "colour: red\nreviewed:")
    problem = problem_in(tmp_path, text)
    assert str(problem) == f"topics/x.yaml:{line_of(text, 'colour')}: unknown field 'colour'"


def test_missing_field(tmp_path: Path) -> None:
    text = edited("reviewed: 2024-05-01\n", "")
    problems = problems_of(make_kb(tmp_path, {"x.yaml": text}))
    assert "topics/x.yaml:1: missing field 'reviewed'" in [str(p) for p in problems]


def test_reviewed_must_be_a_date(tmp_path: Path) -> None:
    text = edited("reviewed: 2024-05-01", "reviewed: Mai 2024")
    problem = problem_in(tmp_path, text)
    assert problem.line == line_of(text, "reviewed:")
    assert "YYYY-MM-DD" in problem.message


def test_impossible_date_is_a_problem_at_its_line(tmp_path: Path) -> None:
    text = edited("reviewed: 2024-05-01", "reviewed: 2024-02-30")
    problem = problem_in(tmp_path, text)
    assert str(problem) == (
        f"topics/x.yaml:{line_of(text, 'reviewed:')}: "
        "impossible date '2024-02-30' (day is out of range for month)"
    )


@pytest.mark.parametrize("key", ["[a, b]", "{a: b}"])
def test_list_or_mapping_as_key_is_a_problem_at_its_line(tmp_path: Path, key: str) -> None:
    text = VALID_TOPIC + f"? {key}\n: c\n"
    problem = problem_in(tmp_path, text)
    assert problem.line == len(VALID_TOPIC.splitlines()) + 1
    assert problem.message == "a key must be a single word or text, not a list or mapping"


def test_impossible_date_in_another_knowledge_file(tmp_path: Path) -> None:
    root = make_kb(tmp_path, {"x.yaml": VALID_TOPIC})
    (root / "synonyms.yaml").write_text("groups:\n  - [a, b]\n  - [2023-13-01, x]\n")
    assert str(only_problem(root)) == (
        "synonyms.yaml:3: impossible date '2023-13-01' (month must be in 1..12)"
    )


def test_every_problem_of_a_topic_is_listed(tmp_path: Path) -> None:
    text = edited("category: concept", "category: cooking")
    text = edited('  en: "Demo topic"', '  en: ""', text)
    text = edited(
        '  en: ["Question one?", "Question two?", "Question three?"]', '  en: ["Q?"]', text
    )
    problems = problems_of(make_kb(tmp_path, {"x.yaml": text}))
    lines = sorted(p.line for p in problems)
    assert lines == [
        line_of(text, "category:"),
        line_of(text, '  en: ""'),
        line_of(text, '  en: ["Q?"]'),
    ]


def test_problems_from_several_files_are_all_reported(tmp_path: Path) -> None:
    first = edited("reviewed:", "colour: red\nreviewed:")
    second = edited("id: demo_topic", "id: other_topic")
    second = edited('    note: "intern"', '    url: "nonsense"', second)
    problems = problems_of(make_kb(tmp_path, {"a.yaml": first, "b.yaml": second}))
    assert {p.path for p in problems} == {"topics/a.yaml", "topics/b.yaml"}


def test_problem_str_is_path_line_message() -> None:
    assert str(Problem("topics/x.yaml", 12, "related: unknown topic id 'y'")) == (
        "topics/x.yaml:12: related: unknown topic id 'y'"
    )


def test_directory_without_topics(tmp_path: Path) -> None:
    problem = only_problem(tmp_path)
    assert "no topic files" in problem.message


def test_empty_topic_file(tmp_path: Path) -> None:
    problem = only_problem(make_kb(tmp_path, {"a.yaml": VALID_TOPIC, "b.yaml": ""}))
    assert str(problem) == "topics/b.yaml:1: empty file"


def test_empty_topic_file_reported_next_to_other_problems(tmp_path: Path) -> None:
    broken = edited('  en: "Demo topic"', ' en: "Demo topic"')
    problems = problems_of(make_kb(tmp_path, {"a.yaml": broken, "b.yaml": ""}))
    assert "topics/b.yaml:1: empty file" in [str(p) for p in problems]


# ------------------------------------------------------------------ details, plain, regional
DETAILS = """\
details:
  de: |
    Mehr Hintergrund.
  en: |
    More background.
"""
REGIONAL = """\
regional:
  - region: NW
    de: "In NRW fragen Sie die {office}."
    en: "In NRW, ask the {office}."
  - region: ST
    de: "In Sachsen-Anhalt: IQ Netzwerk Sachsen-Anhalt."
    en: "In Saxony-Anhalt: IQ Network Saxony-Anhalt."
"""


def with_block(block: str, text: str = VALID_TOPIC) -> str:
    """`text` with a top-level block inserted before `questions:`."""
    return edited("questions:", f"{block}questions:", text)


def test_details_and_regional_parts_load(tmp_path: Path) -> None:
    text = with_block(DETAILS + REGIONAL)
    topic = load_knowledge(make_kb(tmp_path, {"x.yaml": text})).topics[0]
    assert topic.details == {"de": "Mehr Hintergrund.", "en": "More background."}
    assert [p.region for p in topic.regional] == ["NW", "ST"]
    assert topic.regional_texts("en", "NW") == ["In NRW, ask the {office}."]
    assert topic.regional_texts("de", "BY") == []


def test_details_in_one_language_only(tmp_path: Path) -> None:
    text = with_block("details:\n  de: Nur deutsch.\n")
    problem = problem_in(tmp_path, text)
    assert problem.message == "details.en: missing or empty text"
    assert problem.line == line_of(text, "  de: Nur deutsch.")


WITHOUT_PLAIN = edited('plain:\n  de: "Eine kurze Antwort."\n  en: "A short answer."\n', "")


def test_plain_language_is_required(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, WITHOUT_PLAIN)
    assert str(problem) == "topics/x.yaml:1: missing field 'plain'"


def test_plain_needs_both_languages(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, with_block('plain:\n  de: "Kurz."\n', WITHOUT_PLAIN))
    assert problem.message == "plain.en: missing or empty text"


def test_unknown_region_names_the_known_ones(tmp_path: Path) -> None:
    text = with_block(REGIONAL.replace("region: ST", "region: XX"))
    problem = problem_in(tmp_path, text)
    assert problem.line == line_of(text, "region: XX")
    assert "'XX'" in problem.message
    assert "NW" in problem.message and "ST" in problem.message


def test_regional_part_needs_both_languages_and_no_other_fields(tmp_path: Path) -> None:
    text = with_block(
        "regional:\n  - region: NI\n    de: Nur deutsch.\n    url: https://www.example.org\n"
    )
    problems = problems_of(make_kb(tmp_path, {"x.yaml": text}))
    assert sorted(str(p) for p in problems) == sorted(
        [
            f"topics/x.yaml:{line_of(text, 'region: NI')}: regional.NI.en: missing or empty text",
            f"topics/x.yaml:{line_of(text, '    url:')}: regional: unknown field 'url'",
        ]
    )


@pytest.mark.parametrize("placeholder", ["{office_name}", "{name}", "{}", "{Office}"])
def test_only_the_office_placeholder_is_allowed(tmp_path: Path, placeholder: str) -> None:
    text = edited('  en: "A short answer."', f'  en: "Ask the {placeholder}."')
    problem = problem_in(tmp_path, text)
    assert problem.line == line_of(text, "Ask the")
    assert problem.message.startswith(f"answer.en: unknown placeholder {placeholder!r}")


def test_stray_brace_in_details_is_reported(tmp_path: Path) -> None:
    text = with_block(DETAILS.replace("More background.", "More {office background."))
    problem = problem_in(tmp_path, text)
    assert problem.message.startswith("details.en: unknown placeholder '{'")


def test_office_placeholder_is_accepted_everywhere_but_titles(tmp_path: Path) -> None:
    text = edited('  de: "Eine kurze Antwort."', '  de: "Fragen Sie die {office}."')
    text = with_block(DETAILS.replace("More background.", "Ask the {office}.") + REGIONAL, text)
    assert load_knowledge(make_kb(tmp_path / "ok", {"x.yaml": text})).topics
    titled = edited('  en: "Demo topic"', '  en: "The {office}"')
    problem = only_problem(make_kb(tmp_path / "title", {"x.yaml": titled}))
    assert problem.message.startswith("title.en: unknown placeholder '{office}'")


def test_details_longer_than_one_message(tmp_path: Path) -> None:
    text = with_block(DETAILS.replace("More background.", "word " * 900))
    problem = problem_in(tmp_path, text)
    assert problem.message.startswith("details.en:")
    assert problem.line == line_of(text, "details:")


EXAMPLES = """\
examples:
  - id: pool_example
    topic: {topic}
    partner: Stadt Beispiel
    org_type: {org_type}
    region: Beispielstadt
    year: {year}
    done: {{de: "Ein Pool.", en: "A pool."}}
    source: {{title: "land.nrw – Pressemitteilung", seed: 002_ebfaca561c1f07df.txt}}
"""


def with_examples(root: Path, text: str) -> Path:
    """`root` with one examples file."""
    (root / "examples").mkdir()
    (root / "examples" / "public.yaml").write_text(text, encoding="utf-8")
    return root


def test_public_examples_are_loaded_with_the_topics(tmp_path: Path) -> None:
    text = EXAMPLES.format(topic="demo_topic", org_type="municipality", year=2020)
    kb = load_knowledge(with_examples(make_kb(tmp_path, {"job_ads.yaml": VALID_TOPIC}), text))
    [example] = kb.examples
    assert (example.topic, example.year, example.done["en"]) == ("demo_topic", 2020, "A pool.")
    assert example.source.seed == "002_ebfaca561c1f07df.txt" and example.result == {}
    bundled = load_knowledge()
    assert len(bundled.examples) >= 10 and all(bundled.topic(e.topic) for e in bundled.examples)
    assert all(e.source.url or e.source.seed or e.source.note for e in bundled.examples)


def test_a_bad_example_is_reported_with_file_and_line(tmp_path: Path) -> None:
    text = EXAMPLES.format(topic="no_such_topic", org_type="castle", year="'soon'")
    root = with_examples(
        make_kb(tmp_path, {"job_ads.yaml": VALID_TOPIC}), text + "    contact: x\n"
    )
    found = {str(p) for p in problems_of(root)}
    assert found == {
        f"examples/public.yaml:{line_of(text, 'topic:')}: topic: unknown topic id 'no_such_topic'",
        f"examples/public.yaml:{line_of(text, 'org_type:')}: org_type: use one of "
        + ", ".join(ORGANISATION_TYPES),
        f"examples/public.yaml:{line_of(text, 'year:')}: year: expected a year such as 2014",
        f"examples/public.yaml:{len(text.splitlines()) + 1}: example: unknown field 'contact'",
    }
