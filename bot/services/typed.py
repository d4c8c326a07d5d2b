"""What the forms (/join, /report) accept as a typed answer, before their own checks."""

from __future__ import annotations

from enum import StrEnum


class Unfit(StrEnum):
    """Why a typed text fits no form field (each form's own Problem has these values too)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"


def typed_text(raw: str, *, limit: int, keep_lines: bool = False) -> str | Unfit:
    """The answer as stored: white space folded to single spaces (a free text of several lines:
    only trimmed), at most `limit` characters; or why it cannot be taken."""
    value = raw.strip() if keep_lines else " ".join(raw.split())
    if not value:
        return Unfit.EMPTY
    if len(value) > limit:
        return Unfit.TOO_LONG
    return value
