"""The sources policy: which links a topic may cite, and that its dated figures have a dated source.

The rules and their reasons are written down in `source_policy.yaml`, next to the list of hosts
that are never a source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from knowledge.model import Source

POLICY_FILE = "source_policy.yaml"
# Years that date a fact; other numbers are counts, postcodes or paragraphs ("§ 2010 BGB").
_YEAR = re.compile(r"(?<!\d)(?<!§ )(?<!§)(199\d|20[0-2]\d|2030)(?!\d)")


@dataclass(frozen=True, slots=True)
class NeverSource:
    """A host (with its subdomains) or a URL pattern that is never a source, and why."""

    why: str
    host: str | None = None
    pattern: re.Pattern[str] | None = None

    def matches(self, url: str, host: str) -> bool:
        """True when `url` (whose host is `host`) falls under this entry."""
        if self.pattern is not None:
            return self.pattern.search(url) is not None
        if self.host is None:
            return False
        if self.host.endswith(".*"):  # any top-level domain
            name = self.host[:-2]
            stem = host.rsplit(".", 1)[0] if "." in host else host
            return stem == name or stem.endswith(f".{name}")
        return host == self.host or host.endswith(f".{self.host}")


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """The never-a-source list; the https and trailing-dot rules hold for every policy."""

    never: tuple[NeverSource, ...] = ()

    def url_problem(self, url: str) -> str | None:
        """What is wrong with citing `url`, or None when it may be cited."""
        parsed = urlparse(url)
        host = (parsed.hostname or "").lower()
        if parsed.scheme != "https":
            return f"source: use https, not {parsed.scheme}: {url!r}"
        if parsed.netloc.endswith(".") or host.endswith("."):
            return f"source: host ends with a dot: {url!r}"
        for entry in self.never:
            if entry.matches(url, host):
                return (
                    f"source: {host} is never a source ({entry.why}): {url!r}; cite the primary "
                    "publisher, or give the citation as title + note without a link"
                )
        return None


def years_in(text: str) -> set[int]:
    """The years 1990–2030 written in `text` ("2019", "2012–2022"), not parts of other numbers."""
    return {int(y) for y in _YEAR.findall(text)}


def source_years(sources: Iterable[Source]) -> set[int]:
    """The years the sources are dated by: those written in their titles and notes."""
    found: set[int] = set()
    for source in sources:
        found |= years_in(source.title)
        if source.note:
            found |= years_in(source.note)
    return found


def undated_figure(
    texts: Sequence[tuple[str, str]], sources: Sequence[Source], reviewed_year: int
) -> tuple[str, str] | None:
    """The first text (its key and a message) with a year no source covers, else None.

    `texts` are (key, text) pairs such as ("answer.de", "..."). A year up to `reviewed_year` is
    covered when a source is dated that year or later; a later year (a plan, a period) when any
    source is dated at all.
    """
    dated = source_years(sources)
    newest = max(dated, default=None)
    for key, text in texts:
        for year in sorted(years_in(text)):
            if newest is None:
                return key, (
                    f"{key} names the year {year}, but no source is dated; write the source's "
                    'date into its title or note (e.g. "…, 2019")'
                )
            if year <= reviewed_year and year > newest:
                return key, (
                    f"{key} names the year {year}, but the newest source is dated {newest}; "
                    f"cite a source of {year} or later, or drop the year"
                )
    return None
