"""How the answers fit a phone: `python -m benchmarks.content` (part of `make bench`).

Prints the length of each topic's first answer message (what a reader sees: title, core answer,
the network region's referral, review date, sources) as median, 90th percentile and maximum,
per language, the longest topics, and how many topics have details, plain language and
regional parts. The test suite holds the median at or below 900 characters.
"""

from __future__ import annotations

import statistics

from knowledge import load_knowledge
from knowledge.evaluation import first_message_lengths
from knowledge.model import REGIONS
from knowledge.text import LANGS

LIMIT = 900


def main() -> None:
    """Print the figures for the bundled knowledge base."""
    kb = load_knowledge()
    lengths = first_message_lengths(kb)
    print(f"== first answer message, characters a reader sees ({len(kb.topics)} topics, de + en)")
    print(
        f"median {statistics.median(lengths):.0f} (test limit {LIMIT}), "
        f"p90 {statistics.quantiles(lengths, n=10)[-1]:.0f}, max {max(lengths)}"
    )
    for index, lang in enumerate(LANGS):
        own = lengths[index :: len(LANGS)]
        print(f"  {lang}: median {statistics.median(own):.0f}, max {max(own)}")
    pairs = sorted(zip(lengths[:: len(LANGS)], kb.topics, strict=True), key=lambda p: -p[0])
    print("  longest (de): " + ", ".join(f"{t.id} {n}" for n, t in pairs[:5]))
    regions = sorted({p.region for t in kb.topics for p in t.regional}, key=REGIONS.index)
    print(
        f"topics with details {sum(bool(t.details) for t in kb.topics)}, "
        f"plain de+en {sum(len(t.plain) == len(LANGS) for t in kb.topics)}, "
        f"regional parts {sum(bool(t.regional) for t in kb.topics)} "
        f"({', '.join(regions) or 'none'})"
    )


if __name__ == "__main__":
    main()
