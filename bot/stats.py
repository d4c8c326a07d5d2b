"""`python -m bot stats`: aggregated figures for the office; no personal data."""

from __future__ import annotations

from datetime import timedelta

from bot.app import build_reminders
from bot.db import broadcasts, learned, onboarding, outbox, queries
from bot.db import reports as report_queries
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade_async
from bot.db.models import utcnow
from bot.services.reminders import Deadline
from bot.settings import Settings
from bot.texts import Texts

LEARNED_TOPICS_SHOWN = 10


def learned_lines(counts: list[tuple[str | None, int]]) -> list[str]:
    """Questions coordinators taught: in all, per topic (the most taught first), out of scope."""
    attached = [(topic_id, n) for topic_id, n in counts if topic_id is not None]
    outside = sum(n for topic_id, n in counts if topic_id is None)
    total = outside + sum(n for _, n in attached)
    lines = [
        f"\nLearned questions: {total} ({total - outside} on {len(attached)} topics, "
        f"{outside} out of scope)"
    ]
    lines += [f"  {topic_id:<40} {n:>5}" for topic_id, n in attached[:LEARNED_TOPICS_SHOWN]]
    if len(attached) > LEARNED_TOPICS_SHOWN:
        lines.append(f"  … {len(attached) - LEARNED_TOPICS_SHOWN} more topics")
    return lines


async def collect(settings: Settings, *, days: int = 30) -> list[str]:
    """The summary as text lines."""
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    sessions = create_sessionmaker(engine)
    since = (utcnow() - timedelta(days=days)).date()
    lines = [f"Vielfalt-Lotse statistics (questions: last {days} days)"]
    try:
        async with sessions() as session:
            outcomes = await queries.question_outcomes(session, since=since)
            total = sum(outcomes.values())
            lines.append(f"\nQuestions: {total}")
            for outcome in ("answer", "suggest", "unknown", "out_of_scope"):
                count = outcomes.get(outcome, 0)
                share = f"{count / total:.0%}" if total else "-"
                lines.append(f"  {outcome:<13} {count:>6}  {share}")
            votes = await queries.feedback_votes(session)
            lines.append(
                f"  feedback: {votes.get(True, 0)} helpful, {votes.get(False, 0)} not helpful"
            )
            lines.extend(learned_lines(await learned.count_learned_by_topic(session)))
            chats, subscribed = await queries.chat_counts(session)
            lines.append(f"\nChats: {chats} ({subscribed} subscribed to notices)")
            drafts = await onboarding.count_drafts(session)
            states = await onboarding.request_counts(session)
            submitted = sum(states.values())
            lines.append(
                f"\nOnboarding: {drafts} unfinished forms, {submitted} submitted, "
                f"{states.get('approved', 0)} approved, {states.get('declined', 0)} declined, "
                f"{states.get('submitted', 0) + states.get('in_review', 0)} open"
            )
            newest = await broadcasts.recent_broadcasts(session, limit=5)
            lines.append("\nBroadcasts (newest 5): reach / blocked / failed")
            for b in newest:
                counts = await outbox.status_counts(session, kind="broadcast", ref_id=b.id)
                sent, blocked, failed = (counts.get(k, 0) for k in ("sent", "blocked", "failed"))
                lines.append(f"  #{b.id} {b.status:<9} {sent} / {blocked} / {failed}")
        reminders = build_reminders(
            settings, sessions, Texts.load(settings.locales_dir, office=settings.office_names)
        )
        overview = await reminders.overview()
        today = reminders.today()
        states_count = {"due": 0, "overdue": 0, "submitted": 0, "no date": 0}
        for item in overview:
            key = item.state(today) if isinstance(item, Deadline) else "no date"
            states_count[key] += 1
        lines.append(
            f"\nPartners: {len(overview)} active; reports "
            + ", ".join(f"{k} {v}" for k, v in states_count.items())
        )
        async with sessions() as session:
            in_bot = await report_queries.report_counts(session)
            examples = await report_queries.example_counts(session)
        lines.append(
            f"\nReports in the bot: {in_bot.get('submitted', 0)} submitted, "
            f"{in_bot.get('draft', 0)} being filled in"
        )
        lines.append(f"\nExamples in the directory: {sum(examples.values())}")
        for topic_id, count in sorted(examples.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {topic_id:<36} {count:>4}")
    finally:
        await engine.dispose()
    return lines
