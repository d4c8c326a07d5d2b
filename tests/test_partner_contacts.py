"""Every partner reachable: imported partners get invite links, their contacts get reminders,
and coordinators see and manage a partner's contacts in the bot."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.db.models import Chat, Invite, OutboxMessage, Partner, PartnerContact
from bot.office import import_partners, partner_invites, write_invites
from bot.offline import BOT_USER, Call
from bot.settings import Settings
from tests.conftest import COORDINATOR_ID, Harness, texts_of
from tests.test_delivery import make_worker
from tests.test_reminders import SPRING_MEETING, Clock, berlin, new_meeting, service

PARTNERS_CSV = (
    "name;type;region;agreement_date;email;report_due\n"
    "Stadt Musterstadt;municipality;Kreis Beispiel;2024-05-01;integration@musterstadt.example;"
    "03-31\n"
    "Jobcenter Beispiel;other;;2023-01-10;kontakt@jobcenter.example;03-31\n"
)
CONTACTS = (6101, 6102)


async def invite_rows(settings: Settings, tmp_path: Path) -> list[dict[str, str]]:
    """`partners invite --all --out FILE.csv`, read back as a spreadsheet program would."""
    invites, missing = await partner_invites(
        settings, partner_ids=None, username=str(BOT_USER["username"])
    )
    assert missing == []
    path = tmp_path / "einladungen.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        write_invites(handle, invites, settings.zone)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so spreadsheets read the umlauts"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


async def test_imported_partners_contacts_open_their_links_and_get_the_next_reminders(
    settings: Settings, harness: Harness, tmp_path: Path
) -> None:
    report = await import_partners(settings, PARTNERS_CSV)
    assert report.imported == 2 and not report.errors
    rows = await invite_rows(settings, tmp_path)
    assert [r["Organisation"] for r in rows] == ["Jobcenter Beispiel", "Stadt Musterstadt"]
    assert rows[1]["E-Mail"] == "integration@musterstadt.example"
    assert all(
        r["Einladungslink"].startswith("https://t.me/vielfalt_lotse_bot?start=inv_") for r in rows
    )
    assert all(r["Gültig bis"].count(".") == 2 for r in rows)
    again = await invite_rows(settings, tmp_path)
    assert [r["Einladungslink"] for r in again] == [r["Einladungslink"] for r in rows], (
        "running the export again for the mail merge gives the same links"
    )

    for contact, row in zip(CONTACTS, rows, strict=True):
        payload = row["Einladungslink"].split("start=")[1]
        welcome = texts_of(await harness.send(f"/start {payload}", user_id=contact))
        assert any(row["Organisation"] in t and "verknüpft" in t for t in welcome)

    clock = Clock(berlin(2027, 3, 26, 10, 0))  # the 7-day report reminder is due
    reminders = service(harness, clock)
    meeting = await new_meeting(reminders, berlin(2027, 3, 29, 10, 0), **SPRING_MEETING)
    assert await reminders.plan_report_reminders() == 2
    assert await reminders.plan_meeting_reminders() == 2
    assert await make_worker(harness, clock).run_once() == 4
    for contact, row in zip(CONTACTS, rows, strict=True):
        [report_reminder] = harness.api.sent("sendMessage", chat_id=contact)[-1:]
        assert "Tätigkeitsbericht" in report_reminder.text
        assert row["Organisation"] in report_reminder.text
        assert any(d.startswith("rp:done:") for _, d in report_reminder.buttons())
        [meeting_reminder] = harness.api.sent("sendDocument", chat_id=contact)
        assert "Netzwerktreffen Frühjahr" in meeting_reminder.text
        assert any(d == f"mt:yes:{meeting.id}" for _, d in meeting_reminder.buttons())


def buttons_of(calls: list[Call]) -> dict[str, str]:
    """Label → callback data of every button in these calls."""
    return {label: data for c in calls for label, data in c.buttons()}


async def test_a_coordinator_sends_a_link_sees_the_contacts_and_removes_one(
    settings: Settings, harness: Harness
) -> None:
    await import_partners(settings, PARTNERS_CSV)
    overview = await harness.send("/partners", user_id=COORDINATOR_ID)
    assert "Stadt Musterstadt" in texts_of(overview)[0]
    card_data = buttons_of(overview)["2. Stadt Musterstadt"]
    card = await harness.press(card_data, user_id=COORDINATOR_ID)
    [card_text] = texts_of(card, "editMessageText")
    assert "integration@musterstadt.example" in card_text and "Kontakte</b> (0)" in card_text
    actions = buttons_of(card)

    link_calls = await harness.press(actions["🔗 Einladungslink"], user_id=COORDINATOR_ID)
    [link_text] = texts_of(link_calls)
    assert "Stadt Musterstadt" in link_text
    link = next(word for word in link_text.split() if word.startswith("https://t.me/"))
    again = await harness.press(actions["🔗 Einladungslink"], user_id=COORDINATOR_ID)
    assert link in texts_of(again)[0], "a link that is still fresh is shown again"

    contact = 6201
    harness.api.names[contact] = "Ayşe Yılmaz"
    await harness.send(f"/start {link.split('start=')[1]}", user_id=contact)
    card = await harness.press(card_data, user_id=COORDINATOR_ID)
    [card_text] = texts_of(card, "editMessageText")
    assert "Kontakte</b> (1)" in card_text and "1. Ayşe Yılmaz – verknüpft seit" in card_text

    reminders = service(harness, Clock(berlin(2027, 3, 26, 10, 0)))
    assert await reminders.plan_report_reminders() == 1, "a reminder waits for the contact"
    remove = buttons_of(card)["✖️ Kontakt 1 entfernen"]
    stranger = await harness.press(remove.replace(":rm:", ":rmy:"), user_id=contact)
    assert [c for c in stranger if c.method == "answerCallbackQuery" and c.params.get("show_alert")]
    asked = await harness.press(remove, user_id=COORDINATOR_ID)
    [question] = texts_of(asked, "editMessageText")
    assert "Ayşe Yılmaz" in question and "entfernen?" in question
    keep = buttons_of(asked)["Nein, behalten"]
    assert keep == card_data
    removed = await harness.press(buttons_of(asked)["Ja, entfernen"], user_id=COORDINATOR_ID)
    assert "Kontakt entfernt." in [c.text for c in removed if c.method == "answerCallbackQuery"]
    assert "Kontakte</b> (0)" in texts_of(removed, "editMessageText")[0]
    deadlines = texts_of(await harness.send("/deadlines", user_id=contact))
    assert "mit keiner Partnerorganisation verknüpft" in deadlines[0]
    async with harness.services.sessions() as session:
        waiting = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == contact))
        ).all()
    assert [row.status for row in waiting] == ["cancelled"], "its waiting reminder is dropped"


async def test_a_used_up_or_old_link_is_replaced_by_a_new_one(
    settings: Settings, harness: Harness
) -> None:
    await import_partners(settings, PARTNERS_CSV)
    partners = harness.services.partners
    [first, *_] = await partners.active()
    link = await partners.invite(partner_id=first.id, created_by=COORDINATOR_ID)
    assert link is not None
    async with harness.services.sessions.begin() as session:
        row = await session.get(Invite, link.token)
        assert row is not None
        row.uses = row.max_uses
    used_up = await partners.invite(partner_id=first.id, created_by=COORDINATOR_ID)
    assert used_up is not None and used_up.token != link.token
    async with harness.services.sessions.begin() as session:
        row = await session.get(Invite, used_up.token)
        assert row is not None
        row.expires_at = row.created_at + timedelta(days=partners.invites.days / 2 - 1)
    old = await partners.invite(partner_id=first.id, created_by=COORDINATOR_ID)
    assert old is not None and old.token not in (link.token, used_up.token)


async def test_importing_again_updates_the_partners_instead_of_adding_them(
    settings: Settings, harness: Harness
) -> None:
    first = await import_partners(settings, "name;type\nStadt Musterstadt;municipality\n")
    assert (first.imported, first.updated) == (1, 0)
    again = await import_partners(
        settings, PARTNERS_CSV.replace("Stadt Musterstadt", "stadt  musterstadt")
    )
    assert (again.imported, again.updated) == (2, 1)
    async with harness.services.sessions() as session:
        partners = (await session.scalars(select(Partner).order_by(Partner.name))).all()
    assert [p.name for p in partners] == ["Jobcenter Beispiel", "stadt  musterstadt"]
    assert partners[1].email == "integration@musterstadt.example"
    assert partners[1].agreement_date == date(2024, 5, 1)
    report = await import_partners(settings, "name\nStadt A\nstadt a\n")
    assert report.imported == 0 and "the same name as line 2" in report.errors[0]


async def test_report_received_asks_first_and_can_be_undone(harness: Harness) -> None:
    texts = harness.services.texts
    reminders = harness.services.reminders
    due = reminders.today() + timedelta(days=10)
    contact = 6301
    async with harness.services.sessions.begin() as session:
        partner = Partner(
            name="Müller & Söhne", org_type="company", report_due=due.strftime("%m-%d")
        )
        session.add(partner)
        await session.flush()
        session.add(Chat(chat_id=contact, user_id=contact, kind="private", language="de"))
        session.add(PartnerContact(partner_id=partner.id, chat_id=contact))
    await reminders.plan_report_reminders()
    waiting = await reminder_states(harness, contact)
    assert "pending" in waiting, "reminders before the due date wait"

    card = await harness.press(f"pa:show:{partner.id}", user_id=COORDINATOR_ID)
    asked = await harness.press(buttons_of(card)["✅ Bericht erhalten"], user_id=COORDINATOR_ID)
    values = {"partner": partner.name, "date": due.strftime("%d.%m.%Y")}
    assert texts_of(asked, "editMessageText") == [
        texts.get("de", "partners.confirm_received", **values)
    ]
    assert await reminder_states(harness, contact) == waiting, "nothing changed yet"
    choices = buttons_of(asked)
    assert choices["Abbrechen"] == f"pa:show:{partner.id}", "back to the card"

    confirmed = await harness.press(choices["✅ Ja, erhalten"], user_id=COORDINATOR_ID)
    assert texts_of(confirmed, "editMessageText") == [
        texts.get("de", "reminders.received", **values)
    ]
    assert "pending" not in await reminder_states(harness, contact), "reminders stopped"
    twice = await harness.press(choices["✅ Ja, erhalten"], user_id=COORDINATOR_ID)
    assert texts_of(twice, "answerCallbackQuery") == [texts.get("de", "common.already_done")]

    undo = buttons_of(confirmed)["↩️ Rückgängig (nicht erhalten)"]
    undone = await harness.press(undo, user_id=COORDINATOR_ID)
    assert texts_of(undone, "editMessageText") == [
        texts.get("de", "reminders.unreceived", **values)
    ]
    assert await reminder_states(harness, contact) == waiting, "the reminders to come are back"
    assert (await reminders.deadline_of(partner)) is not None
    card = await harness.press(f"pa:show:{partner.id}", user_id=COORDINATOR_ID)
    assert "✅ Bericht erhalten" in buttons_of(card), "it can be marked again"
    again = await harness.press(undo, user_id=COORDINATOR_ID)
    assert texts_of(again, "answerCallbackQuery") == [texts.get("de", "common.already_done")]


async def reminder_states(harness: Harness, chat_id: int) -> list[str]:
    """The status of each report reminder row for this chat, in key order."""
    async with harness.services.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.chat_id == chat_id, OutboxMessage.kind == "reminder")
            .order_by(OutboxMessage.key)
        )
        return [row.status for row in rows.all()]
