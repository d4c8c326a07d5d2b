"""`python -m bot`: run the bot, ask the knowledge base, check it, chat offline, migrate.

The subcommands, flags and the `ask --json` output are an interface others script against.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import json
import sys
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, TextIO, TypeVar

from bot.settings import Settings, SettingsError, load_settings
from knowledge import (
    KnowledgeBase,
    KnowledgeError,
    Outcome,
    SearchEngine,
    SearchResult,
    load_knowledge,
)
from knowledge.model import DEFAULT_OFFICE_NAMES, fill_office
from knowledge.text import Lang

T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Vielfalt-Lotse: Telegram assistant for intercultural opening networks.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (long polling; --webhook for webhook mode)")
    run.add_argument("--webhook", action="store_true", help="receive updates through a webhook")

    ask = commands.add_parser("ask", help="answer questions from the knowledge base (offline)")
    ask.add_argument("--lang", choices=("de", "en"), help="answer language (default: detected)")
    ask.add_argument("--json", action="store_true", help="one JSON object per result")
    ask.add_argument("--batch", metavar="FILE", help="one question per line; '-' reads stdin")
    ask.add_argument(
        "question", nargs="*", metavar="QUESTION", help="the question (words are joined)"
    )

    kb = commands.add_parser("kb", help="knowledge base: check, list, learned questions")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True, metavar="KB_COMMAND")
    kb_check = kb_commands.add_parser(
        "check",
        help="validate every topic file; exit 1 with file:line errors",
        description="Validate every topic file (fields, sources policy, message sizes); exit 1 "
        "with one 'file:line: problem' line each. With --stale MONTHS, list instead the topics "
        "whose `reviewed` date is more than MONTHS months ago, one 'file: reviewed YYYY-MM-DD "
        "(N months)' line each, oldest first (exit 0).",
    )
    kb_check.add_argument(
        "--stale",
        type=_months,
        metavar="MONTHS",
        help="list topics last reviewed more than MONTHS months ago (due for review)",
    )
    kb_list = kb_commands.add_parser("list", help="topics with ids and titles")
    kb_list.add_argument("--json", action="store_true", help="as a JSON list")
    kb_learned = kb_commands.add_parser(
        "learned", help="questions coordinators attached to topics in the bot"
    )
    kl_commands = kb_learned.add_subparsers(dest="learned_command", required=True, metavar="CMD")
    kl_export = kl_commands.add_parser(
        "export",
        help="as YAML grouped by topic id ({de: [...], en: [...]}) plus an out_of_scope list, "
        "to merge into the topic files",
    )
    kl_export.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE",
        help="where to write ('-', the default: stdout)",
    )

    commands.add_parser("chat", help="talk to the bot in the terminal, offline")
    commands.add_parser("worker", help="deliver the outbox (a worker process of its own)")
    stats = commands.add_parser("stats", help="aggregated figures (no personal data)")
    stats.add_argument("--days", type=_days, default=30, help="questions of the last N days")

    partners = commands.add_parser("partners", help="partner organisations")
    pa_commands = partners.add_subparsers(dest="partners_command", required=True, metavar="CMD")
    imp = pa_commands.add_parser("import", help="import partners from CSV (all rows or none)")
    imp.add_argument("file", metavar="FILE.csv")
    pa_commands.add_parser("list", help="partners with contacts and report due dates")
    invite = pa_commands.add_parser(
        "invite", help="an invite link per partner, for a mail merge (CSV: UTF-8, ';', header)"
    )
    invite.add_argument("ids", nargs="*", type=int, metavar="ID", help="partner ids (see list)")
    invite.add_argument("--all", action="store_true", help="every active partner")
    invite.add_argument("--out", metavar="FILE.csv", help="write the CSV here (default: stdout)")

    events = commands.add_parser("events", help="network meetings")
    ev_commands = events.add_subparsers(dest="events_command", required=True, metavar="CMD")
    add = ev_commands.add_parser("add", help="create a meeting (reminders follow automatically)")
    add.add_argument("--title", required=True)
    add.add_argument("--start", required=True, metavar="ISO-TIME", help="e.g. 2027-03-30T10:00")
    add.add_argument("--end", required=True, metavar="ISO-TIME")
    add.add_argument("--place")
    add.add_argument("--url", help="online link")
    add.add_argument("--description")
    add.add_argument("--audience", choices=("partners", "subscribers", "all"), default="partners")

    requests = commands.add_parser("requests", help="partnership requests")
    rq_commands = requests.add_subparsers(dest="requests_command", required=True, metavar="CMD")
    export = rq_commands.add_parser("export", help="all requests as CSV (UTF-8, ';', header)")
    export.add_argument("file", metavar="FILE.csv")

    reports = commands.add_parser("reports", help="yearly reports filled in the bot")
    rp_commands = reports.add_subparsers(dest="reports_command", required=True, metavar="CMD")
    rp_export = rp_commands.add_parser(
        "export", help="one row per item of the submitted reports (CSV: UTF-8, ';', header)"
    )
    rp_export.add_argument("file", nargs="?", metavar="FILE.csv", help="same as --out")
    rp_export.add_argument("--out", metavar="FILE.csv", help="write the CSV here")
    rp_export.add_argument("--year", type=int, help="only the reports of this year")
    rp_export.add_argument(
        "--files", metavar="FILE.zip", help="also the uploaded PDFs as a ZIP (needs BOT_TOKEN)"
    )

    broadcast = commands.add_parser("broadcast", help="office broadcasts")
    bc_commands = broadcast.add_subparsers(dest="broadcast_command", required=True, metavar="CMD")
    send = bc_commands.add_parser("send", help="send a notice and follow its delivery")
    send.add_argument("--audience", required=True, choices=("partners", "subscribers", "all"))
    send.add_argument("--text", required=True, help="the notice (plain text)")
    send.add_argument(
        "--at", metavar="ISO-TIME", help="send later, e.g. 2026-12-01T09:00 (TIMEZONE)"
    )
    send.add_argument("--lang", choices=("de", "en"), help="only recipients with this language")
    send.add_argument(
        "--partner-type",
        choices=("authority", "municipality", "association", "company", "chamber", "other"),
        help="only contacts of partners of this type",
    )
    send.add_argument("--region", help="only contacts of partners whose region contains this")
    send.add_argument("--no-wait", action="store_true", help="do not follow the delivery")
    status = bc_commands.add_parser("status", help="progress of one broadcast, or the recent ones")
    status.add_argument("id", nargs="?", type=int, metavar="ID")

    db = commands.add_parser("db", help="database")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_commands.add_parser("upgrade", help="apply migrations")
    return parser


def _fail(message: str, code: int = 1) -> int:
    """Tell the person at the terminal what went wrong; `code` is the exit status (2: bad usage)."""
    print(message, file=sys.stderr)
    return code


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def _with_telegram(command: str, settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run `work`, which talks to the Bot API; when Telegram refuses (a rejected token, an
    unreachable server) exit 1 with one line naming the command, never the token (an
    InvalidToken's own text quotes it)."""
    from telegram.error import TelegramError

    from bot.app import telegram_failure

    try:
        return asyncio.run(work)
    except TelegramError as exc:
        print(f"{command}: {telegram_failure(exc, settings)}", file=sys.stderr)
        raise SystemExit(1) from None


def _engine(settings: Settings) -> SearchEngine:
    from bot.app import build_search

    try:
        return build_search(settings)
    except KnowledgeError as exc:
        raise SystemExit(_knowledge_failed(exc)) from None


def _knowledge_failed(exc: KnowledgeError) -> int:
    """List the knowledge base's problems, one `file:line: problem` a line; the exit status."""
    print("The knowledge base has errors:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _answer(result: SearchResult, office: Mapping[Lang, str] | None) -> str | None:
    if result.topic is None:
        return None
    name = (office or DEFAULT_OFFICE_NAMES)[result.lang]
    return fill_office(result.topic.answer_text(result.lang), name)


def result_json(
    result: SearchResult, office: Mapping[Lang, str] | None = None
) -> dict[str, object]:
    """The stable `ask --json` object for one result (`answer`: the short core answer)."""
    return {
        "question": result.question,
        "topic": result.topic.id if result.topic else None,
        "score": round(float(result.score), 4),
        "suggestions": [t.id for t in result.suggestions],
        "answer": _answer(result, office),
    }


def _result_text(result: SearchResult, office: Mapping[Lang, str]) -> str:
    if result.outcome is Outcome.ANSWER and result.topic:
        topic = result.topic
        header = f"[{topic.id}] {topic.title[result.lang]} (score {result.score:.2f})"
        return f"{header}\n\n{_answer(result, office)}"
    if result.outcome is Outcome.SUGGEST:
        ids = ", ".join(t.id for t in result.suggestions)
        label = "Meinten Sie" if result.lang == "de" else "Did you mean"
        return f"{label}: {ids} (score {result.score:.2f})"
    if result.outcome is Outcome.OUT_OF_SCOPE:
        return f"(out of scope: {result.scope_rule})"
    return "(no answer: the knowledge base does not cover this question)"


def _questions(args: argparse.Namespace, stdin: TextIO) -> Iterator[str]:
    if args.batch:
        handle = stdin if args.batch == "-" else open(args.batch, encoding="utf-8")  # noqa: SIM115
        try:
            for line in handle:
                yield line.rstrip("\r\n")
        finally:
            if handle is not stdin:
                handle.close()
    if args.question:
        yield " ".join(args.question)


def cmd_ask(
    args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Answer questions without token, database or network."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if not args.batch and not args.question:
        return _fail("ask: give a QUESTION or --batch FILE", 2)
    settings = _settings()
    engine = _engine(settings)
    first = True
    try:
        for question in _questions(args, stdin):
            result = engine.search(question, args.lang)
            if args.json:
                stdout.write(
                    json.dumps(result_json(result, settings.office_names), ensure_ascii=False)
                    + "\n"
                )
            else:
                if not first:
                    stdout.write("\n" + "-" * 60 + "\n")
                stdout.write(_result_text(result, settings.office_names) + "\n")
            first = False
            stdout.flush()
    except UnicodeDecodeError:
        return _fail(f"ask: {args.batch} is not UTF-8 text (save it as UTF-8)", 2)
    except OSError as exc:
        if exc.filename is None:  # not the file: e.g. stdout closed by `| head`
            raise
        return _fail(f"ask: cannot read {exc.filename}: {exc.strerror}", 2)
    return 0


def _days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 3660:
        raise argparse.ArgumentTypeError("N must be a whole number of days from 1 to 3660")
    return int(value)


def _months(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError("MONTHS must be a whole number, e.g. 12")
    return int(value)


def months_between(earlier: date, later: date) -> int:
    """Whole months from `earlier` to `later` (0 when less than a month, or in the future)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    if later.day < earlier.day:
        months -= 1
    return max(months, 0)


def months_before(day: date, months: int) -> date:
    """The same day `months` months earlier (the month's last day when it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def stale_topics(kb: KnowledgeBase, months: int, today: date) -> list[str]:
    """'file: reviewed YYYY-MM-DD (N months)' for topics reviewed more than `months` ago."""
    cutoff = months_before(today, months)
    lines = []
    for topic in sorted(kb.topics, key=lambda t: (t.reviewed, t.path)):
        if topic.reviewed < cutoff:
            age = months_between(topic.reviewed, today)
            unit = "month" if age == 1 else "months"
            lines.append(f"{topic.path}: reviewed {topic.reviewed.isoformat()} ({age} {unit})")
    return lines


def cmd_kb(
    args: argparse.Namespace, stdout: TextIO | None = None, today: date | None = None
) -> int:
    """Validate or list the knowledge base, or export the learned questions."""
    stdout = stdout or sys.stdout
    settings = _settings()
    if args.kb_command == "learned":
        return cmd_kb_learned(args, settings, stdout)
    try:
        kb = load_knowledge(settings.knowledge_dir)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return _fail(f"{len(exc.problems)} problem(s) in {settings.knowledge_dir}")
    if args.kb_command == "check" and args.stale is not None:
        today = today or datetime.now(settings.zone).date()
        for line in stale_topics(kb, args.stale, today):
            stdout.write(line + "\n")
        return 0
    if args.kb_command == "check":
        stdout.write(
            f"OK: {len(kb.topics)} topics, version {kb.version} ({settings.knowledge_dir})\n"
        )
        return 0
    if args.json:
        rows = [
            {
                "id": t.id,
                "title": dict(t.title.items()),
                "category": t.category,
            }
            for t in kb.topics
        ]
        stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    else:
        width = max(len(t.id) for t in kb.topics)
        for topic in kb.topics:
            stdout.write(f"{topic.id:<{width}}  {topic.category:<9} {topic.title['de']}\n")
    return 0


def cmd_kb_learned(args: argparse.Namespace, settings: Settings, stdout: TextIO) -> int:
    """`kb learned export [FILE|-]`: the questions coordinators taught, as YAML."""
    from pathlib import Path

    from bot.office import export_learned

    text, count = asyncio.run(export_learned(settings))
    if args.file == "-":
        stdout.write(text)
        return 0
    try:
        Path(args.file).write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail(f"kb learned export: cannot write {args.file}: {exc.strerror}")
    stdout.write(f"{count} learned questions written to {args.file}\n")
    return 0


def cmd_db_upgrade() -> int:
    """Apply migrations to DATABASE_URL."""
    from bot.db.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print("database is up to date")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot until SIGINT/SIGTERM."""
    from bot.runner import StartupError, run_bot

    settings = _settings()
    if settings.bot_token is None:
        return _fail(
            "BOT_TOKEN is not set: put it into the environment or .env (see .env.example)", 2
        )
    if args.webhook and (not settings.webhook_url or settings.webhook_secret is None):
        return _fail("--webhook needs WEBHOOK_URL and WEBHOOK_SECRET (see .env.example)", 2)
    try:
        return run_bot(settings, webhook=args.webhook)
    except StartupError as exc:
        return _fail(f"cannot start: {exc}")
    except KnowledgeError as exc:
        return _knowledge_failed(exc)


def cmd_chat() -> int:
    """Talk to the bot in this terminal."""
    from bot.terminal import chat

    return asyncio.run(chat(_settings()))


def cmd_partners(args: argparse.Namespace) -> int:
    """`partners import FILE.csv` and `partners list`."""
    from pathlib import Path

    from bot.office import import_partners, list_partners

    settings = _settings()
    if args.partners_command == "list":
        lines = asyncio.run(list_partners(settings))
        print("\n".join(lines) if lines else "no partners yet")
        return 0
    if args.partners_command == "invite":
        return cmd_partners_invite(args, settings)
    path = Path(args.file)
    if not path.is_file():
        return _fail(f"partners import: no file {args.file}", 2)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return _fail(f"partners import: {args.file} is not UTF-8 text")
    report = asyncio.run(import_partners(settings, text))
    if report.errors:
        for error in report.errors:
            print(f"{args.file}: {error}", file=sys.stderr)
        return _fail("nothing was imported; fix the lines above and run again")
    print(f"{report.imported} partners imported")
    return 0


def cmd_partners_invite(args: argparse.Namespace, settings: Settings) -> int:
    """`partners invite [ID…|--all] [--out FILE.csv]`: one link per partner for a mail merge."""
    from pathlib import Path

    from bot.app import bot_username
    from bot.office import partner_invites, write_invites

    if bool(args.ids) == bool(args.all):
        return _fail("partners invite: give partner IDs or --all", 2)
    if settings.bot_token is None:
        return _fail("partners invite: BOT_TOKEN is needed to ask Telegram the bot's name", 2)
    username = _with_telegram("partners invite", settings, bot_username(settings))
    invites, missing = asyncio.run(
        partner_invites(settings, partner_ids=None if args.all else args.ids, username=username)
    )
    if missing:
        unknown = ", ".join(str(i) for i in missing)
        return _fail(f"partners invite: no active partner with id {unknown}; nothing written")
    if args.out is None:
        write_invites(sys.stdout, invites, settings.zone)
        return 0
    try:
        # The BOM lets spreadsheet programs recognise UTF-8 (umlauts) when the file is opened.
        with Path(args.out).open("w", encoding="utf-8-sig", newline="") as handle:
            write_invites(handle, invites, settings.zone)
    except OSError as exc:
        return _fail(f"partners invite: cannot write {args.out}: {exc.strerror}")
    print(f"{len(invites)} invite links written to {args.out}")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """`events add …`."""
    from bot.office import add_event
    from bot.services.localtime import parse_iso
    from bot.services.reminders import MeetingPlan

    settings = _settings()
    try:
        starts_at = parse_iso(args.start, settings.zone)
        ends_at = parse_iso(args.end, settings.zone)
    except ValueError as exc:
        return _fail(f"events add: {exc} (times like 2027-03-30T10:00, end after start)", 2)
    if starts_at <= datetime.now(UTC):
        return _fail("events add: the start is in the past", 2)
    plan = MeetingPlan(
        title=args.title,
        starts_at=starts_at,
        ends_at=ends_at,
        place=args.place,
        online_url=args.url,
        description=args.description,
        audience=args.audience,
    )
    try:
        meeting_id = asyncio.run(add_event(settings, plan))
    except ValueError as exc:
        return _fail(f"events add: {exc}", 2)
    print(f"meeting {meeting_id} created")
    return 0


def cmd_requests(args: argparse.Namespace) -> int:
    """`requests export FILE.csv`."""
    from pathlib import Path

    from bot.office import export_requests

    settings = _settings()
    try:
        count = asyncio.run(export_requests(settings, Path(args.file)))
    except OSError as exc:
        return _fail(f"requests export: cannot write {args.file}: {exc.strerror}")
    print(f"{count} requests written to {args.file}")
    return 0


def cmd_reports(args: argparse.Namespace, request: Any = None) -> int:
    """`reports export [--year Y] --out FILE.csv [--files FILE.zip]`."""
    from pathlib import Path

    from bot.office import export_reports

    target = args.out or args.file
    if not target:
        return _fail("reports export: give the CSV file (--out FILE.csv)", 2)
    settings = _settings()
    if args.files and settings.bot_token is None and request is None:
        return _fail("reports export: --files needs BOT_TOKEN (files come from Telegram)", 2)
    try:
        done = _with_telegram(
            "reports export",
            settings,
            export_reports(
                settings,
                Path(target),
                year=args.year,
                files=Path(args.files) if args.files else None,
                request=request,
            ),
        )
    except OSError as exc:
        return _fail(f"reports export: cannot write: {exc.strerror}")
    print(f"{done.items} report items written to {target}")
    if args.files:
        print(f"{done.files} files written to {args.files}")
    for name in done.missing_files:
        print(f"reports export: could not fetch {name} from Telegram", file=sys.stderr)
    return 1 if done.missing_files else 0


def cmd_worker() -> int:
    """Run a delivery worker until SIGINT/SIGTERM."""
    from bot.worker_cli import run_worker

    settings = _settings()
    if settings.bot_token is None:
        return _fail("BOT_TOKEN is not set: the worker sends through the Bot API", 2)
    return _with_telegram("worker", settings, run_worker(settings))


def cmd_broadcast(args: argparse.Namespace) -> int:
    """`broadcast send` and `broadcast status`."""
    from bot.services.broadcasts import AudienceFilter
    from bot.worker_cli import broadcast_status, send_broadcast

    settings = _settings()
    if args.broadcast_command == "status":
        return asyncio.run(broadcast_status(settings, args.id))
    return asyncio.run(
        send_broadcast(
            settings,
            recipients=AudienceFilter(
                args.audience,
                language=args.lang,
                partner_type=args.partner_type,
                region=args.region,
            ),
            text=args.text,
            at=args.at,
            wait=not args.no_wait,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    from bot.db.migrate import DatabaseUnavailable
    from bot.texts import CatalogError

    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except DatabaseUnavailable as exc:
        return _fail(f"the database at DATABASE_URL cannot be used: {exc}")
    except CatalogError as exc:
        return _fail(f"the texts in LOCALES_DIR cannot be used:\n{exc}")


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "ask":
        return cmd_ask(args)
    if args.command == "kb":
        return cmd_kb(args)
    if args.command == "db":
        return cmd_db_upgrade()
    if args.command == "run":
        return cmd_run(args)
    if args.command == "chat":
        return cmd_chat()
    if args.command == "worker":
        return cmd_worker()
    if args.command == "stats":
        from bot.stats import collect

        print("\n".join(asyncio.run(collect(_settings(), days=args.days))))
        return 0
    if args.command == "requests":
        return cmd_requests(args)
    if args.command == "reports":
        return cmd_reports(args)
    if args.command == "partners":
        return cmd_partners(args)
    if args.command == "events":
        return cmd_events(args)
    if args.command == "broadcast":
        return cmd_broadcast(args)
    return 2  # argparse already rejected anything else
