"""Live parts appended to some answers: office contact, report due date, next meetings."""

from __future__ import annotations

from datetime import date

from bot.services.localtime import local
from bot.services.reminders import ReminderService
from bot.settings import Settings
from bot.texts import Texts, join
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


async def live_part(
    topic: Topic,
    lang: Lang,
    *,
    settings: Settings,
    texts: Texts,
    reminders: ReminderService,
    chat_id: int,
) -> str:
    """The live part of a topic: the asking partner's own due date, the next meetings."""
    zone = settings.zone
    if topic.dynamic == "report_deadline":
        found = await reminders.deadlines_for_chat(chat_id=chat_id)
        if found:
            due = min(d.due for d in found)
            shown = due.strftime(texts.get(lang, "answer.date_format"))
            return texts.get(lang, "answer.report_deadline", date=shown)
    if topic.dynamic == "next_meetings":
        meetings = await reminders.upcoming(limit=3)
        if meetings:
            lines = join(
                "\n",
                [
                    texts.get(
                        lang,
                        "reminders.next_meeting_line",
                        when=local(m.starts_at, zone),
                        title=m.title,
                    )
                    for m in meetings
                ],
            )
            return texts.get(lang, "reminders.next_meetings", lines=lines)
    return dynamic_part(topic, lang, settings=settings, texts=texts, today=reminders.today())


def dynamic_part(topic: Topic, lang: Lang, *, settings: Settings, texts: Texts, today: date) -> str:
    """The configured part of a topic (office contact, the network's due date), or ""."""
    if topic.dynamic == "office_contact":
        if settings.office_contact:
            return texts.get(lang, "answer.office_contact", contact=settings.office_contact)
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
