"""The yearly report in the bot and the directory of practice, end to end through the real
Application: a reminder → a report with three items (one PDF) → submitting stops the
reminders → the office publishes two → they appear under the topic's answer and in
/beispiele; a restart mid-report loses nothing; non-partners cannot report; an item that is
not published never shows; double taps are answered, never doubled."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.db.models import (
    Chat,
    Example,
    OnboardingRequest,
    OutboxMessage,
    Partner,
    PartnerContact,
    Report,
    ReportItem,
    ReportSubmission,
    utcnow,
)
from bot.office import export_reports
from bot.offline import Call, OfflineBotApi
from bot.services.directory import asks_for_examples
from bot.services.privacy import PrivacyService
from bot.services.reports import Form
from bot.settings import Settings
from bot.stats import collect
from knowledge import SearchEngine
from tests.conftest import COORDINATOR_ID, OFFICE_CHAT_ID, STICKER, Harness, running, texts_of

CONTACT = 7301
STRANGER = 7302
PDF = {
    "document": {
        "file_id": "pdf-flyer-1",
        "file_unique_id": "pdf-flyer-1u",
        "file_name": "flyer-dolmetscherpool.pdf",
        "mime_type": "application/pdf",
        "file_size": 48_000,
    }
}
POOL_TEXT = "Wir haben einen Dolmetscherpool aus 30 Beschäftigten aufgebaut."
TRAINING_TEXT = "Zwei Tage Schulung zu interkultureller Kommunikation für alle Teamleitungen."
SECRET_TEXT = "Stellenanzeigen in einfacher Sprache, noch im internen Test."


async def add_partner(harness: Harness) -> tuple[int, date]:
    """A partner (report due tomorrow) with one linked contact and two agreed measures."""
    due = (utcnow() + timedelta(days=1)).date()
    async with harness.services.sessions.begin() as session:
        session.add(Chat(chat_id=CONTACT, user_id=CONTACT, kind="private", language="de"))
        partner = Partner(
            name="Stadt Vielfalt & Co",
            org_type="municipality",
            region="Kreis Beispiel",
            agreement_date=date(2020, 1, 1),
            report_due=due.strftime("%m-%d"),
        )
        session.add(partner)
        await session.flush()
        session.add(PartnerContact(partner_id=partner.id, chat_id=CONTACT))
        session.add(
            OnboardingRequest(
                chat_id=CONTACT,
                org_name=partner.name,
                org_type="municipality",
                place="Beispielstadt",
                size="m",
                contact_name="Erika",
                email="erika@example.org",
                measures=json.dumps(["interpreter_pool", "intercultural_training"]),
                timeframe="2026",
                consent_at=utcnow(),
                status="approved",
                partner_id=partner.id,
            )
        )
        return partner.id, due


def data_of(calls: list[Call], prefix: str) -> list[str]:
    return [d for c in calls for _, d in c.buttons() if d.startswith(prefix)]


def last_text(calls: list[Call]) -> str:
    sent = texts_of(calls)
    return sent[-1] if sent else ""


async def say(harness: Harness, text: str | None, **kwargs: Any) -> list[Call]:
    return await harness.send(text, user_id=CONTACT, **kwargs)


async def tap(harness: Harness, data: str, user: int = CONTACT) -> list[Call]:
    return await harness.press(data, user_id=user)


def answers(calls: list[Call]) -> list[str]:
    return [str(c.params.get("text", "")) for c in calls if c.method == "answerCallbackQuery"]


async def outbox_rows(harness: Harness) -> list[OutboxMessage]:
    async with harness.services.sessions() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


async def first_two_items(harness: Harness, partner_id: int, due: date) -> None:
    """From the reminder's button through two items (the first with a figure, link, PDF)."""
    await harness.services.reminders.plan_report_reminders()
    [reminder] = [r for r in await outbox_rows(harness) if r.kind == "reminder"]
    buttons = [b["data"] for row in json.loads(reminder.buttons or "[]") for b in row]
    fill = f"rf:o:{partner_id}:{due.strftime('%Y%m%d')}"
    assert fill in buttons, "the reminder offers to fill in the report in the bot"
    calls = await tap(harness, fill)
    assert any("Schritt für Schritt" in t for t in texts_of(calls))
    measures = data_of(calls, "rf:t:")
    assert [m.rsplit(":", 1)[1] for m in measures] == ["interpreter_pool", "intercultural_training"]
    assert "Was haben Sie getan" in last_text(await tap(harness, measures[0]))
    assert "herausgekommen" in last_text(await say(harness, POOL_TEXT))
    assert "Zahl" in last_text(await say(harness, "Bei 120 Gesprächen gedolmetscht."))
    assert "Link" in last_text(await say(harness, "120 Einsätze"))
    assert "nicht nach einem Link" in " ".join(texts_of(await say(harness, "unsere Website")))
    assert "PDF" in last_text(await say(harness, "https://example.org/dolmetscherpool"))
    assert "PDF" in " ".join(texts_of(await say(harness, None, extra=STICKER)))
    calls = await say(harness, None, extra=PDF)
    publish = data_of(calls, "rf:p:")
    assert publish, "after the PDF: may it be published?"
    calls = await tap(harness, publish[0])  # yes
    [another] = [d for d in data_of(calls, "rf:g:") if d.endswith(":topic")]
    calls = await tap(harness, another)
    assert data_of(calls, "rf:t:")[0].endswith("intercultural_training"), "the measure left"
    # A keyword finds topics too.
    calls = await say(harness, "Schulung interkulturelle Kompetenz")
    picks = data_of(calls, "rf:t:")
    assert any(p.endswith(":intercultural_training") for p in picks)
    await tap(harness, next(p for p in picks if p.endswith(":intercultural_training")))
    await say(harness, TRAINING_TEXT)
    await say(harness, "Die Teams berichten von weniger Missverständnissen.")
    for _ in range(3):  # no figure, no link, no PDF
        form = await harness.services.reports.form_of_chat(chat_id=CONTACT)
        assert form is not None
        await tap(harness, f"rf:s:{form.report.id}:{form.report.step}")
    form = await harness.services.reports.form_of_chat(chat_id=CONTACT)
    assert form is not None and form.report.step == "publish"
    await tap(harness, f"rf:p:{form.report.id}:1")


async def test_report_from_reminder_to_published_examples(
    settings: Settings, search_engine: SearchEngine
) -> None:
    async with running(settings, search_engine) as harness:
        partner_id, due = await add_partner(harness)
        await first_two_items(harness, partner_id, due)
    # A restart in the middle of the report: everything is still there.
    async with running(settings, search_engine) as harness:
        calls = await say(harness, "/report")
        assert "2 Maßnahmen" in last_text(calls), "both items survived the restart"
        form = await harness.services.reports.form_of_chat(chat_id=CONTACT)
        assert form is not None
        rid = form.report.id
        await tap(harness, f"rf:g:{rid}:more:topic")
        calls = await say(harness, "Stellenanzeigen")
        pick = data_of(calls, "rf:t:")[0]
        await tap(harness, pick)
        await say(harness, SECRET_TEXT)
        await say(harness, "Noch offen.")
        for step in ("figure", "link", "file"):
            await tap(harness, f"rf:s:{rid}:{step}")
        await tap(harness, f"rf:p:{rid}:0")  # not to be published
        calls = await tap(harness, f"rf:g:{rid}:more:review")
        assert "Ansprechperson" in last_text(calls)
        calls = await say(harness, "Erika Muster, erika@example.org")
        review = last_text(calls)
        assert POOL_TEXT in review and SECRET_TEXT in review and "Erika Muster" in review
        assert "flyer-dolmetscherpool.pdf" in review
        # Submit, twice at once-ish: one report, the second tap "schon erledigt".
        calls = await tap(harness, f"rf:x:{rid}")
        assert "eingegangen" in last_text(calls)
        again = await tap(harness, f"rf:x:{rid}")
        assert any("erledigt" in a for a in answers(again)) and not texts_of(again)
        async with harness.services.sessions() as session:
            assert await session.get(ReportSubmission, (partner_id, due)) is not None
        rows = await outbox_rows(harness)
        reminders = [r for r in rows if r.kind == "reminder"]
        assert reminders and all(r.status == "cancelled" for r in reminders), "reminders stop"
        [office] = [r for r in rows if r.key.startswith("report:submitted:")]
        assert office.chat_id == OFFICE_CHAT_ID and "3 Maßnahmen" in office.text
        assert "2 mit Einwilligung" in office.text
        # The office reviews: publish the two with consent, not the third.
        calls = await tap(harness, f"rr:open:{rid}", user=COORDINATOR_ID)
        cards = [c for c in calls if c.method == "sendMessage"]
        assert len(cards) == 3
        publish = data_of(calls, "rr:ok:")
        assert len(publish) == 2, "an item without consent cannot be published"
        for data in publish:
            await tap(harness, data, user=COORDINATOR_ID)
        twice = await tap(harness, publish[0], user=COORDINATOR_ID)
        assert any("erledigt" in a for a in answers(twice))
        [skip] = [
            d
            for d in data_of(calls, "rr:no:")
            if d.split(":")[-1] not in {p.split(":")[-1] for p in publish}
        ]
        await tap(harness, skip, user=COORDINATOR_ID)
        refused = await tap(harness, f"rr:ok:{rid}", user=CONTACT)
        assert any("Koordination" in a or "coordinat" in a.lower() for a in answers(refused))
        async with harness.services.sessions() as session:
            published = (
                await session.scalars(select(Example).where(Example.item_id.is_not(None)))
            ).all()
            items = (await session.scalars(select(ReportItem))).all()
        assert len(published) == 2 and len(items) == 3
        # Under the topic's answer: the button with the count, then the examples.
        calls = await harness.send("Wie baue ich einen Dolmetscherpool auf?", user_id=STRANGER)
        [button] = data_of(calls, "ex:l:topic:interpreter_pool")
        label = next(t for c in calls for t, d in c.buttons() if d == button)
        assert label.endswith("(2)"), label  # the public one + the approved one
        calls = await harness.press(button, user_id=STRANGER)
        page = last_text(calls)
        assert "Stadt Vielfalt &amp; Co" in page and "Dolmetscherpool aus 30" in page
        assert "Erika Muster" in page, "the contact shows: the partner opted in"
        assert "Jobcenter Duisburg" in page, "the public example is there too"
        # /beispiele by type of organisation; the unpublished item never shows anywhere.
        await harness.send("/beispiele", user_id=STRANGER)
        calls = await harness.press("ex:f:type", user_id=STRANGER)
        assert "ex:l:type:municipality:0" in data_of(calls, "ex:l:")
        calls = await harness.press("ex:l:type:municipality:0", user_id=STRANGER)
        page = last_text(calls)
        assert TRAINING_TEXT in page and POOL_TEXT in page and SECRET_TEXT not in page
        for facet in ("topic", "type", "region"):
            listing = await harness.press(f"ex:f:{facet}", user_id=STRANGER)
            for data in data_of(listing, "ex:l:"):
                assert SECRET_TEXT not in last_text(await harness.press(data, user_id=STRANGER))
        # "Wer hat schon …?" is answered from the directory first.
        calls = await harness.send(
            "Wer hat schon einen Dolmetscherpool eingerichtet?", user_id=STRANGER
        )
        assert "Dolmetscherpool aus 30" in texts_of(calls)[0]
        assert "ex:l:topic:interpreter_pool:0" not in data_of(calls, "ex:")


async def test_a_person_who_is_no_partner_contact_cannot_report(harness: Harness) -> None:
    calls = await harness.send("/report", user_id=STRANGER)
    assert "nur verknüpfte Kontaktpersonen" in last_text(calls)
    partner_id, due = await add_partner(harness)
    forged = await harness.press(f"rf:o:{partner_id}:{due.strftime('%Y%m%d')}", user_id=STRANGER)
    assert "nur verknüpfte Kontaktpersonen" in last_text(forged)
    async with harness.services.sessions() as session:
        assert (await session.scalars(select(ReportItem))).all() == []


async def test_a_double_tap_on_a_form_button_counts_once(harness: Harness) -> None:
    await add_partner(harness)
    calls = await harness.send("/report", user_id=CONTACT)
    first = data_of(calls, "rf:t:")[0]
    one, two = await tap(harness, first), await tap(harness, first)
    assert "getan" in last_text(one)
    assert any("erledigt" in a for a in answers(two)) and not texts_of(two)


def test_questions_that_ask_who_already_did_something() -> None:
    for question in (
        "Wer hat schon einen Dolmetscherpool?",
        "Gibt es Beispiele für anonymisierte Bewerbungen?",
        "Welche Kommunen haben schon ein Leitbild?",
        "Who has already set up an interpreter pool?",
        "Are there any examples of mentoring programmes?",
    ):
        assert asks_for_examples(question), question
    for question in (
        "Was ist ein Dolmetscherpool?",
        "How do we start?",
        "Wer ist die Netzwerkstelle?",
    ):
        assert not asks_for_examples(question), question


async def form_of(harness: Harness, report_id: int) -> Form:
    """A report's form, read fresh (it exists)."""
    form = await harness.services.reports.form(report_id=report_id)
    assert form is not None
    return form


async def open_report(harness: Harness, chat_id: int) -> Callable[[], Awaitable[Form]]:
    """Open the chat's report; returns a function that reads its form fresh."""
    _, opened, _ = await harness.services.reports.open(chat_id=chat_id, language="de")
    assert opened is not None
    report_id = opened.report.id

    async def fresh() -> Form:
        return await form_of(harness, report_id)

    return fresh


async def submitted_report(harness: Harness) -> int:
    """A submitted report of two items, the first with a PDF; returns the partner id."""
    partner_id, _ = await add_partner(harness)
    reports = harness.services.reports
    fresh = await open_report(harness, CONTACT)
    for topic, done, pdf in (
        ("interpreter_pool", POOL_TEXT, True),
        ("job_ads", SECRET_TEXT, False),
    ):
        await reports.choose_topic(await fresh(), topic)
        await reports.answer(await fresh(), done)
        await reports.answer(await fresh(), "Gut; 12 % mehr; Teams zufrieden")
        await reports.answer(await fresh(), "12 %")
        await reports.skip(await fresh(), "link")
        if pdf:
            assert (
                await reports.attach(
                    await fresh(),
                    file_id="pdf-1",
                    file_name="Flyer März.pdf",
                    mime="application/pdf",
                    size=10,
                )
                is None
            )
        else:
            await reports.skip(await fresh(), "file")
        await reports.consent(await fresh(), publish=pdf)
        await reports.go(await fresh(), "topic" if pdf else "review")
    await reports.answer(await fresh(), "Erika Muster")
    assert await reports.submit(await fresh(), by=CONTACT)
    return partner_id


async def test_reports_export_one_row_per_item_and_the_pdfs_as_zip(
    settings: Settings, harness: Harness, tmp_path: Path
) -> None:
    partner_id = await submitted_report(harness)
    api = OfflineBotApi()
    api.downloads["pdf-1"] = b"%PDF-1.4 Flyer"
    csv_path, zip_path = tmp_path / "berichte.csv", tmp_path / "dateien.zip"
    done = await export_reports(settings, csv_path, files=zip_path, request=api)
    assert (done.items, done.files, done.missing_files) == (2, 1, [])
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so spreadsheets read the umlauts"
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert [r["Nr."] for r in rows] == ["1", "2"]
    assert rows[0]["Organisation"] == "Stadt Vielfalt & Co" and rows[0]["Was getan"] == POOL_TEXT
    assert rows[0]["Ergebnis"] == "Gut; 12 % mehr; Teams zufrieden", (
        "a ';' inside stays in its cell"
    )
    assert (
        rows[0]["Veröffentlichen erlaubt"] == "ja" and rows[1]["Veröffentlichen erlaubt"] == "nein"
    )
    assert rows[0]["Ansprechperson (Opt-in)"] == "Erika Muster"
    name = rows[0]["Datei"]
    assert (
        name.startswith(f"{partner_id}-")
        and name.endswith("Flyer_M_rz.pdf")
        and not rows[1]["Datei"]
    )
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.namelist() == [name]
        assert archive.read(name) == b"%PDF-1.4 Flyer"
    year = rows[0]["Berichtsjahr"]
    other_year = await export_reports(settings, csv_path, year=int(year) + 1)
    assert other_year.items == 0
    # A file Telegram no longer has is named, the rest is written.
    gone = await export_reports(settings, csv_path, files=zip_path, request=OfflineBotApi())
    assert gone.files == 0 and gone.missing_files == [name]
    # `stats` counts reports by state and examples by topic.
    lines = "\n".join(await collect(settings))
    assert "Reports in the bot: 1 submitted, 0 being filled in" in lines
    assert "Examples in the directory: 12" in lines
    assert re.search(r"recruiting_outreach\s+3", lines)


def test_reports_export_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reports", "export"]) == 2
    assert "--out FILE.csv" in capsys.readouterr().err


async def test_the_office_asks_back_and_the_contacts_answer_returns(harness: Harness) -> None:
    await submitted_report(harness)
    async with harness.services.sessions() as session:
        [first, _] = (await session.scalars(select(ReportItem).order_by(ReportItem.id))).all()
    calls = await harness.press(
        f"rr:ask:{first.id}", user_id=COORDINATOR_ID, chat_id=OFFICE_CHAT_ID
    )
    assert "Rückfrage zu Maßnahme 1" in last_text(calls)
    calls = await harness.send(
        "Wie viele Sprachen deckt der Pool ab?",
        user_id=COORDINATOR_ID,
        chat_id=OFFICE_CHAT_ID,
        chat_type="supergroup",
    )
    assert "unterwegs" in last_text(calls)
    [question] = [r for r in await outbox_rows(harness) if r.key.startswith("report:ask:")]
    assert question.chat_id == CONTACT and "Wie viele Sprachen" in question.text
    [reply] = [b["data"] for row in json.loads(question.buttons or "[]") for b in row]
    assert "Antwort" in last_text(await tap(harness, reply))
    calls = await say(harness, "Neun Sprachen, darunter Arabisch und Rumänisch.")
    assert "weitergeleitet" in last_text(calls)
    [answer] = [r for r in await outbox_rows(harness) if r.key.startswith("report:reply:")]
    assert answer.chat_id == OFFICE_CHAT_ID and "Neun Sprachen" in answer.text
    card = await harness.press(
        f"rr:item:{first.id}", user_id=COORDINATOR_ID, chat_id=OFFICE_CHAT_ID
    )
    assert "Rückfrage gestellt" in last_text(card) and data_of(card, "rr:ok:")


async def office_asks(harness: Harness, text: str) -> list[Call]:
    """The office writes its question about an item (after "Nachfragen")."""
    return await harness.send(
        text, user_id=COORDINATOR_ID, chat_id=OFFICE_CHAT_ID, chat_type="supergroup"
    )


async def first_item_id(harness: Harness) -> int:
    async with harness.services.sessions() as session:
        return (await session.scalars(select(ReportItem.id).order_by(ReportItem.id))).first() or 0


async def test_a_text_too_long_to_pass_on_is_refused_whole_and_the_prompt_waits(
    harness: Harness,
) -> None:
    """Nothing is cut silently: the office's question and the partner's answer are passed on
    whole or not at all, and the prompt keeps waiting for a shorter one."""
    texts = harness.services.texts
    await submitted_report(harness)
    item = await first_item_id(harness)
    await harness.press(f"rr:ask:{item}", user_id=COORDINATOR_ID, chat_id=OFFICE_CHAT_ID)
    question = "Wie genau? " * 220
    calls = await office_asks(harness, question)
    too_long = texts.get("de", "common.too_long_to_relay", length=len(question), limit=2000)
    assert last_text(calls) == too_long
    assert not [r for r in await outbox_rows(harness) if r.key.startswith("report:ask:")]
    assert "unterwegs" in last_text(await office_asks(harness, "Wie viele Sprachen?"))

    [asked] = [r for r in await outbox_rows(harness) if r.key.startswith("report:ask:")]
    [reply] = [b["data"] for row in json.loads(asked.buttons or "[]") for b in row]
    await tap(harness, reply)
    answer = "Neun Sprachen. " * 170
    calls = await say(harness, answer)
    assert last_text(calls) == texts.get(
        "de", "common.too_long_to_relay", length=len(answer), limit=2000
    )
    assert "weitergeleitet" in last_text(await say(harness, answer[:1990]))
    [passed] = [r for r in await outbox_rows(harness) if r.key.startswith("report:reply:")]
    assert answer[:1990].strip() in passed.text


async def test_cancel_stops_the_office_question_about_a_report(harness: Harness) -> None:
    await submitted_report(harness)
    item = await first_item_id(harness)
    await harness.press(f"rr:ask:{item}", user_id=COORDINATOR_ID, chat_id=OFFICE_CHAT_ID)
    cancelled = harness.services.texts.get("de", "common.cancelled")
    assert last_text(await office_asks(harness, "/cancel")) == cancelled
    question = "Wie viele Sprachen deckt der Pool ab?"
    assert "unterwegs" not in last_text(await office_asks(harness, question))
    assert not [r for r in await outbox_rows(harness) if r.key.startswith("report:ask:")]


async def test_cancel_pauses_the_report_form_which_report_resumes(harness: Harness) -> None:
    await add_partner(harness)
    await say(harness, "/report")
    form = await harness.services.reports.form_of_chat(chat_id=CONTACT)
    assert form is not None
    await tap(harness, f"rf:t:{form.report.id}:interpreter_pool")
    step = (await form_of(harness, form.report.id)).report.step
    paused = texts_of(await say(harness, "/cancel"))
    assert paused == [harness.services.texts.get("de", "reports.paused")]
    await say(harness, "Wie fange ich mit einem Dolmetscherpool an?")  # a question, no answer
    assert (await form_of(harness, form.report.id)).report.step == step, "the report is kept"


async def test_the_office_list_shows_partner_names_as_typed_on_its_buttons(
    harness: Harness,
) -> None:
    await submitted_report(harness)
    calls = await harness.send("/reports", user_id=COORDINATOR_ID)
    labels = [label for c in calls for label, data in c.buttons() if data.startswith("rr:open:")]
    assert labels and all("Stadt Vielfalt & Co" in label for label in labels), labels


async def test_deleteme_and_retention_cover_reports_uploads_and_contacts(
    harness: Harness,
) -> None:
    await submitted_report(harness)
    async with harness.services.sessions() as session:
        [first, _] = (await session.scalars(select(ReportItem).order_by(ReportItem.id))).all()
    await tap(harness, f"rr:ok:{first.id}", user=COORDINATOR_ID)
    # Retention: two years after submitting, the PDF and the contact are forgotten.
    retention = harness.services.privacy.retention
    later = utcnow() + timedelta(days=retention.reports + 1)
    privacy = PrivacyService(harness.services.sessions, retention, clock=lambda: later)
    counts = await privacy.apply_retention()
    assert counts["report_files"] == 1
    async with harness.services.sessions() as session:
        item = await session.get(ReportItem, first.id, populate_existing=True)
        example = await session.scalar(select(Example).where(Example.item_id == first.id))
    assert item is not None and item.file_id is None and item.done == POOL_TEXT
    assert example is not None and example.contact is None, "the example stays, its contact goes"
    # /deleteme: the open draft of another partner's report goes, the submitted one stays
    # the organisation's, unlinked from the person.
    async with harness.services.sessions.begin() as session:
        other = Partner(name="Verein Zwei", org_type="association", report_due="12-31")
        session.add(other)
        await session.flush()
        session.add(PartnerContact(partner_id=other.id, chat_id=CONTACT))
    assert "Schritt für Schritt" in " ".join(texts_of(await say(harness, "/report")))
    await say(harness, "/deleteme")
    await tap(harness, "dm:yes")
    async with harness.services.sessions() as session:
        reports = (await session.scalars(select(Report))).all()
    assert [(r.state, r.chat_id, r.contact) for r in reports] == [("submitted", None, None)]


async def test_directory_pages_stay_within_one_message_and_turn_in_place(
    harness: Harness,
) -> None:
    async with harness.services.sessions.begin() as session:
        for n in range(12):
            session.add(
                Example(
                    key=f"test:{n}",
                    topic_id="job_ads",
                    partner=f"Organisation {n:02d} " + "mit sehr langem Namen " * 8,
                    org_type="company",
                    region="Ort " + "x" * 90,
                    year=2020 + n % 5,
                    language="de",
                    done="Wir haben alle Stellenanzeigen überarbeitet. " * 22,
                    result="Mehr Bewerbungen. " * 27,
                    link="https://example.org/" + "a" * 400,
                    contact="Ansprechperson " + "y" * 280,
                )
            )
    calls = await harness.press("ex:l:topic:job_ads:0", user_id=STRANGER)
    seen: set[str] = set()
    for _ in range(12):
        page = last_text(calls) or str(calls[-1].params.get("text", ""))
        assert len(page) <= 4096
        seen |= set(re.findall(r"Organisation (\d\d)", page))
        forward = [d for c in calls for t, d in c.buttons() if t == "▶"]
        if not forward:
            break
        calls = await harness.press(forward[0], user_id=STRANGER)
        assert [c.method for c in calls if c.method.startswith("edit")] == ["editMessageText"]
    assert seen == {f"{n:02d}" for n in range(12)}, "every example reachable by paging"
    # And back: ◀ shows the examples just before the page, none skipped.
    seen_back: set[str] = set()
    for _ in range(12):
        page = last_text(calls) or str(calls[-1].params.get("text", ""))
        assert len(page.encode("utf-16-le")) // 2 <= 4096
        shown = set(re.findall(r"Organisation (\d\d)", page))
        assert seen_back.isdisjoint(shown) or not seen_back, "no example twice in a row"
        seen_back |= shown
        back = [d for c in calls for t, d in c.buttons() if t == "◀"]
        if not back:
            break
        calls = await harness.press(back[0], user_id=STRANGER)
    assert seen_back == {f"{n:02d}" for n in range(12)}, "every example reachable going back"


async def test_examples_without_a_region_are_no_region_button(harness: Harness) -> None:
    async with harness.services.sessions.begin() as session:
        for n, region in enumerate(("", "Köln", "")):
            session.add(
                Example(
                    key=f"region:{n}",
                    topic_id="job_ads",
                    partner=f"Organisation {n}",
                    org_type="company",
                    region=region,
                    year=2025,
                    language="de",
                    done="Stellenanzeigen überarbeitet.",
                    result="Mehr Bewerbungen.",
                )
            )
    calls = await harness.press("ex:f:region", user_id=STRANGER)
    labels = [t for c in calls for t, d in c.buttons() if d.startswith("ex:l:region:")]
    assert labels and all(label.split(" (")[0].strip() for label in labels), labels
    assert not any(d == "ex:l:region::0" for c in calls for _, d in c.buttons())


async def test_another_measure_can_be_left_out_again(harness: Harness) -> None:
    await add_partner(harness)
    fresh = await open_report(harness, CONTACT)
    reports = harness.services.reports
    await reports.choose_topic(await fresh(), "interpreter_pool")
    await reports.answer(await fresh(), POOL_TEXT)
    await reports.answer(await fresh(), "Gut.")
    for step in ("figure", "link", "file"):
        await reports.skip(await fresh(), step)
    await reports.consent(await fresh(), publish=True)
    rid = (await fresh()).report.id
    calls = await tap(harness, f"rf:g:{rid}:more:topic")
    assert f"rf:g:{rid}:topic:review" in data_of(calls, "rf:g:")
    calls = await tap(harness, f"rf:g:{rid}:topic:review")
    assert "Ansprechperson" in last_text(calls), "no new item: on to the contact person"
    assert [i.done for i in (await fresh()).items] == [POOL_TEXT]
