"""Configuration from the environment and `.env`, read once, validated, frozen."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.texts import LOCALES_DIR
from knowledge.loader import BUNDLED_DIR
from knowledge.model import DEFAULT_OFFICE_NAMES, REGIONS
from knowledge.text import LANGS, Lang

DEFAULT_API_BASE = "https://api.telegram.org/bot"


def _numbers(text: str) -> list[int]:
    """The comma-separated whole numbers in `text`; a bad entry is named by its position,
    never shown (a token pasted into the wrong variable must not end up in a log)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    bad = [str(n) for n, p in enumerate(parts, start=1) if not _is_int(p)]
    if len(bad) == 1:
        raise ValueError(f"entry {bad[0]} is not a number")
    if bad:
        raise ValueError(f"entries {', '.join(bad)} are not numbers")
    return [int(p) for p in parts]


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _int_list(value: object) -> object:
    if isinstance(value, str):
        return _numbers(value.replace(";", ","))
    if isinstance(value, int):
        return [value]
    return value


def _region_list(value: object) -> object:
    if isinstance(value, str):
        return [p.strip().upper() for p in value.split(",") if p.strip()]
    return value


def _int_tuple(value: object) -> object:
    if isinstance(value, str):
        return _numbers(value)
    return value


def _starting_with(value: str, prefixes: tuple[str, ...], problem: str) -> str:
    """`value` when it starts with one of `prefixes`; else the validation error `problem`."""
    if not value.startswith(prefixes):
        raise ValueError(problem)
    return value


class Settings(BaseSettings):
    """Every setting of the bot; see `.env.example` for the meaning of each."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        frozen=True,
    )

    bot_token: SecretStr | None = None
    database_url: str = "sqlite+aiosqlite:///data/vielfalt-lotse.sqlite3"
    bot_api_base_url: str = DEFAULT_API_BASE
    coordinator_ids: Annotated[tuple[int, ...], NoDecode] = ()
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    coordinator_chat_id: int | None = None
    timezone: str = "Europe/Berlin"
    knowledge_dir: Path = BUNDLED_DIR
    locales_dir: Path = LOCALES_DIR
    semantic_search: bool = True
    embedding_cache_dir: Path = Path("data/cache")

    network_name: str = "Erfolgsfaktor Interkulturelle Öffnung – NRW stärkt Vielfalt!"
    office_contact: str = ""
    office_name_de: str = Field(default=DEFAULT_OFFICE_NAMES["de"], min_length=1, max_length=80)
    office_name_en: str = Field(default=DEFAULT_OFFICE_NAMES["en"], min_length=1, max_length=80)
    network_region: str = "NW"
    network_regions: Annotated[tuple[str, ...], NoDecode] = ()
    privacy_controller: str = ""
    report_due: str = ""  # "MM-DD": the network's default annual report due date
    report_offsets_days: Annotated[tuple[int, ...], NoDecode] = (28, 7, 1)
    overdue_every_days: int = Field(default=7, ge=1)
    overdue_reminders: int = Field(default=4, ge=0)
    meeting_offsets_days: Annotated[tuple[int, ...], NoDecode] = (7, 1)
    snooze_days: int = Field(default=3, ge=1)
    reminder_time: time = time(9, 0)

    webhook_url: str = ""
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_path: str = "telegram"
    webhook_secret: SecretStr | None = None

    flood_messages_per_minute: int = Field(default=20, ge=1)
    send_per_second: float = Field(default=30.0, gt=0)
    broadcast_per_second: float = Field(default=28.0, gt=0)
    delivery_worker: bool = True
    delivery_crash_policy: Literal["resend", "unknown"] = "resend"
    delivery_lease_seconds: int = Field(default=60, ge=5)
    delivery_heartbeat_seconds: int = Field(default=2, ge=1)
    invite_max_uses: int = Field(default=5, ge=1)
    invite_days: int = Field(default=30, ge=1)
    onboarding_draft_days: int = Field(default=30, ge=1)
    retention_unanswered_days: int = Field(default=180, ge=1)
    retention_delivered_days: int = Field(default=30, ge=1)
    retention_handover_days: int = Field(default=180, ge=1)
    retention_audit_days: int = Field(default=365, ge=1)
    retention_report_files_days: int = Field(default=730, ge=1)
    privacy_contact: str = ""
    health_port: int | None = Field(default=None, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False

    @field_validator("coordinator_ids", "admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        return _int_list(value)

    @field_validator("report_offsets_days", "meeting_offsets_days", mode="before")
    @classmethod
    def _split_offsets(cls, value: object) -> object:
        return _int_tuple(value)

    @field_validator("network_regions", mode="before")
    @classmethod
    def _split_regions(cls, value: object) -> object:
        return _region_list(value)

    @field_validator("network_region", mode="before")
    @classmethod
    def _upper_region(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("network_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in REGIONS:
            raise ValueError(f"use a Land code: {', '.join(REGIONS)}")
        return value

    @field_validator("network_regions")
    @classmethod
    def _known_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in value if r not in REGIONS]
        if unknown:
            raise ValueError(f"unknown {', '.join(unknown)}; use Land codes: {', '.join(REGIONS)}")
        return tuple(dict.fromkeys(value))  # each once, in the given order

    @field_validator("office_name_de", "office_name_en")
    @classmethod
    def _no_braces(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c in value for c in "{}<>&"):
            raise ValueError("a name without { } < > &")
        return value

    @model_validator(mode="after")
    def _region_in_regions(self) -> Settings:
        if self.network_regions and self.network_region not in self.network_regions:
            raise ValueError("NETWORK_REGION must be one of NETWORK_REGIONS")
        return self

    @field_validator("locales_dir")
    @classmethod
    def _catalogs_exist(cls, value: Path) -> Path:
        # Checked here, not when the bot first needs a text: `run` and `broadcast send` would
        # otherwise end in a FileNotFoundError traceback.
        if not all((value / f"{lang}.yaml").is_file() for lang in LANGS):
            raise ValueError("not a folder with de.yaml and en.yaml")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone; use an IANA name like Europe/Berlin") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("sqlite:///"):
            value = "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        elif value.startswith(("postgres://", "postgresql://")):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        return _starting_with(
            value,
            ("sqlite+aiosqlite://", "postgresql+asyncpg://"),
            "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB",
        )

    @field_validator("bot_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _starting_with(
            value.rstrip("/"), ("http://", "https://"), "must start with http:// or https://"
        )

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise ValueError("use the public base URL, e.g. https://bot.example.org")
        return value

    @field_validator("report_due")
    @classmethod
    def _month_day(cls, value: str) -> str:
        if value:
            try:
                month, day = (int(p) for p in value.split("-"))
                date(2024, month, day)  # a leap year: 02-29 is allowed, 04-31 is not
            except ValueError as exc:
                raise ValueError("use MM-DD, e.g. 03-31") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    @property
    def bot_api_file_url(self) -> str:
        """The file endpoint: the trailing `/bot` of the API base replaced by `/file/bot`."""
        base = self.bot_api_base_url
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base + "/file/bot"

    def office_name(self, lang: Lang) -> str:
        """The network office's configured name in `lang` (fills `{office}` in texts)."""
        return self.office_name_de if lang == "de" else self.office_name_en

    @property
    def office_names(self) -> dict[Lang, str]:
        """The office's name per language, for the locale catalogs."""
        return {"de": self.office_name_de, "en": self.office_name_en}

    @property
    def regions(self) -> tuple[str, ...]:
        """The Länder a person can choose from in /settings (none when the network has one)."""
        return self.network_regions if len(self.network_regions) > 1 else ()

    def region_for(self, chosen: str | None) -> str:
        """The region whose referrals a person sees: their choice if offered, else the network's."""
        return chosen if chosen and chosen in self.regions else self.network_region

    def is_coordinator(self, user_id: int) -> bool:
        """True for coordinators and admins named in configuration."""
        return user_id in self.coordinator_ids or user_id in self.admin_ids


class SettingsError(Exception):
    """Configuration is invalid; the message names every bad variable."""


def load_settings(**overrides: object) -> Settings:
    """Read settings once; raise SettingsError naming every bad variable (never their values)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "_".join(str(p) for p in error["loc"]).upper() or "SETTINGS"
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
