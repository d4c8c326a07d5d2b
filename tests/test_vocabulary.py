"""One vocabulary: organisation types, broadcast statuses and audiences, local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import office
from bot.services import firststeps, onboarding
from bot.services.broadcasts import AUDIENCES, OPEN_STATUSES, Audience, BroadcastStatus
from bot.services.dates import parse_when
from bot.services.localtime import local
from bot.texts import Texts
from knowledge import ORGANISATION_TYPES, OrganisationType

BERLIN = ZoneInfo("Europe/Berlin")


def test_one_list_of_organisation_types() -> None:
    assert tuple(OrganisationType) == ORGANISATION_TYPES
    assert onboarding.ORG_TYPES is ORGANISATION_TYPES
    assert office.PARTNER_TYPES is ORGANISATION_TYPES
    assert firststeps.ORGANISATION_TYPES is ORGANISATION_TYPES


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_organisation_type_has_its_labels(lang: str) -> None:
    texts = Texts.load()
    for kind in ORGANISATION_TYPES:
        assert f"onboarding.type.{kind}" in texts
        assert f"firststeps.type.{kind}" in texts
        assert texts.get(lang, f"onboarding.type.{kind}")


def test_statuses_and_audiences_are_the_stored_strings() -> None:
    assert AUDIENCES == ("partners", "subscribers", "all")
    assert str(Audience.SUBSCRIBERS) == "subscribers"
    assert [str(s) for s in OPEN_STATUSES] == ["scheduled", "running"]
    assert {str(s) for s in BroadcastStatus} == {"scheduled", "running", "done", "cancelled"}


def test_local_time_is_shown_as_it_is_typed() -> None:
    moment = datetime(2027, 3, 31, 12, 30, tzinfo=UTC)  # summer time in Berlin: +2
    shown = local(moment, BERLIN)
    assert shown == "31.03.2027 14:30"
    assert local(moment, BERLIN, with_time=False) == "31.03.2027"
    before = moment - timedelta(days=1)
    assert parse_when(shown, now=before, zone=BERLIN, lang="de") == moment
