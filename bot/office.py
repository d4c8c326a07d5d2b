"""Office work from the command line: request and report export, partner import/list,
meetings."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import yaml
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import BaseRequest

from bot.app import OFFLINE_TOKEN, build_reminders, invite_terms
from bot.db import learned
from bot.db import partners as partner_queries
from bot.db import reports as report_queries
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade_async
from bot.db.models import LearnedQuestion, Partner, Report, ReportItem
from bot.db.upsert import lock_rows
from bot.services.localtime import local
from bot.services.onboarding import EMAIL, OnboardingService, reference
from bot.services.partners import PartnerService, invite_link
from bot.services.reminders import MeetingPlan
from bot.settings import Settings
from bot.texts import Texts
from bot.transport import AiohttpRequest
from knowledge import ORGANISATION_TYPES, load_knowledge

REQUEST_COLUMNS = [
    "Nummer",
    "Eingang",
    "Status",
    "Organisation",
    "Art",
    "Ort",
    "Größe",
    "Ansprechperson",
    "E-Mail",
    "Telefon",
    "Maßnahmen",
    "Eigene Maßnahmen",
    "Zeitraum",
    "Entschieden am",
    "Ablehnungsgrund",
]


async def export_requests(settings: Settings, path: Path) -> int:
    """Write every partnership request to a CSV file (UTF-8 with BOM, `;`, header row)."""
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    texts = Texts.load(settings.locales_dir, office=settings.office_names)
    service = OnboardingService(
        create_sessionmaker(engine), texts, load_knowledge(settings.knowledge_dir)
    )
    try:
        requests = await service.all_requests()
    finally:
        await engine.dispose()
    zone = settings.zone
    # The BOM lets spreadsheet programs recognise UTF-8 (umlauts) when the file is opened.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(REQUEST_COLUMNS)
        for r in requests:
            writer.writerow(
                [
                    reference(r.id),
                    local(r.created_at, zone),
                    r.status,
                    r.org_name,
                    r.org_type,
                    r.place,
                    r.size,
                    r.contact_name,
                    r.email,
                    r.phone or "",
                    ", ".join(json.loads(r.measures)),
                    r.measures_text or "",
                    r.timeframe,
                    local(r.decided_at, zone) if r.decided_at else "",
                    r.decline_reason or "",
                ]
            )
    return len(requests)


PARTNER_COLUMNS = {"name", "type", "region", "agreement_date", "email", "report_due"}
PARTNER_TYPES = ORGANISATION_TYPES  # the network's one list (knowledge.model)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did (rows imported, of them partners that existed and were updated),
    or why it did nothing."""

    imported: int
    errors: list[str]
    updated: int = 0


def _name_key(name: str) -> str:
    """Partners are matched by name: case and spacing do not matter."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True, slots=True)
class PartnerRow:
    """One partner from the file, and which of its fields the file fills in."""

    values: dict[str, object]
    given: frozenset[str]


def parse_partners_csv(text: str) -> tuple[list[PartnerRow], list[str]]:
    """Rows to import and problems ("line N: …"); `;` or `,`, header row required."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines:
        return [], ["the file is empty"]
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    errors: list[str] = []
    unknown = [h for h in header if h not in PARTNER_COLUMNS]
    if unknown:
        known = ", ".join(sorted(PARTNER_COLUMNS))
        errors.append(f"line 1: unknown column(s) {', '.join(unknown)}; known: {known}")
    if "name" not in header:
        errors.append("line 1: a 'name' column is required")
    if errors:
        return [], errors
    rows: list[PartnerRow] = []
    seen: dict[str, int] = {}
    end = reader.line_num
    for fields in reader:
        # Lines as the file has them: a blank line counts, a quoted field may span lines and
        # its record is named by the line it starts on.
        number, end = end + 1, reader.line_num
        row = {k: v.strip() for k, v in zip(header, fields, strict=False) if k}
        if not any(row.values()):
            continue
        problems = []
        name = str(row.get("name", ""))
        if not 2 <= len(name) <= 200:
            problems.append("name must be 2 to 200 characters")
        elif _name_key(name) in seen:
            problems.append(f"the same name as line {seen[_name_key(name)]}")
        else:
            seen[_name_key(name)] = number
        org_type = str(row.get("type") or "other")
        if org_type not in PARTNER_TYPES:
            problems.append(f"type must be one of {', '.join(PARTNER_TYPES)}")
        agreement = None
        if row.get("agreement_date"):
            try:
                agreement = date.fromisoformat(str(row["agreement_date"]))
            except ValueError:
                problems.append("agreement_date must be YYYY-MM-DD")
        email = str(row.get("email") or "") or None
        if email and not EMAIL.match(email):
            problems.append("email is not an e-mail address")
        due = str(row.get("report_due") or "") or None
        if due:
            try:
                month, day = (int(p) for p in due.split("-"))
                date(2024, month, day)
            except ValueError:
                problems.append("report_due must be MM-DD")
        if problems:
            errors.append(f"line {number}: " + "; ".join(problems))
            continue
        values: dict[str, object] = {
            "name": name,
            "org_type": org_type,
            "region": str(row.get("region") or ""),
            "agreement_date": agreement,
            "email": email,
            "report_due": due,
        }
        # A re-import changes what the row gives and keeps the rest.
        given = {"name"} | {field for field, column in _FIELD_COLUMNS.items() if row.get(column)}
        rows.append(PartnerRow(values, frozenset(given)))
    return rows, errors


_FIELD_COLUMNS = {
    "org_type": "type",
    "region": "region",
    "agreement_date": "agreement_date",
    "email": "email",
    "report_due": "report_due",
}


async def import_partners(settings: Settings, text: str) -> ImportReport:
    """Import partners from CSV text: all rows or, if any row is bad, none."""
    rows, errors = parse_partners_csv(text)
    if errors:
        return ImportReport(0, errors)
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    updated = 0
    try:
        async with create_sessionmaker(engine).begin() as session:
            # One import at a time: two at once must not both add the same partner.
            await lock_rows(session, Partner)
            existing = {_name_key(p.name): p for p in await partner_queries.all_partners(session)}
            for row in rows:
                partner = existing.get(_name_key(str(row.values["name"])))
                if partner is None:
                    session.add(Partner(active=True, **row.values))
                    continue
                updated += 1
                for field in row.given:
                    setattr(partner, field, row.values[field])
    finally:
        await engine.dispose()
    return ImportReport(len(rows), [], updated)


INVITE_COLUMNS = ["Partner-ID", "Organisation", "E-Mail", "Einladungslink", "Gültig bis"]


@dataclass(frozen=True, slots=True)
class PartnerInvite:
    """One partner's invite link, as the office mails it."""

    partner_id: int
    name: str
    email: str
    link: str
    expires_at: datetime


async def partner_invites(
    settings: Settings, *, partner_ids: Sequence[int] | None, username: str
) -> tuple[list[PartnerInvite], list[int]]:
    """An invite link for each active partner (all, or the given ids), reusing one that is
    still fresh; and the ids that name no active partner (then no link is made)."""
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    service = PartnerService(create_sessionmaker(engine), invites=invite_terms(settings))
    try:
        partners = await service.active(partner_ids=partner_ids)
        missing = sorted(set(partner_ids or ()) - {p.id for p in partners})
        if missing:
            return [], missing
        found = []
        for partner in partners:
            invite = await service.invite(partner_id=partner.id, created_by=None)
            assert invite is not None  # active, checked above
            link = invite_link(username, invite.token)
            found.append(
                PartnerInvite(
                    partner.id, partner.name, partner.email or "", link, invite.expires_at
                )
            )
    finally:
        await engine.dispose()
    return found, []


def write_invites(handle: TextIO, invites: Sequence[PartnerInvite], zone: ZoneInfo) -> None:
    """The invites as CSV (`;`, header row), for a mail merge."""
    writer = csv.writer(handle, delimiter=";", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(INVITE_COLUMNS)
    for invite in invites:
        expires = local(invite.expires_at, zone, with_time=False)
        writer.writerow([invite.partner_id, invite.name, invite.email, invite.link, expires])


async def list_partners(settings: Settings) -> list[str]:
    """One line per partner with contacts and report due date."""
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await partner_queries.partners_with_contact_counts(session)
            return [
                f"{p.id:>4}  {p.name}  [{p.org_type}, {p.region or '-'}]  contacts: {n}  "
                f"report due: {p.report_due or settings.report_due or '-'}"
                f"{'' if p.active else '  (inactive)'}"
                for p, n in rows
            ]
    finally:
        await engine.dispose()


async def add_event(settings: Settings, plan: MeetingPlan) -> int:
    """Create a meeting from the command line; its id."""
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        service = build_reminders(
            settings,
            create_sessionmaker(engine),
            Texts.load(settings.locales_dir, office=settings.office_names),
        )
        meeting = await service.create_meeting(plan, created_by=None)
    finally:
        await engine.dispose()
    return meeting.id


LEARNED_HEADER = """\
# Questions coordinators attached to topics in the bot (python -m bot kb learned export).
# Merge each topic's lists into `questions:` of knowledge/topics/<id>.yaml; the out_of_scope
# questions are examples for a rule in knowledge/scope.yaml. Until then the bot keeps them in
# its database and answers them anyway.
"""


def learned_yaml(rows: Sequence[LearnedQuestion]) -> str:
    """Taught questions as YAML: `topic_id: {de: [...], en: [...]}` by topic id, then
    `out_of_scope: [...]`; each question on one line, in the order it was taught."""
    topics: dict[str, dict[str, list[str]]] = {}
    outside: list[str] = []
    for row in rows:
        question = " ".join(row.question.split())
        if row.topic_id is None:
            outside.append(question)
            continue
        by_language = topics.setdefault(row.topic_id, {"de": [], "en": []})
        by_language["en" if row.language == "en" else "de"].append(question)
    document: dict[str, object] = {topic_id: topics[topic_id] for topic_id in sorted(topics)}
    document["out_of_scope"] = outside
    body = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
    return LEARNED_HEADER + body


async def export_learned(settings: Settings) -> tuple[str, int]:
    """The learned questions as YAML (see `learned_yaml`) and how many there are."""
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            rows = await learned.all_learned(session)
    finally:
        await engine.dispose()
    return learned_yaml(rows), len(rows)


REPORT_COLUMNS = [
    "Partner-ID",
    "Organisation",
    "Art",
    "Region",
    "Berichtsjahr",
    "Abgabetermin",
    "Eingegangen",
    "Nr.",
    "Thema",
    "Themen-ID",
    "Was getan",
    "Ergebnis",
    "Kennzahl",
    "Link",
    "Datei",
    "Veröffentlichen erlaubt",
    "Prüfung",
    "Ansprechperson (Opt-in)",
]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ReportExport:
    """What `reports export` wrote."""

    items: int
    files: int
    missing_files: list[str]


def _archive_name(partner_id: int, year: int, position: int, file_name: str) -> str:
    """The PDF's name inside the ZIP: partner, year, item number, its own (safe) name."""
    safe = _SAFE_NAME.sub("_", file_name).strip("._") or "datei.pdf"
    return f"{partner_id}-{year}-{position:02d}-{safe}"


async def export_reports(
    settings: Settings,
    path: Path,
    *,
    year: int | None = None,
    files: Path | None = None,
    request: BaseRequest | None = None,
) -> ReportExport:
    """Every item of the submitted reports (of one year) as CSV (UTF-8 with BOM, `;`, one row
    per item), and with `files` their uploaded PDFs as a ZIP, fetched through the Bot API
    (`request` swaps the transport, as in tests)."""
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await report_queries.export_rows(session, year=year)
    finally:
        await engine.dispose()
    kb = load_knowledge(settings.knowledge_dir)
    zone = settings.zone
    names = {
        item.id: _archive_name(partner.id, report.year, item.position, item.file_name or "")
        for report, partner, item in rows
        if item.file_id
    }
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(REPORT_COLUMNS)
        for report, partner, item in rows:
            topic = kb.topic(item.topic_id)
            writer.writerow(
                [
                    partner.id,
                    partner.name,
                    partner.org_type,
                    partner.region,
                    report.year,
                    report.due_date.strftime("%d.%m.%Y"),
                    local(report.submitted_at, zone) if report.submitted_at else "",
                    item.position,
                    topic.title["de"] if topic else item.topic_id,
                    item.topic_id,
                    item.done,
                    item.result,
                    item.figure or "",
                    item.link or "",
                    names.get(item.id, ""),
                    "ja" if item.publish else "nein",
                    item.review,
                    report.contact or "",
                ]
            )
    fetched, missing = 0, list[str]()
    if files is not None:
        fetched, missing = await _fetch_files(settings, rows, names, files, request)
    return ReportExport(items=len(rows), files=fetched, missing_files=missing)


async def _fetch_files(
    settings: Settings,
    rows: Sequence[tuple[Report, Partner, ReportItem]],
    names: dict[int, str],
    target: Path,
    request: BaseRequest | None,
) -> tuple[int, list[str]]:
    """Download each uploaded PDF through getFile into a ZIP; names of those that failed."""
    token = settings.bot_token.get_secret_value() if settings.bot_token else OFFLINE_TOKEN
    request = request or AiohttpRequest()
    bot = Bot(
        token,
        base_url=settings.bot_api_base_url,
        base_file_url=settings.bot_api_file_url,
        request=request,
        get_updates_request=request,  # never polls: no second client (see bot.app.bot_username)
    )
    fetched, missing = 0, list[str]()
    async with bot:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for _, _, item in rows:
                if not item.file_id:
                    continue
                try:
                    telegram_file = await bot.get_file(item.file_id)
                    content = await telegram_file.download_as_bytearray()
                except TelegramError:
                    missing.append(names[item.id])
                    continue
                archive.writestr(names[item.id], bytes(content))
                fetched += 1
    return fetched, missing
