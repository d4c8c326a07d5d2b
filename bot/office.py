"""Office exports: `python -m bot requests export FILE.csv`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade_async
from bot.services.onboarding import OnboardingService, reference
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
