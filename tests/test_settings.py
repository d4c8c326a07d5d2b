"""Configuration from the environment: sensible defaults, clear errors, secrets kept secret."""

from __future__ import annotations

import re
import shutil
from datetime import time
from pathlib import Path

import pytest

from bot.settings import DEFAULT_API_BASE, Settings, SettingsError, load_settings
from knowledge.loader import BUNDLED_DIR

ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting from the developer's environment or a .env file leaks into a test."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults() -> None:
    settings = load_settings()
    assert settings.bot_token is None
    assert settings.database_url == "sqlite+aiosqlite:///data/vielfalt-lotse.sqlite3"
    assert settings.bot_api_base_url == DEFAULT_API_BASE
    assert settings.bot_api_file_url == "https://api.telegram.org/file/bot"
    assert settings.coordinator_ids == ()
    assert settings.admin_ids == ()
    assert settings.coordinator_chat_id is None
    assert settings.timezone == "Europe/Berlin"
    assert settings.zone.key == "Europe/Berlin"
    assert settings.knowledge_dir == BUNDLED_DIR
    assert settings.semantic_search is True
    assert settings.report_due == ""
    assert settings.report_offsets_days == (28, 7, 1)
    assert settings.reminder_time == time(9, 0)
    assert settings.webhook_port == 8443
    assert settings.flood_messages_per_minute == 20
    assert settings.log_level == "INFO"


def test_id_lists_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COORDINATOR_IDS", "1, 2,3")
    monkeypatch.setenv("ADMIN_IDS", "42")
    monkeypatch.setenv("REPORT_OFFSETS_DAYS", "14, 3")
    settings = load_settings()
    assert settings.coordinator_ids == (1, 2, 3)
    assert settings.admin_ids == (42,)
    assert settings.report_offsets_days == (14, 3)
    assert settings.is_coordinator(2)
    assert settings.is_coordinator(42)
    assert not settings.is_coordinator(4)


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus_Mons")
    monkeypatch.setenv("DATABASE_URL", "mysql://lotse:s3cr3t-pw@db/lotse")
    monkeypatch.setenv("REPORT_DUE", "13-45")
    monkeypatch.setenv("WEBHOOK_PORT", "99999")
    monkeypatch.setenv("COORDINATOR_IDS", "1, zwei")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    for name in ("TIMEZONE", "DATABASE_URL", "REPORT_DUE", "WEBHOOK_PORT", "COORDINATOR_IDS"):
        assert name in message
    assert "s3cr3t-pw" not in message, "a password in a bad URL must not be printed"


@pytest.mark.parametrize("value", ["13-01", "00-10", "03-32", "3/31", "März", "03-31-2025"])
def test_bad_report_due(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("REPORT_DUE", value)
    with pytest.raises(SettingsError, match="REPORT_DUE"):
        load_settings()


@pytest.mark.parametrize("value", ["03-31", "12-01", "02-29"])
def test_good_report_due(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("REPORT_DUE", value)
    assert load_settings().report_due == value


@pytest.mark.parametrize("value", ["04-31", "02-30"])
def test_impossible_report_due_is_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("REPORT_DUE", value)
    with pytest.raises(SettingsError, match="REPORT_DUE"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("ADMIN_IDS", "123456789:AAHsecretPastedByMistake", "entry 1 is not a number"),
        ("COORDINATOR_IDS", "1; 2,x-secret-1, 4, y-secret-2", "entries 3, 5 are not numbers"),
        ("REPORT_OFFSETS_DAYS", "28, 7x-secret", "entry 2 is not a number"),
        ("MEETING_OFFSETS_DAYS", "x-secret", "entry 1 is not a number"),
    ],
)
def test_a_bad_number_list_names_the_variable_and_position_not_the_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == f"invalid configuration:\n  {name}: Value error, {problem}"
    assert "secret" not in str(info.value)


def test_locales_dir_must_hold_both_catalogs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = (
        "invalid configuration:\n  LOCALES_DIR: Value error, not a folder with de.yaml and en.yaml"
    )
    monkeypatch.setenv("LOCALES_DIR", str(tmp_path / "no-such-locales"))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == expected
    half = tmp_path / "half"
    half.mkdir()
    (half / "de.yaml").write_text("a: b\n", encoding="utf-8")
    monkeypatch.setenv("LOCALES_DIR", str(half))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == expected
    (half / "en.yaml").write_text("a: b\n", encoding="utf-8")
    assert load_settings().locales_dir == half


def test_token_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "123456:AAH-very-secret-token"
    monkeypatch.setenv("BOT_TOKEN", token)
    monkeypatch.setenv("WEBHOOK_SECRET", "webhook-secret-value")
    settings = load_settings()
    assert settings.bot_token is not None
    assert settings.bot_token.get_secret_value() == token
    for shown in (repr(settings), str(settings), f"{settings}"):
        assert token not in shown
        assert "webhook-secret-value" not in shown


def test_token_is_not_shown_when_other_settings_are_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:AAH-very-secret-token")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "LOG_LEVEL" in str(info.value)
    assert "AAH-very-secret-token" not in str(info.value)


@pytest.mark.parametrize(
    ("base", "file_url"),
    [
        ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot"),
        ("http://127.0.0.1:8081/bot/", "http://127.0.0.1:8081/file/bot"),
        ("https://api.telegram.org/bot", "https://api.telegram.org/file/bot"),
    ],
)
def test_bot_api_file_url(monkeypatch: pytest.MonkeyPatch, base: str, file_url: str) -> None:
    monkeypatch.setenv("BOT_API_BASE_URL", base)
    assert load_settings().bot_api_file_url == file_url


def test_bot_api_base_url_needs_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_API_BASE_URL", "127.0.0.1:8081/bot")
    with pytest.raises(SettingsError, match="BOT_API_BASE_URL"):
        load_settings()


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("postgres://lotse:pw@db:5432/lotse", "postgresql+asyncpg://lotse:pw@db:5432/lotse"),
        ("postgresql://lotse@db/lotse", "postgresql+asyncpg://lotse@db/lotse"),
        ("sqlite:///data/bot.sqlite3", "sqlite+aiosqlite:///data/bot.sqlite3"),
        ("sqlite:////var/lib/bot.sqlite3", "sqlite+aiosqlite:////var/lib/bot.sqlite3"),
        ("postgresql+asyncpg://lotse@db/lotse", "postgresql+asyncpg://lotse@db/lotse"),
    ],
)
def test_database_url_gets_async_driver(
    monkeypatch: pytest.MonkeyPatch, given: str, normalised: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().database_url == normalised


def test_empty_values_fall_back_to_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIMEZONE", "DATABASE_URL", "WEBHOOK_PORT", "COORDINATOR_IDS", "KNOWLEDGE_DIR"):
        monkeypatch.setenv(name, "")
    settings = load_settings()
    assert settings.timezone == "Europe/Berlin"
    assert settings.database_url == "sqlite+aiosqlite:///data/vielfalt-lotse.sqlite3"
    assert settings.webhook_port == 8443
    assert settings.coordinator_ids == ()
    assert settings.knowledge_dir == BUNDLED_DIR


def test_dotenv_file_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text("COORDINATOR_IDS=7,8\nLOG_LEVEL=DEBUG\n", encoding="utf-8")
    settings = load_settings()
    assert settings.coordinator_ids == (7, 8)
    assert settings.log_level == "DEBUG"


def test_copied_env_example_is_a_valid_configuration(clean_env: Path) -> None:
    shutil.copy(ENV_EXAMPLE, clean_env / ".env")
    assert load_settings() == Settings(_env_file=None)  # type: ignore[call-arg]


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text("utf-8"), re.M))
    assert len(VARIABLES) > 20
    missing = [name for name in VARIABLES if name not in documented]
    assert missing == []
    unknown = sorted(documented - set(VARIABLES))
    assert unknown == []


def test_office_name_and_region_defaults() -> None:
    settings = load_settings()
    assert settings.office_name("de") == "Netzwerkstelle"
    assert settings.office_name("en") == "network office"
    assert settings.network_region == "NW"
    assert settings.regions == ()
    assert settings.region_for("ST") == "NW", "no choice offered: the network's region"


def test_regions_across_laender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETWORK_REGION", "st")
    monkeypatch.setenv("NETWORK_REGIONS", "ST, ni,ST")
    monkeypatch.setenv("OFFICE_NAME_DE", " Servicestelle ")
    settings = load_settings()
    assert settings.network_region == "ST"
    assert settings.regions == ("ST", "NI")
    assert settings.region_for("NI") == "NI"
    assert settings.region_for("BY") == "ST", "a Land the network does not span"
    assert settings.region_for(None) == "ST"
    assert settings.office_names == {"de": "Servicestelle", "en": "network office"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NETWORK_REGION", "NRW"),
        ("NETWORK_REGION", "XX"),
        ("NETWORK_REGIONS", "NW,Bayern"),
        ("OFFICE_NAME_DE", "Büro {name}"),
        ("OFFICE_NAME_EN", "<b>office</b>"),
    ],
)
def test_bad_region_or_office_name(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_network_region_must_be_among_the_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETWORK_REGIONS", "ST,NI")
    with pytest.raises(SettingsError, match="NETWORK_REGION must be one of NETWORK_REGIONS"):
        load_settings()
