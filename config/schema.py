"""The settings schema. ``config/bridge.example.toml`` documents every key.

Every key can be overridden from the environment: ``BRIDGE_`` plus the path with ``__``
between levels, e.g. ``BRIDGE_SERVER__PORT=9000`` or ``BRIDGE_CHANNELS__WEBCHAT__ENABLED=false``.
Unknown keys are errors, so a typo never silently leaves a default in place.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from channels.email.settings import EmailSettings
from channels.slack.settings import SlackSettings
from channels.telegram.settings import TelegramSettings
from channels.webchat.settings import WebchatSettings
from routing.hours import HoursSettings
from routing.texts import Texts

_toml_file: ContextVar[Path | None] = ContextVar("toml_file", default=None)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: The address customers and agents use (links in acknowledgements and emails). Empty:
    #: ``http://host:port``.
    public_url: str = ""
    #: Seconds a shutdown waits for the outbox to drain before giving the rest back.
    shutdown_timeout: float = Field(default=10.0, ge=0)
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = Field(default=1_048_576, ge=70_000)

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class StorageSettings(Section):
    database_url: str = "sqlite+aiosqlite:///var/bridge.db"
    #: Empty: an in-process bus (one process). Set: Redis bus and locks (several processes).
    redis_url: str = ""
    #: Names this deployment's keys in Redis, so several can share one server.
    redis_prefix: str = Field(default="bridge", min_length=1, max_length=64, pattern=r"^[\w.:-]+$")
    #: Migrate an outdated schema on start instead of refusing to run.
    auto_migrate: bool = False
    sqlite_synchronous: Literal["normal", "full"] = "normal"
    pool_size: int = Field(default=10, gt=0, le=200)
    #: Where attachments are kept, named by their SHA-256 (shared by all processes).
    files_dir: Path = Path("var/files")
    #: Largest attachment accepted, in bytes.
    max_file_bytes: int = Field(default=25 * 1024 * 1024, gt=0)

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        # The driver part is a label: SQLite is driven through the standard sqlite3 module in
        # a thread, PostgreSQL through asyncpg (storage/database.py says why).
        schemes = ("sqlite+aiosqlite://", "sqlite://", "postgresql+asyncpg://", "postgresql://")
        if not value.startswith(schemes):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split(':', 1)[0]!r})"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class AcknowledgementSettings(Section):
    #: Answer every new or reopened conversation at once with its reference, place in line
    #: and an honest expected response time.
    enabled: bool = True
    max_per_customer_per_hour: int = Field(default=3, ge=0)
    #: No acknowledgement when an agent answered publicly this recently (seconds).
    quiet_after_agent_reply: int = Field(default=300, ge=0)
    #: The name acknowledgements and updates are sent under.
    bot_name: str = Field(default="Support", min_length=1, max_length=80)
    #: A chat message consisting of one of these words gets a short status update.
    status_words: tuple[str, ...] = ("status", "/status", "статус", "estado")
    #: At most one status update per conversation this often (seconds).
    status_interval: int = Field(default=60, ge=0)
    #: Tell a waiting chat customer when the estimate slips past the promise by more than
    #: this (seconds).
    delay_margin: int = Field(default=120, ge=0)
    #: Announce at most the channel's first-response target.
    cap_at_target: bool = True


class RoutingSettings(Section):
    #: Agents take the head of their queue only; supervisors may always pick.
    strict_fifo: bool = True
    #: Urgent before high before normal before low; off: arrival order alone.
    strict_priority: bool = True
    default_capacity: int = Field(default=6, gt=0, le=100)
    default_team: str = Field(default="support", min_length=1, max_length=64)
    #: A customer message this many hours after resolve reopens the conversation; later
    #: ones start a new conversation linked to the old one.
    reopen_window_hours: float = Field(default=72.0, ge=0)
    #: Seconds within which the first response is promised, per channel (SLA, counted in
    #: the team's open hours; urgent conversations get a quarter, high half, low double).
    first_response_targets: dict[str, int] = Field(
        default_factory=lambda: {"webchat": 300, "telegram": 900, "slack": 900, "email": 43_200}
    )
    #: Seconds within which a customer's follow-up gets an answer, per channel.
    next_response_targets: dict[str, int] = Field(
        default_factory=lambda: {"webchat": 300, "telegram": 900, "slack": 900, "email": 43_200}
    )
    #: Where a conversation that waited on the customer re-enters the line when they write:
    #: "front" keeps the place it had from its start, "arrival" joins at the end.
    returning_position: Literal["front", "arrival"] = "front"
    #: An agent going offline puts their conversations back in the queue.
    requeue_on_offline: bool = True
    #: An escalated conversation keeps its place in line by waiting time.
    escalation_keeps_wait: bool = True
    #: Per channel, seconds after which an answered conversation nobody wrote in goes
    #: "pending_customer" and frees its agent's slot.
    idle_after: dict[str, int] = Field(default_factory=lambda: {"webchat": 600})
    acknowledgements: AcknowledgementSettings = AcknowledgementSettings()
    #: Business hours per team ([routing.teams.<team>]); a team not listed is open 24/7.
    teams: dict[str, HoursSettings] = Field(default_factory=dict)
    #: Replacements for the customer-facing texts: [routing.texts.<language>] <kind> = "...".
    texts: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("texts")
    @classmethod
    def _texts(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        Texts(value)  # raises ValueError naming the language, kind and placeholder
        return value


class OutboxSettings(Section):
    #: Seconds before the second attempt; doubles each time, with jitter.
    retry_initial: float = Field(default=1.0, gt=0)
    retry_max: float = Field(default=600.0, gt=0)
    #: Attempts before a delivery is given up as dead (agents are told).
    max_attempts: int = Field(default=15, gt=0, le=1000)
    #: A process claims a delivery for this long; when it dies mid-send, another sends it once
    #: the claim runs out (keep it above the longest send, retries within a claim included).
    lease_seconds: float = Field(default=60.0, ge=5, le=3600)
    #: Deliveries sent at once (different conversations; one conversation is always in order).
    concurrency: int = Field(default=128, gt=0, le=10_000)
    #: A reply still unsent this many seconds after it was due counts as waiting (the inbox's
    #: banner, /readyz) even without a failure: no process is sending.
    overdue_after: float = Field(default=60.0, gt=0)


class WebSettings(Section):
    """The inbox, the supervisor dashboard, the customer status page and ratings."""

    #: A sign-in lasts this many hours; then the agent signs in again.
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    #: SameSite of the session cookie: "lax" lets a link from an email or Slack open the
    #: inbox signed in; "strict" does not. State changes need a CSRF token either way.
    cookie_samesite: Literal["lax", "strict"] = "lax"
    #: Secure cookies: "auto" when server.public_url is https://.
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    #: Failed sign-ins for one account within the lock-out window that lock it.
    login_max_failures: int = Field(default=5, gt=0, le=1000)
    #: Failed sign-ins from one address within the window that lock the address.
    login_max_failures_per_ip: int = Field(default=20, gt=0, le=100_000)
    #: Minutes a lock-out lasts (and the window failures are counted in).
    login_lockout_minutes: int = Field(default=15, gt=0, le=24 * 60)
    #: Ask the customer for a 1-5 rating when their conversation is resolved.
    csat_enabled: bool = True


class ChannelsSettings(Section):
    webchat: WebchatSettings = WebchatSettings()
    telegram: TelegramSettings = TelegramSettings()
    slack: SlackSettings = SlackSettings()
    email: EmailSettings = EmailSettings()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        nested_model_default_partial_update=True,
    )

    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    logging: LoggingSettings = LoggingSettings()
    routing: RoutingSettings = RoutingSettings()
    outbox: OutboxSettings = OutboxSettings()
    web: WebSettings = WebSettings()
    channels: ChannelsSettings = ChannelsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file; the file overrides the defaults.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _toml_file.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def public_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url
        return f"http://{self.server.host}:{self.server.port}"
