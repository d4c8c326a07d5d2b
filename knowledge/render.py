"""Turn a topic into Telegram HTML and split long texts cleanly into messages."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from knowledge.model import DEFAULT_OFFICE_NAMES, fill_office
from knowledge.sources import years_in
from knowledge.text import Lang

if TYPE_CHECKING:
    from knowledge.model import Source, Topic

MESSAGE_LIMIT = 4096
# The first message names this many sources briefly; all of them, with titles, follow the details.
SHOWN_SOURCES = 3
_LABEL_CHARS = 32
_PUBLISHER = re.compile(r" [–—-] |: ")


@dataclass(frozen=True, slots=True)
class AnswerLabels:
    """The few words around an answer; the bot passes them from its locale catalog."""

    sources: str
    reviewed: str  # with a {date} placeholder: "geprüft am {date}"
    date_format: str
    more_sources: str = "+{count}"  # with a {count} placeholder: "und {count} weitere"


DEFAULT_LABELS: dict[Lang, AnswerLabels] = {
    "de": AnswerLabels(
        sources="Quellen",
        reviewed="geprüft am {date}",
        date_format="%d.%m.%Y",
        more_sources="und {count} weitere",
    ),
    "en": AnswerLabels(
        sources="Sources",
        reviewed="reviewed on {date}",
        date_format="%d %B %Y",
        more_sources="and {count} more",
    ),
}
_TAG = re.compile(r"<[^>]+>")


def format_body(text: str) -> str:
    """Escape curated plain text for Telegram HTML and draw "- " bullets as "•"."""
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("- "):
            indent = "  " if len(line) - len(stripped) >= 2 else ""
            lines.append(f"{indent}• {html.escape(stripped[2:], quote=False)}")
        else:
            lines.append(html.escape(line, quote=False))
    return "\n".join(lines).strip()


def source_label(source: Source) -> str:
    """A short name for a source: the publisher part of its title ("land.nrw", "BAMF"), else the
    link's host, with the (latest) year its title names: "land.nrw 2014"."""
    head = _PUBLISHER.split(source.title, maxsplit=1)[0].strip()
    if len(head) > _LABEL_CHARS:
        host = urlparse(source.url).hostname if source.url else None
        head = host.removeprefix("www.") if host else head[: _LABEL_CHARS - 1].rstrip() + "…"
    years = sorted(y for y in years_in(source.title) if str(y) not in head)
    return f"{head} {years[-1]}" if years else head


def _linked(text: str, url: str | None) -> str:
    text = html.escape(text, quote=False)
    return f'<a href="{html.escape(url, quote=True)}">{text}</a>' if url else text


def render_sources(topic: Topic, labels: AnswerLabels) -> str:
    """Every source with its full title, linked where a URL is known."""
    parts = [_linked(source.title, source.url) for source in topic.sources]
    return f"<i>{labels.sources}:</i> " + "; ".join(parts)


def render_footer(topic: Topic, labels: AnswerLabels) -> str:
    """The first message's last line: the review date and the sources.

    With details to follow, the sources are named briefly (the first few, linked) and listed in
    full after the details; without, they are listed in full here.
    """
    reviewed = labels.reviewed.format(date=topic.reviewed.strftime(labels.date_format))
    if not topic.details:
        return f"<i>{reviewed}</i>\n{render_sources(topic, labels)}"
    brief: dict[str, str | None] = {}
    for source in topic.sources:
        brief.setdefault(source_label(source), source.url)
    names = [_linked(name, url) for name, url in list(brief.items())[:SHOWN_SOURCES]]
    more = len(brief) - len(names)
    tail = " " + labels.more_sources.format(count=more) if more > 0 else ""
    return f"<i>{reviewed} · {labels.sources}:</i> " + ", ".join(names) + tail


def render_answer(
    topic: Topic,
    lang: Lang,
    *,
    plain: bool = False,
    labels: AnswerLabels | None = None,
    extra: str = "",
    region: str | None = None,
    office: str | None = None,
) -> str:
    """The first message of an answer: title, core answer (or its plain-language version), the
    parts for `region`, an optional live part, the review date and the sources."""
    labels = labels or DEFAULT_LABELS[lang]
    office = office or DEFAULT_OFFICE_NAMES[lang]
    pieces = [f"<b>{html.escape(topic.title[lang], quote=False)}</b>"]
    pieces.append(format_body(fill_office(topic.answer_text(lang, plain=plain), office)))
    if region:
        pieces.extend(
            format_body(fill_office(text, office)) for text in topic.regional_texts(lang, region)
        )
    if extra:
        pieces.append(extra)
    pieces.append(render_footer(topic, labels))
    return "\n\n".join(pieces)


def render_details(
    topic: Topic, lang: Lang, *, labels: AnswerLabels | None = None, office: str | None = None
) -> str:
    """The follow-up behind "Mehr dazu" / "More": title, details and every source in full
    ("" when the topic has no details)."""
    details = topic.details.get(lang)
    if not details:
        return ""
    labels = labels or DEFAULT_LABELS[lang]
    office = office or DEFAULT_OFFICE_NAMES[lang]
    title = html.escape(topic.title[lang], quote=False)
    body = format_body(fill_office(details, office))
    return f"<b>{title}</b>\n\n{body}\n\n{render_sources(topic, labels)}"


def visible_text(html_text: str) -> str:
    """What a reader sees of a Telegram HTML text (Telegram counts these characters)."""
    return html.unescape(_TAG.sub("", html_text))


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split HTML text into messages of at most `limit` characters.

    Splits at paragraph breaks first, then at line breaks, then at spaces, so tags that stay on
    one line (our <b>, <i>, <a>) are never cut apart.
    """
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for separator, piece in _pieces(text, limit):
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = piece
    if current:
        chunks.append(current)
    return chunks


def _pieces(text: str, limit: int) -> list[tuple[str, str]]:
    """Break text into pieces of at most `limit`, each with the separator that preceded it."""
    out: list[tuple[str, str]] = []
    for paragraph in text.split("\n\n"):
        lines = [paragraph] if len(paragraph) <= limit else paragraph.split("\n")
        for j, line in enumerate(lines):
            for k, piece in enumerate(_hard_wrap(line, limit)):
                out.append(("\n\n" if j == k == 0 else "\n" if k == 0 else " ", piece))
    return out


def _hard_wrap(line: str, limit: int) -> list[str]:
    """A line split at spaces (or, for one enormous word, anywhere) into parts of `limit`."""
    if len(line) <= limit:
        return [line]
    parts: list[str] = []
    buf = ""
    for word in line.split(" "):
        while len(word) > limit:
            if buf:
                parts.append(buf)
                buf = ""
            parts.append(word[:limit])
            word = word[limit:]
        candidate = f"{buf} {word}" if buf else word
        if len(candidate) <= limit:
            buf = candidate
        else:
            parts.append(buf)
            buf = word
    if buf:
        parts.append(buf)
    return parts
