"""bot.toml and the environment, validated into typed settings.

Deployment and community defaults come from ``bot.toml``; secrets come only
from the environment. Every problem becomes one :class:`ConfigError` line that
names the key, says what is wrong and how to fix it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.badge_rules import BUILT_IN_SLUGS, BUILT_INS, SLUG, BadgeSettings
from bot.commands import DEFAULT_SLACK_COMMAND
from bot.destinations import ACCESS_KEY, PURPOSES
from bot.errors import ConfigError
from bot.inputs import UnknownZone, check_zone
from bot.offers import OfferSettings, StripeSettings, check_offer_slugs

_T = TypeVar("_T")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///flywheel.db"

# Secret names as they might be (wrongly) written into bot.toml, and the
# variable to use instead. Checked before anything else is validated.
SECRET_KEYS: dict[str, str] = {
    "token": "DISCORD_TOKEN or SLACK_BOT_TOKEN",
    "discord_token": "DISCORD_TOKEN",
    "bot_token": "SLACK_BOT_TOKEN",
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "signing_secret": "SLACK_SIGNING_SECRET",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "app_token": "SLACK_APP_TOKEN",
    "slack_app_token": "SLACK_APP_TOKEN",
    "api_key": "STRIPE_API_KEY",
    "stripe_api_key": "STRIPE_API_KEY",
    "webhook_secret": "STRIPE_WEBHOOK_SECRET",
    "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET",
    "secret_key": "FLYWHEEL_SECRET_KEY",
    "admin_token": "FLYWHEEL_ADMIN_TOKEN",
    "password": "the password inside FLYWHEEL_DATABASE_URL",
}


def _known_purposes(channels: dict[str, _T]) -> dict[str, _T]:
    unknown = sorted(set(channels) - set(PURPOSES))
    if unknown:
        raise ValueError(
            f"unknown purpose {', '.join(unknown)}; the purposes are {', '.join(PURPOSES)}"
        )
    return channels


def _access_keys(access: dict[str, _T]) -> dict[str, _T]:
    bad = sorted(key for key in access if not re.fullmatch(ACCESS_KEY, key))
    if bad:
        raise ValueError(
            f"access key {', '.join(bad)} is not valid; use lower-case letters, digits, - and _"
        )
    return access


def _slack_access(access: dict[str, str]) -> dict[str, str]:
    _access_keys(access)
    bad = sorted(key for key, value in access.items() if not re.fullmatch(r"[SCG][A-Z0-9]+", value))
    if bad:
        raise ValueError(
            f"access {', '.join(bad)} must be a user group id (S…) or a private channel id (G… or C…)"
        )
    return access


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommunitySettings(_Section):
    """The community this deployment serves."""

    name: str = Field(default="My Community", min_length=1, max_length=100)
    slug: str = Field(default="community", pattern=r"^[a-z0-9][a-z0-9-]{0,49}$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            check_zone(value)
        except UnknownZone:
            raise ValueError(
                f"{value[:40]!r} is not an IANA time zone; use a name like 'Europe/Berlin' or 'UTC'"
            ) from None
        return value


class DatabaseSettings(_Section):
    """Where the data lives."""

    url: str = DEFAULT_DATABASE_URL
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                f"{value.split('://')[0]!r} is not supported; use 'sqlite+aiosqlite:///file.db' "
                "or 'postgresql+asyncpg://user@host/db'"
            )
        return value


class WebSettings(_Section):
    """The one HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = Field(default="http://127.0.0.1:8080", pattern=r"^https?://\S+$")


class DiscordSettings(_Section):
    """The Discord front end."""

    guild_ids: list[int] = Field(default_factory=list)
    moderator_role_ids: list[int] = Field(default_factory=list)
    owner_user_ids: list[int] = Field(default_factory=list)
    message_content_intent: bool = False
    # Channel ids by purpose (rituals, ugc-review, showcase, recognition, announcements),
    # applied at start-up where no moderator has set one with /channel set.
    channels: dict[str, int] = Field(default_factory=dict)
    # Neutral access keys (inner-circle, founding-member…) → Discord role ids.
    access: dict[str, int] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _purposes(cls, value: dict[str, int]) -> dict[str, int]:
        return _known_purposes(value)

    @field_validator("access")
    @classmethod
    def _access(cls, value: dict[str, int]) -> dict[str, int]:
        return _access_keys(value)


class SlackSettings(_Section):
    """The Slack front end."""

    mode: Literal["socket", "http"] = "socket"
    command: str = Field(default=DEFAULT_SLACK_COMMAND, pattern=r"^/[a-z0-9_-]{1,31}$")
    moderator_user_ids: list[str] = Field(default_factory=list)
    owner_user_ids: list[str] = Field(default_factory=list)
    # Channel ids by purpose, like [discord.channels].
    channels: dict[str, str] = Field(default_factory=dict)
    # Neutral access keys → a user group (S…, paid plans) or a private channel (G…/C…).
    access: dict[str, str] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _purposes(cls, value: dict[str, str]) -> dict[str, str]:
        return _known_purposes(value)

    @field_validator("access")
    @classmethod
    def _access(cls, value: dict[str, str]) -> dict[str, str]:
        return _slack_access(value)


class OutboxSettings(_Section):
    """How side effects leave the process."""

    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base_seconds: float = Field(default=2.0, gt=0, le=3600)
    backoff_max_seconds: float = Field(default=900.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Under a burst of commits the event and outbox loops start a pass at most this often,
    # so each pass takes many rows (0 for a pass per commit).
    settle_seconds: float = Field(default=0.1, ge=0, le=5)
    # Sent rows are deleted after this many days (what was posted is in the post registry).
    retention_days: int = Field(default=30, ge=1, le=3650)


MEDIA_MAX_BYTES = 8 * 1024 * 1024


class MediaSettings(_Section):
    """Where members' files (UGC attachments) are kept, and how large they may be."""

    # A folder, relative to the working directory unless absolute; created on first upload.
    dir: str = "media"
    max_bytes: int = Field(default=MEDIA_MAX_BYTES, ge=1024, le=100 * 1024 * 1024)
    fetch_timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @field_validator("dir")
    @classmethod
    def _usable_folder(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give a folder, e.g. 'media' or '/var/lib/flywheel/media'")
        if any(ord(c) < 32 or ord(c) == 127 for c in value) or len(value) > 1024:
            raise ValueError("give a folder path on one line, without control characters")
        # The folder is made on the first upload: what already exists on the way must be
        # folders, or that upload would fail long after start-up.
        path = Path(value)
        for part in (path, *path.parents):
            try:
                if part.exists():
                    if not part.is_dir():
                        raise ValueError(f"{str(part)[:80]!r} is a file, not a folder")
                    break
            except OSError as exc:
                raise ValueError(f"{str(part)[:80]!r} cannot be reached ({exc.strerror})") from None
        return value

    @property
    def path(self) -> Path:
        """Return the folder as a path."""
        return Path(self.dir)


class UgcSettings(_Section):
    """Member submissions (UGC): limits and the points they earn."""

    # Submissions one member may make in 24 hours.
    daily_limit: int = Field(default=5, ge=1, le=1000)
    # Files one submission may carry (each at most [media] max_bytes).
    max_attachments: int = Field(default=4, ge=0, le=10)
    # Points when a moderator approves a submission, and more when it is featured.
    approve_points: int = Field(default=25, ge=0, le=10_000)
    feature_points: int = Field(default=50, ge=0, le=10_000)


class RecognitionSettings(_Section):
    """Points from chat: the rules and the ingest queue (see docs/architecture.md)."""

    # Points a counted message earns (MEE6, for reference, gives 15-25 at most once a minute).
    message_points: int = Field(default=5, ge=0, le=1000)
    # A member's messages earn points at most once per this many seconds.
    cooldown_seconds: int = Field(default=60, ge=0, le=86_400)
    # Messages shorter than this many characters earn nothing.
    min_length: int = Field(default=5, ge=0, le=4000)
    # Channel ids (either platform's) whose messages earn nothing.
    ignored_channels: tuple[str, ...] = ()
    # Points a message's author earns for a reaction from someone else (never their own,
    # never a bot's; a bot's message earns nothing). Removing a reaction keeps the point.
    reaction_points: int = Field(default=1, ge=0, le=1000)
    # One member's reactions earn the same author points at most this often a day (24 h).
    reaction_daily_limit: int = Field(default=5, ge=1, le=1000)
    # Messages waiting to be written; a full queue makes the front end wait (back-pressure).
    queue_size: int = Field(default=20_000, ge=10, le=1_000_000)
    # Messages written in one transaction at most. Under a flood a batch fills before the
    # interval and holds SQLite's write lock while it is written (20,000: about 0.4 s);
    # larger batches write faster (a member's messages in one batch share their score rows).
    batch_size: int = Field(default=20_000, ge=1, le=50_000)
    # The queue is written at least this often. A hard kill loses what was queued and the
    # batch being written: at most flush_seconds of chat while writing keeps up, at most
    # queue_size + batch_size messages under a flood.
    flush_seconds: float = Field(default=2.0, gt=0, le=60)
    # Points for an answer its asker (or a moderator) marks as accepted; at least 1, so a
    # moderator moving the mark takes back exactly what was given.
    answer_points: int = Field(default=25, ge=1, le=10_000)
    # One asker's questions credit the same answerer at most this often a day (24 h); past
    # it the answer is still marked but earns nothing (no trading points back and forth).
    answer_daily_limit: int = Field(default=3, ge=1, le=1000)

    @field_validator("ignored_channels")
    @classmethod
    def _channel_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for channel in value:
            if not channel or len(channel) > 64 or not channel.isascii() or " " in channel:
                raise ValueError(f"{channel[:60]!r} is not a channel id")
        return value


class LoggingSettings(_Section):
    """Log output."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class FileSettings(_Section):
    """Everything bot.toml may hold."""

    community: CommunitySettings = Field(default_factory=CommunitySettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    ugc: UgcSettings = Field(default_factory=UgcSettings)
    recognition: RecognitionSettings = Field(default_factory=RecognitionSettings)
    badges: dict[str, BadgeSettings] = Field(default_factory=dict)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    offers: dict[str, OfferSettings] = Field(default_factory=dict)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @field_validator("badges")
    @classmethod
    def _badge_tables(
        cls, value: dict[str, BadgeSettings], info: ValidationInfo
    ) -> dict[str, BadgeSettings]:
        for slug, badge in value.items():
            if not re.fullmatch(SLUG, slug):
                raise ValueError(
                    f"[badges.{slug[:40]}]: name the table with lower-case letters, digits "
                    "and -, starting with a letter (e.g. [badges.bug-hunter])"
                )
            if slug not in BUILT_IN_SLUGS and (badge.name is None or badge.emoji is None):
                raise ValueError(
                    f"[badges.{slug}] is not a built-in badge ({', '.join(BUILT_IN_SLUGS)}): "
                    "give it a name and an emoji"
                )
        named = {b.slug: b.name for b in BUILT_INS if b.slug not in value or value[b.slug].enabled}
        named.update({slug: b.name for slug, b in value.items() if b.name and b.enabled})
        names: dict[str, str] = {}
        for slug, name in named.items():
            key = name.casefold()
            if key in names:
                raise ValueError(
                    f"[badges.{slug}] and [badges.{names[key]}] are both called {name!r}; "
                    "give each badge its own name"
                )
            names[key] = slug
        # [discord] and [slack] come before [badges] in this model: already validated here.
        mapped = _mapped_access(info)
        for slug, badge in value.items():
            if badge.role is not None and badge.role not in mapped:
                raise ValueError(
                    f"badges.{slug}.role {badge.role!r} is not in [discord.access] or "
                    "[slack.access]; map it to a role there, or remove the role"
                )
        return value

    @field_validator("offers")
    @classmethod
    def _offer_tables(
        cls, value: dict[str, OfferSettings], info: ValidationInfo
    ) -> dict[str, OfferSettings]:
        check_offer_slugs(value, _mapped_access(info))
        return value


def _mapped_access(info: ValidationInfo) -> set[str]:
    """Return the access keys [discord.access] and [slack.access] map (validated already)."""
    return {
        key
        for section in ("discord", "slack")
        if (given := info.data.get(section)) is not None
        for key in given.access
    }


class Secrets(BaseSettings):
    """Secrets, read only from the environment and never logged."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, frozen=True)

    DISCORD_TOKEN: SecretStr | None = None
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    STRIPE_API_KEY: SecretStr | None = None
    STRIPE_WEBHOOK_SECRET: SecretStr | None = None
    FLYWHEEL_SECRET_KEY: SecretStr | None = None
    FLYWHEEL_ADMIN_TOKEN: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read only what load_settings passes, so an explicit environment is honoured."""
        return (init_settings,)


class Settings(BaseModel):
    """The validated configuration of one Flywheel process."""

    model_config = ConfigDict(frozen=True)

    file: FileSettings
    secrets: Secrets
    source: str

    @property
    def community(self) -> CommunitySettings:
        """Return the [community] section."""
        return self.file.community

    @property
    def database_url(self) -> str:
        """Return the database URL (FLYWHEEL_DATABASE_URL already applied)."""
        return self.file.database.url

    @property
    def web(self) -> WebSettings:
        """Return the [web] section."""
        return self.file.web

    @property
    def discord(self) -> DiscordSettings:
        """Return the [discord] section."""
        return self.file.discord

    @property
    def slack(self) -> SlackSettings:
        """Return the [slack] section."""
        return self.file.slack

    @property
    def outbox(self) -> OutboxSettings:
        """Return the [outbox] section."""
        return self.file.outbox

    @property
    def media(self) -> MediaSettings:
        """Return the [media] section."""
        return self.file.media

    @property
    def ugc(self) -> UgcSettings:
        """Return the [ugc] section."""
        return self.file.ugc

    @property
    def recognition(self) -> RecognitionSettings:
        """Return the [recognition] section."""
        return self.file.recognition

    @property
    def badges(self) -> dict[str, BadgeSettings]:
        """Return the [badges.<slug>] tables."""
        return self.file.badges

    @property
    def stripe(self) -> StripeSettings:
        """Return the [stripe] section."""
        return self.file.stripe

    @property
    def offers(self) -> dict[str, OfferSettings]:
        """Return the [offers.<slug>] tables."""
        return self.file.offers

    def configured_channels(self) -> dict[str, dict[str, str]]:
        """Return the channel ids bot.toml names, by platform and purpose."""
        return {
            "discord": {purpose: str(c) for purpose, c in self.discord.channels.items()},
            "slack": dict(self.slack.channels),
        }

    def configured_owners(self) -> dict[str, tuple[str, ...]]:
        """Return the owners' user ids bot.toml names (``owner_user_ids``), by platform."""
        return {
            "discord": tuple(str(user) for user in self.discord.owner_user_ids),
            "slack": tuple(self.slack.owner_user_ids),
        }

    @property
    def discord_enabled(self) -> bool:
        """Say whether a Discord token is configured."""
        return self.secrets.DISCORD_TOKEN is not None

    @property
    def slack_enabled(self) -> bool:
        """Say whether a Slack bot token is configured."""
        return self.secrets.SLACK_BOT_TOKEN is not None


def _find_secret(data: Mapping[str, Any], prefix: str = "") -> tuple[str, str] | None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found = _find_secret(value, f"{dotted}.")
            if found:
                return found
        elif key.lower() in SECRET_KEYS:
            return dotted, SECRET_KEYS[key.lower()]
    return None


def _describe(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return (
            f"{source}: unknown key '{key}'; remove it or fix its spelling "
            "(bot.toml.example lists every key)"
        )
    message = first["msg"].removeprefix("Value error, ")
    shown = first.get("input")
    got = f" (got {shown!r})" if not isinstance(shown, dict | list) else ""
    return (
        f"{source}: '{key}' is invalid: {message}{got}; see bot.toml.example for the expected form"
    )


def _read_toml(path: Path, source: str) -> dict[str, Any]:
    """Read bot.toml; every way it can be unreadable is one ConfigError line naming the fix."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{source}: file not found; pass --config with an existing file "
            "or copy bot.toml.example to bot.toml"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a directory; pass --config the path of bot.toml") from None
    except PermissionError:
        raise ConfigError(
            f"{source}: permission denied; make it readable by the user running flywheel "
            f"(e.g. chmod o+r {source}) or pass --config another file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read ({exc.strerror}); check the file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{source}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise ConfigError(f"{source}: not valid TOML ({detail}); fix the syntax there") from None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read bot.toml (optional) and the environment into validated settings."""
    env = dict(os.environ if environ is None else environ)
    chosen = path if path is not None else env.get("FLYWHEEL_CONFIG")
    data: dict[str, Any] = {}
    source = "defaults"
    if chosen:
        config_path = Path(chosen)
        source = str(config_path)
        data = _read_toml(config_path, source)
    secret = _find_secret(data)
    if secret:
        key, variable = secret
        raise ConfigError(
            f"{source}: '{key}' looks like a secret; secrets are never read from bot.toml: "
            f"remove it and set {variable} in the environment"
        )
    if env.get("FLYWHEEL_DATABASE_URL"):
        data.setdefault("database", {})
        if isinstance(data["database"], dict):
            data["database"]["url"] = env["FLYWHEEL_DATABASE_URL"]
            source = f"{source} + FLYWHEEL_DATABASE_URL"
    if env.get("FLYWHEEL_WEB_PORT"):
        data.setdefault("web", {})
        if isinstance(data["web"], dict):
            data["web"]["port"] = env["FLYWHEEL_WEB_PORT"]
            source = f"{source} + FLYWHEEL_WEB_PORT"
    try:
        file_settings = FileSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    try:
        given = {key: value for key, value in env.items() if key in Secrets.model_fields and value}
        secrets = Secrets.model_validate(given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "environment")) from None
    return Settings(file=file_settings, secrets=secrets, source=source)
