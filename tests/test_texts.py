"""The locale catalogs: complete in both languages, and every key the code uses exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.texts import LOCALES_DIR, CatalogError, Texts, placeholders

ROOT = Path(__file__).resolve().parent.parent
# `texts.get(lang, "some.key"` – also `context.services.texts.get(` and calls over several lines.
_LITERAL_KEY = re.compile(r"\btexts\.get\(\s*[^,()]+?,\s*\"([^\"]+)\"")
_ANY_CALL = re.compile(r"\btexts\.get\(")


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts.load()


def catalog(lang: str) -> dict[str, str]:
    """One locale file as flat `a.b.c -> text`."""
    out: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
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
