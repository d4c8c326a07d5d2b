"""`python -m bot`: run the bot, ask the knowledge base, check it, chat offline, migrate.

The subcommands, flags and the `ask --json` output are an interface others script against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from bot.settings import Settings, SettingsError, load_settings
from knowledge import KnowledgeError, Outcome, SearchEngine, SearchResult, load_knowledge


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

    kb = commands.add_parser("kb", help="knowledge base: check or list")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True, metavar="KB_COMMAND")
    kb_commands.add_parser("check", help="validate every topic file; exit 1 with file:line errors")
    kb_list = kb_commands.add_parser("list", help="topics with ids and titles")
    kb_list.add_argument("--json", action="store_true", help="as a JSON list")

    commands.add_parser("chat", help="talk to the bot in the terminal, offline")

    db = commands.add_parser("db", help="database")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_commands.add_parser("upgrade", help="apply migrations")
    return parser


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def _engine(settings: Settings) -> SearchEngine:
    from bot.app import build_search

    try:
        return build_search(settings)
    except KnowledgeError as exc:
        print("The knowledge base has errors:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1) from None


def result_json(result: SearchResult) -> dict[str, object]:
    """The stable `ask --json` object for one result."""
    return {
        "question": result.question,
        "topic": result.topic.id if result.topic else None,
        "score": round(float(result.score), 4),
        "suggestions": [t.id for t in result.suggestions],
        "answer": result.topic.answer_text(result.lang) if result.topic else None,
    }


def _result_text(result: SearchResult) -> str:
    if result.outcome is Outcome.ANSWER and result.topic:
        topic = result.topic
        header = f"[{topic.id}] {topic.title[result.lang]} (score {result.score:.2f})"
        return f"{header}\n\n{topic.answer_text(result.lang)}"
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
        print("ask: give a QUESTION or --batch FILE", file=sys.stderr)
        return 2
    engine = _engine(_settings())
    first = True
    try:
        for question in _questions(args, stdin):
            result = engine.search(question, args.lang)
            if args.json:
                stdout.write(json.dumps(result_json(result), ensure_ascii=False) + "\n")
            else:
                if not first:
                    stdout.write("\n" + "-" * 60 + "\n")
                stdout.write(_result_text(result) + "\n")
            first = False
            stdout.flush()
    except FileNotFoundError as exc:
        print(f"ask: cannot read {exc.filename}", file=sys.stderr)
        return 2
    return 0


def cmd_kb(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Validate or list the knowledge base."""
    stdout = stdout or sys.stdout
    settings = _settings()
    try:
        kb = load_knowledge(settings.knowledge_dir)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {settings.knowledge_dir}", file=sys.stderr)
        return 1
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


def cmd_db_upgrade() -> int:
    """Apply migrations to DATABASE_URL."""
    from bot.db.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print("database is up to date")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot until SIGINT/SIGTERM."""
    from bot.runner import run_bot

    settings = _settings()
    if settings.bot_token is None:
        print(
            "BOT_TOKEN is not set: put it into the environment or .env (see .env.example)",
            file=sys.stderr,
        )
        return 2
    if args.webhook and (not settings.webhook_url or settings.webhook_secret is None):
        print("--webhook needs WEBHOOK_URL and WEBHOOK_SECRET (see .env.example)", file=sys.stderr)
        return 2
    return run_bot(settings, webhook=args.webhook)


def cmd_chat() -> int:
    """Talk to the bot in this terminal."""
    from bot.terminal import chat

    return asyncio.run(chat(_settings()))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    args = _parser().parse_args(argv)
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
    return 2  # argparse already rejected anything else
