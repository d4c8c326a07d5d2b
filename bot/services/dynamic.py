"""Live parts appended to some answers: office contact, report due date, next meetings."""

from __future__ import annotations

import html
from datetime import date

from bot.settings import Settings
from bot.texts import Texts
from knowledge import Lang, Topic


def next_due_date(month_day: str, today: date) -> date | None:
    """The next occurrence of the configured "MM-DD" due date on or after `today`."""
    if not month_day:
        return None
    month, day = (int(p) for p in month_day.split("-"))
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:  # 02-29 in a year without it: the last day of February
            candidate = date(year, month, 28)
        if candidate >= today:
            return candidate
    return None


def dynamic_part(topic: Topic, lang: Lang, *, settings: Settings, texts: Texts, today: date) -> str:
    """The HTML to append to this topic's answer, or "" for a static topic."""
    if topic.dynamic == "office_contact":
        if settings.office_contact:
            contact = html.escape(settings.office_contact, quote=False)
            return texts.get(lang, "answer.office_contact", contact=contact)
        return texts.get(lang, "answer.office_contact_missing")
    if topic.dynamic == "report_deadline":
        due = next_due_date(settings.report_due, today)
        if due is None:
            return texts.get(lang, "answer.report_deadline_missing")
        shown = due.strftime(texts.get(lang, "answer.date_format"))
        return texts.get(lang, "answer.report_deadline", date=shown)
    if topic.dynamic == "next_meetings":
        return texts.get(lang, "answer.next_meetings_missing")
    return ""
