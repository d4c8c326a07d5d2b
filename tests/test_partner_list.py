"""/partners at network scale: pages of at most ten, a search by name, region or report state,
and no message over Telegram's 4,096 characters (500 partners, through the real Application)."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.office import import_partners
from bot.offline import Call
from bot.settings import Settings
from tests.conftest import COORDINATOR_ID, Harness

LIMIT = 4096
COUNT = 500
OVERDUE = 13  # every 40th partner's report was due three days ago


def partner_buttons(calls: list[Call]) -> list[tuple[str, str]]:
    return [(label, data) for c in calls for label, data in c.buttons() if ":show:" in data]


def next_page(calls: list[Call]) -> str | None:
    return next((data for c in calls for label, data in c.buttons() if label == "▶"), None)


def sent(calls: list[Call]) -> list[str]:
    return [c.text for c in calls if c.method in ("sendMessage", "editMessageText")]


async def test_500_partners_are_paged_and_searchable(settings: Settings, harness: Harness) -> None:
    today = harness.services.reminders.today()
    past = (today - timedelta(days=3)).strftime("%m-%d")
    later = (today + timedelta(days=60)).strftime("%m-%d")
    long_name = "Sehr langer Vereinsname " * 7  # 176 of the 200 characters a name may have
    rows = ["name;type;region;agreement_date;report_due"]
    for n in range(COUNT):
        region = "Köln" if n % 50 == 7 else f"Kreis {n % 17}"
        due = past if n % 40 == 0 else later
        rows.append(f"Nr. {n:03d} {long_name};other;{region};2020-01-01;{due}")
    report = await import_partners(settings, "\n".join(rows) + "\n")
    assert report.errors == []

    calls = await harness.send("/partners", user_id=COORDINATOR_ID)
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        texts = sent(calls)
        assert texts and all(len(text) <= LIMIT for text in texts)
        buttons = partner_buttons(calls)
        assert 0 < len(buttons) <= 10
        seen.extend(data for _, data in buttons)
        step = next_page(calls)
        if step is None:
            break
        calls = await harness.press(step, user_id=COORDINATOR_ID)
    assert pages == COUNT // 10
    assert len(set(seen)) == COUNT, "paging reaches every partner, the last one too"
    assert "Nr. 499" in sent(calls)[0] and "Seite 50 von 50" in sent(calls)[0]

    cologne = await harness.send("/partners köln", user_id=COORDINATOR_ID)
    [text] = sent(cologne)
    assert "(10)" in text and len(partner_buttons(cologne)) == 10 and next_page(cologne) is None
    assert len(re.findall(r"\(Köln\)", text)) == 10

    for word in ("überfällig", "overdue"):
        overdue = await harness.send(f"/partners {word}", user_id=COORDINATOR_ID)
        [text] = sent(overdue)
        assert f"({OVERDUE})" in text and len(partner_buttons(overdue)) == 10
        assert text.count("überfällig seit 3 Tagen") == 10
        rest = await harness.press(str(next_page(overdue)), user_id=COORDINATOR_ID)
        assert len(partner_buttons(rest)) == OVERDUE - 10
        assert sent(rest)[0].count("überfällig seit 3 Tagen") == OVERDUE - 10

    by_name = await harness.send("/partners Nr. 123", user_id=COORDINATOR_ID)
    assert [label for label, _ in partner_buttons(by_name)] == [f"1. Nr. 123 {long_name}"[:60]]
    nothing = await harness.send("/partners Atlantis", user_id=COORDINATOR_ID)
    assert "Kein Partner passt zu „atlantis“" in sent(nothing)[0]


async def test_a_partner_name_is_shown_on_its_button_as_typed(
    settings: Settings, harness: Harness
) -> None:
    """Button labels are plain text in Telegram: no "&amp;" on them."""
    rows = ["name;type;region;agreement_date", "Müller & Söhne <GmbH>;company;Köln;2020-01-01"]
    assert (await import_partners(settings, "\n".join(rows) + "\n")).errors == []
    for command in ("/partners", "/partners Müller & Söhne"):
        calls = await harness.send(command, user_id=COORDINATOR_ID)
        [(label, _)] = partner_buttons(calls)
        assert "Müller & Söhne <GmbH>" in label, (command, label)
        assert "Müller &amp; Söhne &lt;GmbH&gt;" in sent(calls)[0], "the list itself is HTML"
