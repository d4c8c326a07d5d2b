"""The locale catalogs: complete in both languages, and every key the code uses exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.texts import FORMS, LOCALES_DIR, PLURAL, CatalogError, Texts, placeholders

ROOT = Path(__file__).resolve().parent.parent
# `texts.get(lang, "some.key"` – also `context.services.texts.get(` and calls over several lines.
_LITERAL_KEY = re.compile(r"\btexts\.get\(\s*[^,()]+?,\s*\"([^\"]+)\"")
_ANY_CALL = re.compile(r"\btexts\.get\(")


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts.load()


def catalog(lang: str) -> dict[str, str]:
    """One locale file as flat `a.b.c -> text`; a plural text as `a.b.c[one]`, `a.b.c[other]`
    and `a.b.c[plural]` (the name of its count)."""
    out: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict) and PLURAL in node:
            assert set(node) == {PLURAL, *FORMS}, prefix
            for form, value in node.items():
                assert isinstance(value, str), f"{prefix}[{form}]"
                out[f"{prefix}[{form}]"] = value
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            assert isinstance(node, str), prefix
            out[prefix] = node

    walk("", yaml.safe_load((LOCALES_DIR / f"{lang}.yaml").read_text(encoding="utf-8")))
    return out


def used_keys() -> dict[str, list[str]]:
    """Literal keys passed to texts.get in bot/ and handlers/, with where they are used."""
    found: dict[str, list[str]] = {}
    for folder in ("bot", "handlers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            for match in _LITERAL_KEY.finditer(source):
                line = source.count("\n", 0, match.start()) + 1
                found.setdefault(match.group(1), []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def test_catalogs_load(texts: Texts) -> None:
    assert len(texts.keys()) > 50


def test_german_and_english_have_the_same_keys() -> None:
    german, english = catalog("de"), catalog("en")
    assert sorted(set(german) - set(english)) == []
    assert sorted(set(english) - set(german)) == []


def test_placeholders_are_the_same_in_both_languages() -> None:
    german, english = catalog("de"), catalog("en")
    differ = [k for k in german if placeholders(german[k]) != placeholders(english[k])]
    assert differ == []


def test_plural_texts_are_counted_by_the_same_value_in_both_languages() -> None:
    german, english = catalog("de"), catalog("en")
    counts = {k: v for k, v in german.items() if k.endswith(f"[{PLURAL}]")}
    assert len(counts) >= 8
    assert {k: english[k] for k in counts} == counts
    for key, count in counts.items():
        forms = [key.replace(PLURAL, form) for form in FORMS]
        assert any(count in placeholders(german[form]) for form in forms), key
        assert german[forms[0]] != german[forms[1]] or english[forms[0]] != english[forms[1]], key


@pytest.mark.parametrize(
    ("lang", "key", "values", "one", "other"),
    [
        ("en", "reminders.state.due", {}, "due in 1 day", "due in 2 days"),
        ("de", "reminders.state.due", {}, "fällig in 1 Tag", "fällig in 2 Tagen"),
        ("en", "reminders.state.overdue", {}, "overdue for 1 day", "overdue for 2 days"),
        ("de", "reminders.state.overdue", {}, "überfällig seit 1 Tag", "überfällig seit 2 Tagen"),
        (
            "en",
            "reminders.report_due",
            {"partner": "P", "date": "D"},
            "(1 day left)",
            "(2 days left)",
        ),
        (
            "de",
            "reminders.report_due",
            {"partner": "P", "date": "D"},
            "(noch 1 Tag)",
            "(noch 2 Tage)",
        ),
        ("en", "reminders.snoozed", {}, "again in 1 day.", "again in 2 days."),
        ("de", "reminders.snoozed", {}, "Sie in 1 Tag noch", "Sie in 2 Tagen noch"),
        ("en", "common.days", {}, "1 day", "2 days"),
        ("de", "common.days", {}, "1 Tag", "2 Tage"),
    ],
)
def test_a_count_of_one_takes_the_singular(
    texts: Texts, lang: str, key: str, values: dict[str, str], one: str, other: str
) -> None:
    assert one in texts.get(lang, key, days=1, **values)
    assert other in texts.get(lang, key, days=2, **values)
    assert one in texts.plain(lang, key, days=1, **values)


@pytest.mark.parametrize(
    ("lang", "key", "count", "one", "other"),
    [
        ("en", "privacy.deleted", "count", "(1 entry)", "(2 entries)"),
        ("de", "privacy.deleted", "count", "(1 Eintrag)", "(2 Einträge)"),
        ("en", "reports.saved_items", "count", "1 measure.", "2 measures."),
        ("de", "reports.saved_items", "count", "1 Maßnahme.", "2 Maßnahmen."),
        ("en", "reports.submitted", "count", "with 1 measure has", "with 2 measures has"),
        ("de", "reports.submitted", "count", "mit 1 Maßnahme ist", "mit 2 Maßnahmen ist"),
        ("en", "reports.office_new", "items", "1 measure,", "2 measures,"),
        ("de", "reports.office_new", "items", "1 Maßnahme,", "2 Maßnahmen,"),
        ("en", "partners.invite", "left", "1 more use.", "2 more uses."),
        ("en", "onboarding.approved_office", "days", "valid for 1 day)", "valid for 2 days)"),
        ("de", "onboarding.approved_requester", "days", "1 Tag gültig", "2 Tage gültig"),
    ],
)
def test_counted_nouns_agree_with_their_count(
    texts: Texts, lang: str, key: str, count: str, one: str, other: str
) -> None:
    values = dict.fromkeys(placeholders(catalog(lang)[f"{key}[other]"]), "x")
    assert one in texts.get(lang, key, **{**values, count: 1})
    assert other in texts.get(lang, key, **{**values, count: 2})


def test_a_plural_text_needs_its_count(texts: Texts) -> None:
    with pytest.raises(KeyError, match="days"):
        texts.get("en", "reminders.state.due")


def _catalogs_in(tmp_path: Path, de: str, en: str) -> Path:
    (tmp_path / "de.yaml").write_text(de, encoding="utf-8")
    (tmp_path / "en.yaml").write_text(en, encoding="utf-8")
    return tmp_path


def test_plural_texts_are_checked_when_loaded(tmp_path: Path) -> None:
    de = "a:\n  plural: n\n  one: '{n} Tag'\n  other: '{n} Tage'\n"
    texts = Texts.load(_catalogs_in(tmp_path, de, de.replace("Tag", "day")))
    assert texts.get("en", "a", n=1) == "1 day" and texts.get("de", "a", n=3) == "3 Tage"
    with pytest.raises(CatalogError, match=r"en\.yaml: a is counted otherwise than in German"):
        Texts.load(_catalogs_in(tmp_path, de, "a: '{n} days'\n"))
    with pytest.raises(CatalogError, match=r"en\.yaml: a is counted otherwise than in German"):
        Texts.load(_catalogs_in(tmp_path, de, de.replace("plural: n", "plural: m")))
    with pytest.raises(CatalogError, match=r"en\.yaml: a has other placeholders than German"):
        Texts.load(_catalogs_in(tmp_path, de, de.replace("'{n} Tag'", "'a day'")))
    with pytest.raises(CatalogError, match=r"de\.yaml: a: a plural text has exactly plural"):
        Texts.load(_catalogs_in(tmp_path, de + "  few: '{n}'\n", de))


def test_no_text_is_empty() -> None:
    for lang in ("de", "en"):
        empty = [k for k, v in catalog(lang).items() if not v.strip()]
        assert empty == [], lang


def test_every_key_used_in_the_code_exists(texts: Texts) -> None:
    used = used_keys()
    calls = sum(
        len(_ANY_CALL.findall(p.read_text(encoding="utf-8")))
        for folder in ("bot", "handlers")
        for p in (ROOT / folder).rglob("*.py")
    )
    # Most calls use a literal key; the rest build it with an f-string or a variable.
    assert len(used) >= 40
    assert sum(len(places) for places in used.values()) >= calls * 0.8
    missing = {key: places for key, places in used.items() if key not in texts}
    assert missing == {}


def test_unknown_language_falls_back_to_german(texts: Texts) -> None:
    german = texts.get("de", "start.welcome", network_name="Netz")
    assert texts.get("fr", "start.welcome", network_name="Netz") == german
    assert texts.get(None, "start.welcome", network_name="Netz") == german
    assert texts.get("en", "start.welcome", network_name="Netz") != german


def test_values_are_filled_in(texts: Texts) -> None:
    text = texts.get("en", "start.welcome", network_name="Test network")
    assert "Test network" in text
    assert "{network_name}" not in text


def test_callback_prefixes_are_unique_and_unambiguous() -> None:
    from bot import callbacks

    prefixes = list(callbacks.ALL)
    assert len(prefixes) == len(set(prefixes))
    for one in prefixes:
        for other in prefixes:
            assert one == other or not other.startswith(one), (one, other)


def test_a_broken_catalog_is_named_by_its_file(tmp_path: Path) -> None:
    for lang in ("de", "en"):
        (tmp_path / f"{lang}.yaml").write_text(
            (LOCALES_DIR / f"{lang}.yaml").read_text(encoding="utf-8"), encoding="utf-8"
        )
    with (tmp_path / "en.yaml").open("a", encoding="utf-8") as catalog:
        catalog.write("zz: 5\n")
    with pytest.raises(CatalogError, match=r"en\.yaml: zz: expected text, found int"):
        Texts.load(tmp_path)
    (tmp_path / "en.yaml").write_text("- a list\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"en\.yaml: expected keys with texts, found list"):
        Texts.load(tmp_path)
