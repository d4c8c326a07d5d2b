"""Load and validate a knowledge directory; every problem is reported as `file:line: problem`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from knowledge.model import (
    CATEGORY_IDS,
    DYNAMIC_PARTS,
    OFFICE_PLACEHOLDER,
    ORGANISATION_TYPES,
    REGIONS,
    Category,
    KnowledgeBase,
    PracticeExample,
    RegionalPart,
    ScopeRule,
    Source,
    Topic,
)
from knowledge.render import MESSAGE_LIMIT, render_answer, render_details
from knowledge.sources import POLICY_FILE, NeverSource, SourcePolicy, undated_figure
from knowledge.text import LANGS, Lang

BUNDLED_DIR = Path(__file__).resolve().parent
_ID = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
_SEED = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")
_TOPIC_KEYS = {
    "id",
    "category",
    "title",
    "answer",
    "details",
    "plain",
    "regional",
    "questions",
    "keywords",
    "related",
    "sources",
    "applies_to",
    "dynamic",
    "reviewed",
}
_REQUIRED_KEYS = _TOPIC_KEYS - {"details", "regional", "applies_to", "dynamic"}
# `{office}` is the one placeholder topic texts may use; any other brace is a typo or a leftover.
_BRACED = re.compile(r"\{[^{}\n]*\}|[{}]")


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation finding with its place in a file."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class KnowledgeError(Exception):
    """The knowledge base is broken; `problems` lists every finding."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Mapping(dict[Any, Any]):
    """A YAML mapping that remembers the line of itself and of each key."""

    line: int = 0
    lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    duplicate_keys: list[tuple[int, Any]]


class _BadValue(yaml.constructor.ConstructorError):
    """A value YAML reads but cannot build (an impossible date, a list as a key), and where."""

    def __init__(self, node: yaml.Node, problem: str) -> None:
        super().__init__(problem=problem, problem_mark=node.start_mark)
        self.line = node.start_mark.line + 1
        self.message = problem


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:  # 2024-02-30: the pattern matches, the calendar does not
        raise _BadValue(node, f"impossible date {node.value!r} ({exc})") from None


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Mapping:
    loader.flatten_mapping(node)
    result = _Mapping()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            raise _BadValue(key_node, "a key must be a single word or text, not a list or mapping")
        if key in result:
            loader.duplicate_keys.append((key_node.start_mark.line + 1, key))
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _parse(path: Path, rel: str, problems: list[Problem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(rel, 1, f"not UTF-8 text ({exc.reason})"))
        return None
    try:
        loader = _Loader(text)  # the reader already rejects control characters here
    except yaml.YAMLError as exc:
        problems.append(Problem(rel, 1, f"YAML syntax: {exc}"))
        return None
    loader.duplicate_keys = []
    try:
        data = loader.get_single_data()
    except _BadValue as exc:
        problems.append(Problem(rel, exc.line, exc.message))
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(Problem(rel, line, f"YAML syntax: {exc.problem or exc}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(rel, 1, f"YAML syntax: {exc}"))
        return None
    finally:
        loader.dispose()
    for line, key in loader.duplicate_keys:
        problems.append(Problem(rel, line, f"duplicate key {key!r}"))
    return data


def _line(mapping: Any, key: str) -> int:
    if isinstance(mapping, _Mapping):
        return mapping.lines.get(key, mapping.line)
    return 1


def _lang_texts(
    raw: Any,
    key: str,
    rel: str,
    line: int,
    problems: list[Problem],
    *,
    required: bool = True,
    placeholders: tuple[str, ...] = (),
    other_keys: frozenset[str] = frozenset(),
) -> dict[Lang, str]:
    """Both languages' texts; an optional field may be left out, but never half given."""
    out: dict[Lang, str] = {}
    if raw is None and not required:
        return out
    if not isinstance(raw, Mapping):
        problems.append(Problem(rel, line, f"{key}: expected a mapping with 'de' and 'en'"))
        return out
    for lang in LANGS:
        value = raw.get(lang)
        if isinstance(value, str) and value.strip():
            out[lang] = value.strip()
            _check_placeholders(
                out[lang], f"{key}.{lang}", rel, _line(raw, lang), problems, placeholders
            )
        else:
            problems.append(Problem(rel, _line(raw, lang), f"{key}.{lang}: missing or empty text"))
    for extra in set(raw) - set(LANGS) - other_keys:
        problems.append(Problem(rel, _line(raw, extra), f"{key}: unknown language {extra!r}"))
    return out


def _check_placeholders(
    text: str, key: str, rel: str, line: int, problems: list[Problem], allowed: tuple[str, ...]
) -> None:
    for found in _BRACED.findall(text):
        if found not in allowed:
            hint = f"; only {', '.join(allowed)} is filled in" if allowed else ""
            problems.append(Problem(rel, line, f"{key}: unknown placeholder {found!r}{hint}"))
            return


def _regional(raw: Any, rel: str, line: int, problems: list[Problem]) -> list[RegionalPart]:
    """`regional:` parts, each `{region: NW, de: ..., en: ...}`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem(rel, line, "regional: expected a list of {region, de, en}"))
        return []
    parts: list[RegionalPart] = []
    for item in raw:
        if not isinstance(item, Mapping):
            problems.append(Problem(rel, line, "regional: expected a list of {region, de, en}"))
            continue
        where = _line(item, "region")
        region = item.get("region")
        if region not in REGIONS:
            problems.append(
                Problem(
                    rel, where, f"regional: region {region!r} is not one of {', '.join(REGIONS)}"
                )
            )
        extras = frozenset(str(k) for k in item) - {"region", *LANGS}
        for extra in sorted(extras):
            problems.append(Problem(rel, _line(item, extra), f"regional: unknown field {extra!r}"))
        text = _lang_texts(
            item,
            f"regional.{region}",
            rel,
            where,
            problems,
            placeholders=(OFFICE_PLACEHOLDER,),
            other_keys=extras | {"region"},
        )
        if region in REGIONS and len(text) == len(LANGS):
            parts.append(RegionalPart(region=str(region), text=text))
    return parts


def _lang_lists(
    raw: Any, key: str, rel: str, line: int, problems: list[Problem], minimum: int
) -> dict[Lang, tuple[str, ...]]:
    out: dict[Lang, tuple[str, ...]] = {}
    if not isinstance(raw, Mapping):
        problems.append(Problem(rel, line, f"{key}: expected a mapping with 'de' and 'en' lists"))
        return out
    for lang in LANGS:
        items = raw.get(lang)
        where = _line(raw, lang)
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            problems.append(Problem(rel, where, f"{key}.{lang}: expected a list of texts"))
            continue
        if len(items) < minimum:
            problems.append(
                Problem(rel, where, f"{key}.{lang}: needs at least {minimum}, has {len(items)}")
            )
        out[lang] = tuple(i.strip() for i in items)
    return out


def _source(
    raw: Any, rel: str, line: int, problems: list[Problem], policy: SourcePolicy
) -> Source | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("title"), str):
        problems.append(Problem(rel, line, "source: needs a 'title' text"))
        return None
    where = _line(raw, "title")
    url, seed, note = raw.get("url"), raw.get("seed"), raw.get("note")
    if sum(v is not None for v in (url, seed, note)) != 1:
        problems.append(Problem(rel, where, "source: give exactly one of url, seed or note"))
        return None
    if url is not None:
        parsed = urlparse(str(url))
        if parsed.scheme not in ("http", "https") or "." not in parsed.netloc or " " in str(url):
            problems.append(Problem(rel, _line(raw, "url"), f"source: malformed URL {url!r}"))
            return None
        refused = policy.url_problem(str(url))
        if refused:
            problems.append(Problem(rel, _line(raw, "url"), refused))
            return None
    if seed is not None and not _SEED.match(str(seed)):
        problems.append(Problem(rel, _line(raw, "seed"), f"source: unknown seed name {seed!r}"))
        return None
    return Source(
        title=str(raw["title"]).strip(),
        url=str(url) if url is not None else None,
        seed=str(seed) if seed is not None else None,
        note=str(note) if note is not None else None,
    )


def _topic(raw: Any, rel: str, problems: list[Problem], policy: SourcePolicy) -> Topic | None:
    if not isinstance(raw, _Mapping):
        problems.append(Problem(rel, 1, "a topic must be a mapping"))
        return None
    before = len(problems)
    for key in sorted(_REQUIRED_KEYS - set(raw)):
        problems.append(Problem(rel, raw.line, f"missing field {key!r}"))
    for key in sorted(set(raw) - _TOPIC_KEYS, key=str):
        problems.append(Problem(rel, raw.lines[key], f"unknown field {key!r}"))
    topic_id = raw.get("id")
    if not isinstance(topic_id, str) or not _ID.match(topic_id):
        problems.append(Problem(rel, _line(raw, "id"), f"id: {topic_id!r} is not a lower_snake id"))
    category = raw.get("category")
    if category not in CATEGORY_IDS:
        problems.append(
            Problem(
                rel,
                _line(raw, "category"),
                f"category: {category!r} is not one of {', '.join(CATEGORY_IDS)}",
            )
        )
    # A missing required field is reported once above; its texts are then not checked again.
    title = _lang_texts(
        raw.get("title"), "title", rel, _line(raw, "title"), problems, required="title" in raw
    )
    # The three user texts share their checks; each may contain only the office placeholder.
    answer, details, plain = (
        _lang_texts(
            raw.get(name),
            name,
            rel,
            _line(raw, name),
            problems,
            required=name in raw,
            placeholders=(OFFICE_PLACEHOLDER,),
        )
        for name in ("answer", "details", "plain")
    )
    regional = _regional(raw.get("regional"), rel, _line(raw, "regional"), problems)
    questions = _lang_lists(
        raw.get("questions"), "questions", rel, _line(raw, "questions"), problems, 3
    )
    keywords = _lang_lists(
        raw.get("keywords"), "keywords", rel, _line(raw, "keywords"), problems, 1
    )
    related_raw = raw.get("related", [])
    if not isinstance(related_raw, list) or not all(isinstance(r, str) for r in related_raw):
        problems.append(
            Problem(rel, _line(raw, "related"), "related: expected a list of topic ids")
        )
        related_raw = []
    sources_raw = raw.get("sources")
    sources: list[Source] = []
    if not isinstance(sources_raw, list) or not sources_raw:
        problems.append(Problem(rel, _line(raw, "sources"), "sources: at least one source needed"))
    else:
        for item in sources_raw:
            src = _source(item, rel, _line(raw, "sources"), problems, policy)
            if src:
                sources.append(src)
    applies = raw.get("applies_to", [])
    if not isinstance(applies, list) or any(a not in ORGANISATION_TYPES for a in applies):
        problems.append(
            Problem(
                rel,
                _line(raw, "applies_to"),
                f"applies_to: use only {', '.join(ORGANISATION_TYPES)}",
            )
        )
        applies = []
    dynamic = raw.get("dynamic")
    if dynamic is not None and dynamic not in DYNAMIC_PARTS:
        problems.append(
            Problem(rel, _line(raw, "dynamic"), f"dynamic: use one of {', '.join(DYNAMIC_PARTS)}")
        )
    reviewed = raw.get("reviewed")
    if "reviewed" in raw and not isinstance(reviewed, date):
        problems.append(
            Problem(rel, _line(raw, "reviewed"), "reviewed: expected a date YYYY-MM-DD")
        )
    if len(problems) > before:
        return None
    assert isinstance(topic_id, str)
    assert isinstance(reviewed, date)
    topic = Topic(
        id=topic_id,
        category=str(category),
        title=title,
        answer=answer,
        plain=plain,
        details=details,
        regional=tuple(regional),
        questions=questions,
        keywords=keywords,
        related=tuple(related_raw),
        sources=tuple(sources),
        applies_to=tuple(applies),
        dynamic=dynamic,
        reviewed=reviewed,
        path=rel,
    )
    dated = _dated_texts(raw, topic)
    undated = undated_figure([(key, text) for key, text, _ in dated], topic.sources, reviewed.year)
    if undated:
        line = next(line for key, _, line in dated if key == undated[0])
        problems.append(Problem(rel, line, undated[1]))
        return None
    size_problem = _oversized(topic)
    if size_problem:
        problems.append(Problem(rel, _line(raw, size_problem[0]), size_problem[1]))
        return None
    return topic


def _dated_texts(raw: _Mapping, topic: Topic) -> list[tuple[str, str, int]]:
    """Every user-visible text of a topic as (key, text, line), for the dated-figures rule."""
    out: list[tuple[str, str, int]] = []
    for key in ("title", "answer", "details", "plain"):
        texts: Mapping[Lang, str] = getattr(topic, key)
        for lang, text in texts.items():
            out.append((f"{key}.{lang}", text, _line(raw.get(key), lang)))
    items = raw.get("regional") or []
    for part, item in zip(topic.regional, items, strict=False):
        for lang, text in part.text.items():
            out.append((f"regional.{part.region}.{lang}", text, _line(item, lang)))
    return out


def _oversized(topic: Topic) -> tuple[str, str] | None:
    """The field and message when a rendered answer would not fit one Telegram message."""
    regions = [None, *sorted({part.region for part in topic.regional})]
    for lang in LANGS:
        for plain_flag in (False, True):
            for region in regions:
                size = len(render_answer(topic, lang, plain=plain_flag, region=region))
                if size > MESSAGE_LIMIT:
                    return "answer", (
                        f"answer.{lang}: {size} characters after formatting, "
                        f"more than one Telegram message ({MESSAGE_LIMIT})"
                    )
        size = len(render_details(topic, lang))
        if size > MESSAGE_LIMIT:
            return "details", (
                f"details.{lang}: {size} characters after formatting, "
                f"more than one Telegram message ({MESSAGE_LIMIT})"
            )
    return None


def _categories(directory: Path, problems: list[Problem]) -> list[Category]:
    path = directory / "categories.yaml"
    rel = path.name
    if not path.exists():
        problems.append(Problem(rel, 1, "file missing"))
        return []
    data = _parse(path, rel, problems)
    out: list[Category] = []
    items = data.get("categories") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        problems.append(Problem(rel, 1, "expected 'categories:' with a list"))
        return out
    for item in items:
        line = _line(item, "id")
        if not isinstance(item, Mapping) or item.get("id") not in CATEGORY_IDS:
            problems.append(Problem(rel, line, "category: unknown or missing id"))
            continue
        title = _lang_texts(item.get("title"), "title", rel, line, problems)
        if len(title) == len(LANGS):
            out.append(Category(id=str(item["id"]), title=title))
    return out


def _optional_list(
    directory: Path, name: str, key: str, expected: str, problems: list[Problem]
) -> list[Any]:
    """The list under `key` in the optional file `name` ([] without the file; a problem when
    the file has no such list)."""
    path = directory / name
    if not path.exists():
        return []
    before = len(problems)
    data = _parse(path, name, problems)
    found = data.get(key) if isinstance(data, Mapping) else None
    if len(problems) > before:  # unreadable: that problem is reported already
        return []
    if not isinstance(found, list):
        problems.append(Problem(name, 1, f"expected '{key}:' with {expected}"))
        return []
    return found


def _synonyms(directory: Path, problems: list[Problem]) -> list[frozenset[str]]:
    name = "synonyms.yaml"
    out: list[frozenset[str]] = []
    for group in _optional_list(directory, name, "groups", "a list of word lists", problems):
        if not isinstance(group, list) or len(group) < 2:
            problems.append(Problem(name, 1, f"synonym group {group!r}: needs two or more"))
            continue
        out.append(frozenset(str(w) for w in group))
    return out


def _word_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a scope pattern so that it matches only from the start of a word.

    "lied" must not fire inside "Mitglied", nor "rain" inside "train": a match that begins with
    a letter or digit needs a non-word character (or the start) before it. Patterns that begin
    with a space or an anchor are left as written. A pattern may still match a word's prefix
    ("aufenthalt" in "aufenthaltserlaubnis"); end it with `\\b` to forbid that.
    """
    return re.compile(rf"(?:(?<!\w)|(?!\w))(?:{pattern})")


def _scope_rules(directory: Path, problems: list[Problem]) -> list[ScopeRule]:
    name = "scope.yaml"
    out: list[ScopeRule] = []
    for rule in _optional_list(directory, name, "rules", "a list", problems):
        line = _line(rule, "id")
        if not isinstance(rule, Mapping) or not isinstance(rule.get("id"), str):
            problems.append(Problem(name, line, "rule: needs an id"))
            continue
        try:
            patterns = tuple(_word_pattern(p) for p in rule.get("patterns", []))
            requires = tuple(_word_pattern(p) for p in rule.get("requires", []))
            unless = tuple(_word_pattern(p) for p in rule.get("unless", []))
        except (re.error, TypeError) as exc:
            problems.append(Problem(name, line, f"rule {rule['id']}: bad pattern ({exc})"))
            continue
        examples = rule.get("examples", [])
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            problems.append(Problem(name, line, f"rule {rule['id']}: examples must be texts"))
            continue
        if not patterns and not examples:
            problems.append(Problem(name, line, f"rule {rule['id']}: no patterns or examples"))
            continue
        out.append(
            ScopeRule(
                id=str(rule["id"]),
                patterns=patterns,
                requires=requires,
                unless=unless,
                examples=tuple(examples),
            )
        )
    return out


_EXAMPLE_KEYS = {"id", "topic", "partner", "org_type", "region", "year", "done", "result", "source"}
EXAMPLES_DIR = "examples"


def _example(
    raw: Any, rel: str, problems: list[Problem], policy: SourcePolicy, topic_ids: set[str]
) -> PracticeExample | None:
    """One public example of the directory of practice, or None (its problems reported)."""
    if not isinstance(raw, _Mapping):
        problems.append(Problem(rel, 1, "example: expected a mapping"))
        return None
    before = len(problems)
    for key in sorted(_EXAMPLE_KEYS - set(raw) - {"result"}):
        problems.append(Problem(rel, raw.line, f"example: missing field {key!r}"))
    for key in sorted(set(raw) - _EXAMPLE_KEYS, key=str):
        problems.append(Problem(rel, raw.lines[key], f"example: unknown field {key!r}"))
    example_id = raw.get("id")
    if "id" in raw and (not isinstance(example_id, str) or not _ID.match(example_id)):
        problems.append(
            Problem(rel, _line(raw, "id"), f"id: {example_id!r} is not a lower_snake id")
        )
    topic = raw.get("topic")
    if "topic" in raw and topic not in topic_ids:
        problems.append(Problem(rel, _line(raw, "topic"), f"topic: unknown topic id {topic!r}"))
    for key, limit in (("partner", 200), ("region", 100)):
        value = raw.get(key)
        if key in raw and (not isinstance(value, str) or not 2 <= len(value.strip()) <= limit):
            problems.append(Problem(rel, _line(raw, key), f"{key}: expected a text (2–{limit})"))
    if "org_type" in raw and raw.get("org_type") not in ORGANISATION_TYPES:
        problems.append(
            Problem(
                rel,
                _line(raw, "org_type"),
                f"org_type: use one of {', '.join(ORGANISATION_TYPES)}",
            )
        )
    year = raw.get("year")
    if "year" in raw and (not isinstance(year, int) or not 1990 <= year <= 2100):
        problems.append(Problem(rel, _line(raw, "year"), "year: expected a year such as 2014"))
    done = _lang_texts(raw.get("done"), "done", rel, _line(raw, "done"), problems)
    result = _lang_texts(
        raw.get("result"), "result", rel, _line(raw, "result"), problems, required=False
    )
    source = _source(raw.get("source"), rel, _line(raw, "source"), problems, policy)
    if len(problems) > before or source is None:
        return None
    return PracticeExample(
        id=str(example_id),
        topic=str(topic),
        partner=str(raw["partner"]).strip(),
        org_type=str(raw["org_type"]),
        region=str(raw["region"]).strip(),
        year=year if isinstance(year, int) else 0,
        done=done,
        result=result,
        source=source,
        path=rel,
    )


def _examples(
    root: Path, problems: list[Problem], policy: SourcePolicy, topic_ids: set[str]
) -> list[PracticeExample]:
    """`examples/*.yaml`: each file an `examples:` list; ids unique across files."""
    folder = root / EXAMPLES_DIR
    out: list[PracticeExample] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        rel = f"{EXAMPLES_DIR}/{path.name}"
        data = _parse(path, rel, problems)
        items = data.get("examples") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            if data is not None:
                problems.append(Problem(rel, 1, "expected 'examples:' with a list of examples"))
            continue
        for raw in items:
            example = _example(raw, rel, problems, policy, topic_ids)
            if example is None:
                continue
            line = _line(raw, "id")
            if example.id in seen:
                problems.append(
                    Problem(rel, line, f"id {example.id!r} already used at {seen[example.id]}")
                )
                continue
            seen[example.id] = f"{rel}:{line}"
            out.append(example)
    return out


def _source_policy(root: Path, problems: list[Problem]) -> SourcePolicy:
    """The knowledge directory's sources policy, else the bundled one."""
    path = root / POLICY_FILE
    if not path.exists():
        path = BUNDLED_DIR / POLICY_FILE
    if not path.exists():
        return SourcePolicy()
    rel = path.name
    data = _parse(path, rel, problems)
    items = data.get("never") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        problems.append(Problem(rel, 1, "expected 'never:' with a list of {host|pattern, why}"))
        return SourcePolicy()
    never: list[NeverSource] = []
    for item in items:
        line = item.line if isinstance(item, _Mapping) else 1
        if not isinstance(item, Mapping) or not isinstance(item.get("why"), str):
            problems.append(Problem(rel, line, "never: each entry needs host or pattern, and why"))
            continue
        host, pattern = item.get("host"), item.get("pattern")
        if (host is None) == (pattern is None) or set(item) - {"host", "pattern", "why"}:
            problems.append(
                Problem(rel, line, "never: give exactly one of host or pattern, and why")
            )
            continue
        if host is not None:
            never.append(NeverSource(why=item["why"], host=str(host).lower()))
            continue
        try:
            never.append(NeverSource(why=item["why"], pattern=re.compile(str(pattern))))
        except re.error as exc:
            problems.append(Problem(rel, line, f"never: bad pattern {pattern!r} ({exc})"))
    return SourcePolicy(never=tuple(never))


def load_knowledge(directory: Path | str | None = None) -> KnowledgeBase:
    """Load and validate a knowledge directory; raise KnowledgeError listing every problem."""
    root = Path(directory) if directory is not None else BUNDLED_DIR
    problems: list[Problem] = []
    topics_dir = root / "topics"
    files = sorted(topics_dir.glob("*.yaml")) if topics_dir.is_dir() else []
    if not files:
        raise KnowledgeError([Problem(str(topics_dir), 1, "no topic files (*.yaml) found")])
    digest = hashlib.sha256()
    topics: list[Topic] = []
    id_lines: dict[str, str] = {}
    related_checks: list[tuple[Topic, int]] = []
    seen_invalid: set[str] = set()
    policy = _source_policy(root, problems)
    for path in files:
        rel = f"topics/{path.name}"
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
        before = len(problems)
        data = _parse(path, rel, problems)
        if data is None:
            if len(problems) == before:
                problems.append(Problem(rel, 1, "empty file"))
            continue
        items = data.get("topics") if isinstance(data, Mapping) and "topics" in data else [data]
        if not isinstance(items, list):
            problems.append(Problem(rel, 1, "'topics:' must be a list"))
            continue
        for raw in items:
            if raw is None:
                continue
            topic = _topic(raw, rel, problems, policy)
            if topic is None:
                if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
                    seen_invalid.add(raw["id"])  # its own problems are reported already
                continue
            where = f"{rel}:{_line(raw, 'id')}"
            if topic.id in id_lines:
                problems.append(
                    Problem(
                        rel,
                        _line(raw, "id"),
                        f"id {topic.id!r} already used at {id_lines[topic.id]}",
                    )
                )
                continue
            id_lines[topic.id] = where
            topics.append(topic)
            related_checks.append((topic, _line(raw, "related")))
    for topic, line in related_checks:
        for rel_id in topic.related:
            if rel_id not in id_lines and rel_id not in seen_invalid:
                problems.append(Problem(topic.path, line, f"related: unknown topic id {rel_id!r}"))
            elif rel_id == topic.id:
                problems.append(
                    Problem(topic.path, line, "related: a topic cannot relate to itself")
                )
    categories = _categories(root, problems)
    known_categories = {c.id for c in categories}
    for topic in topics:
        if categories and topic.category not in known_categories:
            problems.append(Problem(topic.path, 1, f"category {topic.category!r} has no title"))
    synonyms = _synonyms(root, problems)
    scope_rules = _scope_rules(root, problems)
    # Not part of the content version: examples never change what the search indexes.
    examples = _examples(root, problems, policy, set(id_lines))
    for extra in ("categories.yaml", "synonyms.yaml", "scope.yaml", POLICY_FILE):
        if (root / extra).exists():
            digest.update((root / extra).read_bytes())
    if problems:
        raise KnowledgeError(problems)
    return KnowledgeBase(
        topics=tuple(topics),
        categories=tuple(categories),
        synonyms=tuple(synonyms),
        scope_rules=tuple(scope_rules),
        version=digest.hexdigest()[:16],
        by_id={t.id: t for t in topics},
        examples=tuple(examples),
    )
