"""User-visible texts from the locale catalogs (`bot/locales/<lang>.yaml`), German first."""

from __future__ import annotations

import html
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knowledge.model import DEFAULT_OFFICE_NAMES
from knowledge.text import LANGS, Lang

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
SOURCE_LANGUAGE: Lang = "de"


class CatalogError(Exception):
    """A locale catalog is missing keys or placeholders compared with the German source."""


# A text that puts a count before a noun has a form for one and one for every other count:
#   report_due:
#     plural: days                      # the value that chooses the form
#     one: "… (noch {days} Tag)"
#     other: "… (noch {days} Tage)"
# German and English need no more forms than these two.
PLURAL = "plural"
FORMS = ("one", "other")


@dataclass(frozen=True, slots=True)
class Plural:
    """A catalog text with a singular and a plural form, chosen by the value named `count`."""

    count: str
    one: str
    other: str

    def forms(self) -> dict[str, str]:
        """The forms by name."""
        return {"one": self.one, "other": self.other}

    def choose(self, values: Mapping[str, object]) -> str:
        """The form for the count among `values` ("one" for exactly 1)."""
        if self.count not in values:
            raise KeyError(f"{self.count} (the count that chooses the form of a plural text)")
        return self.one if values[self.count] == 1 else self.other


Entry = str | Plural


def _plural(prefix: str, node: Mapping[Any, Any]) -> Plural:
    """A catalog entry with `plural:`, checked: the count's name and both forms, nothing else."""
    if set(node) != {PLURAL, *FORMS}:
        raise CatalogError(f"{prefix}: a plural text has exactly {PLURAL}, one and other")
    count, one, other = node[PLURAL], node["one"], node["other"]
    if not isinstance(count, str) or not count.isidentifier():
        raise CatalogError(f"{prefix}: {PLURAL} names the placeholder that holds the count")
    if not isinstance(one, str) or not isinstance(other, str):
        raise CatalogError(f"{prefix}: expected text in one and other")
    return Plural(count, one.rstrip("\n"), other.rstrip("\n"))


def _flatten(prefix: str, node: Any, out: dict[str, Entry]) -> None:
    if isinstance(node, Mapping) and PLURAL in node and prefix:
        out[prefix] = _plural(prefix, node)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out)
    elif isinstance(node, str):
        out[prefix] = node.rstrip("\n")
    else:
        if not prefix:
            raise CatalogError(f"expected keys with texts, found {type(node).__name__}")
        raise CatalogError(f"{prefix}: expected text, found {type(node).__name__}")


def placeholders(text: str) -> set[str]:
    """Names of the `{placeholders}` in a catalog text."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def shape(entry: Entry) -> tuple[str | None, dict[str, set[str]]]:
    """What must be the same in every language: the count a plural text is chosen by (None
    for a plain text) and the placeholders of each form."""
    if isinstance(entry, Plural):
        return entry.count, {form: placeholders(t) for form, t in entry.forms().items()}
    return None, {"": placeholders(entry)}


def _with_office(entry: Entry, office: str) -> Entry:
    if isinstance(entry, Plural):
        return Plural(
            entry.count, entry.one.replace(OFFICE, office), entry.other.replace(OFFICE, office)
        )
    return entry.replace(OFFICE, office)


OFFICE = "{office}"


class Markup(str):
    """Text that is HTML already and goes into a message as it is: catalog texts (every
    `Texts.get` returns one), rendered answers, links the bot builds. Everything else filled
    into a catalog text is escaped, so a name like "Müller & Söhne <GmbH>" arrives as typed."""

    __slots__ = ()


def escape(value: object) -> str:
    """`value` as it may stand in an HTML message: Markup as it is, anything else escaped."""
    if isinstance(value, Markup):
        return value
    return html.escape(str(value), quote=False)


def link(url: str, label: str) -> Markup:
    """A link the bot builds (an online meeting, an invite): the URL quoted, the label escaped."""
    return Markup(f'<a href="{html.escape(url, quote=True)}">{escape(label)}</a>')


def join(separator: str, parts: list[str] | tuple[str, ...]) -> Markup:
    """Catalog texts (or other Markup) joined into one piece of Markup; plain parts escaped."""
    return Markup(separator.join(escape(part) for part in parts))


_TAG = re.compile(r"<[^>]*>")
CAPTION_LIMIT = 1024  # Telegram's, for a file's caption (counted as visible_length counts)


def visible_length(text: str) -> int:
    """How long Telegram counts an HTML text once its tags and entities are read: in UTF-16
    code units, as its 4,096-character message and 1,024-character caption limits are meant."""
    shown = html.unescape(_TAG.sub("", text))
    return len(shown.encode("utf-16-le")) // 2


def _read_catalog(path: Path) -> Any:
    """One catalog file's YAML; CatalogError names the file (and the line) when it cannot be
    read, so a broken LOCALES_DIR is one message, not a traceback."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise CatalogError(f"{path}{line}: {error.problem or error}") from None
    except (yaml.YAMLError, ValueError, TypeError, OSError) as error:
        raise CatalogError(f"{path}: {error}") from None


class Texts:
    """Looks up and formats catalog texts; unknown languages fall back to German.

    `{office}` is filled in every text with the network office's configured name.
    """

    def __init__(
        self,
        catalogs: Mapping[Lang, Mapping[str, Entry]],
        office: Mapping[Lang, str] | None = None,
    ) -> None:
        self._catalogs = {
            lang: {
                key: _with_office(entry, (office or DEFAULT_OFFICE_NAMES)[lang])
                for key, entry in catalog.items()
            }
            for lang, catalog in catalogs.items()
        }

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR, office: Mapping[Lang, str] | None = None) -> Texts:
        """Load every language and check it has the German keys and placeholders."""
        catalogs: dict[Lang, dict[str, Entry]] = {}
        for lang in LANGS:
            flat: dict[str, Entry] = {}
            path = directory / f"{lang}.yaml"
            try:
                _flatten("", _read_catalog(path), flat)
            except CatalogError as error:
                if str(error).startswith(str(path)):
                    raise
                raise CatalogError(f"{path}: {error}") from None
            catalogs[lang] = flat
        source = catalogs[SOURCE_LANGUAGE]
        problems = []
        for lang, catalog in catalogs.items():
            for key in sorted(set(source) - set(catalog)):
                problems.append(f"{lang}.yaml: missing {key}")
            for key in sorted(set(catalog) - set(source)):
                problems.append(f"{lang}.yaml: {key} is not in the German source")
            for key in set(source) & set(catalog):
                (count, forms), (german_count, german_forms) = (
                    shape(catalog[key]),
                    shape(source[key]),
                )
                if count != german_count:
                    problems.append(f"{lang}.yaml: {key} is counted otherwise than in German")
                elif forms != german_forms:
                    problems.append(f"{lang}.yaml: {key} has other placeholders than German")
        if problems:
            raise CatalogError("\n".join(problems))
        return cls(catalogs, office)

    def __contains__(self, key: object) -> bool:
        return key in self._catalogs[SOURCE_LANGUAGE]

    def keys(self) -> set[str]:
        """All message keys."""
        return set(self._catalogs[SOURCE_LANGUAGE])

    def plain(self, lang: str | None, key: str, /, **values: object) -> str:
        """The text for `key` where Telegram shows text as it is (button labels, the short
        answers to a button press): values filled in unescaped."""
        text = self._text(lang, key, values)
        return text.format(**values) if values else text

    def _text(self, lang: str | None, key: str, values: Mapping[str, object]) -> str:
        """The text for `key`; of a plural text, the form its count among `values` needs."""
        catalog = self._catalogs.get(lang if lang in LANGS else SOURCE_LANGUAGE)
        if catalog is None or key not in catalog:
            catalog = self._catalogs[SOURCE_LANGUAGE]
        entry = catalog[key]
        return entry.choose(values) if isinstance(entry, Plural) else entry

    def get(self, lang: str | None, key: str, /, **values: object) -> Markup:
        """The text for `key` in `lang` (HTML), with `values` filled in, each escaped unless
        it is `Markup`; numbers keep their format specs. A plural text takes the form its
        count needs (`values` names the count as the catalog does, e.g. `days=1`)."""
        text = self._text(lang, key, values)
        if not values:
            return Markup(text)
        safe = {
            name: value if isinstance(value, int | float) else escape(value)
            for name, value in values.items()
        }
        return Markup(text.format(**safe))
