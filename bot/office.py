"""Office work from the command line: request export, partner import/list, meetings."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade_async
from bot.db.models import Partner, PartnerContact
from bot.services.onboarding import EMAIL, OnboardingService, reference
from bot.settings import Settings

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
    service = OnboardingService(create_sessionmaker(engine))
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
                    r.created_at.astimezone(zone).strftime("%d.%m.%Y %H:%M"),
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
                    r.decided_at.astimezone(zone).strftime("%d.%m.%Y %H:%M")
                    if r.decided_at
                    else "",
                    r.decline_reason or "",
                ]
            )
    return len(requests)


PARTNER_COLUMNS = {"name", "type", "region", "agreement_date", "email", "report_due"}
PARTNER_TYPES = ("authority", "municipality", "association", "company", "chamber", "other")


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did, or why it did nothing."""

    imported: int
    errors: list[str]


def parse_partners_csv(text: str) -> tuple[list[dict[str, object]], list[str]]:
    """Rows to import and problems ("line N: …"); `;` or `,`, header row required."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines:
        return [], ["the file is empty"]
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.DictReader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    errors: list[str] = []
    unknown = [h for h in header if h not in PARTNER_COLUMNS]
    if unknown:
        known = ", ".join(sorted(PARTNER_COLUMNS))
        errors.append(f"line 1: unknown column(s) {', '.join(unknown)}; known: {known}")
    if "name" not in header:
        errors.append("line 1: a 'name' column is required")
    if errors:
        return [], errors
    rows: list[dict[str, object]] = []
    for number, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        problems = []
        name = str(row.get("name", ""))
        if not 2 <= len(name) <= 200:
            problems.append("name must be 2 to 200 characters")
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
        rows.append(
            {
                "name": name,
                "org_type": org_type,
                "region": str(row.get("region") or ""),
                "agreement_date": agreement,
                "email": email,
                "report_due": due,
            }
        )
    return rows, errors


async def import_partners(settings: Settings, text: str) -> ImportReport:
    """Import partners from CSV text: all rows or, if any row is bad, none."""
    rows, errors = parse_partners_csv(text)
    if errors:
        return ImportReport(0, errors)
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            session.add_all(Partner(active=True, **row) for row in rows)
    finally:
        await engine.dispose()
    return ImportReport(len(rows), [])


async def list_partners(settings: Settings) -> list[str]:
    """One line per partner with contacts and report due date."""
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Partner, func.count(PartnerContact.id))
                .outerjoin(PartnerContact, PartnerContact.partner_id == Partner.id)
                .group_by(Partner.id)
                .order_by(Partner.name)
            )
            return [
                f"{p.id:>4}  {p.name}  [{p.org_type}, {p.region or '-'}]  contacts: {n}  "
                f"report due: {p.report_due or settings.report_due or '-'}"
                f"{'' if p.active else '  (inactive)'}"
                for p, n in rows.all()
            ]
    finally:
        await engine.dispose()


async def add_event(
    settings: Settings,
    *,
    title: str,
    start: str,
    end: str,
    place: str | None,
    url: str | None,
    description: str | None,
    audience: str,
) -> int:
    """Create a meeting from the command line; times are ISO, read in TIMEZONE without offset."""
    from bot.services.reminders import ReminderService
    from bot.texts import Texts

    zone = settings.zone

    def parse(value: str) -> datetime:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)

    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        service = ReminderService(
            create_sessionmaker(engine),
            Texts.load(settings.locales_dir, office=settings.office_names),
            zone=zone,
            at=settings.reminder_time,
            default_due=settings.report_due,
        )
        meeting = await service.create_meeting(
            title=title,
            starts_at=parse(start),
            ends_at=parse(end),
            place=place,
            online_url=url,
            description=description,
            audience=audience,
            created_by=None,
        )
    finally:
        await engine.dispose()
    return meeting.id
