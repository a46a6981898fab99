"""Typed settings from the environment and `.env` (contract section 6), validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AnyUrl, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ioc.model import check_timezone

ENV_PREFIX = "IOC_"


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of the service; each is read from `IOC_<NAME>` or from `.env`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # Contract section 6.
    database_url: str = "postgresql://postgres@127.0.0.1:5432/ioc"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    http_port: int = Field(8000, ge=1, le=65535)
    alert_webhook_urls: Annotated[list[AnyUrl], NoDecode] = []
    alert_routes_file: Path | None = None  # contract section 8

    http_host: str = "0.0.0.0"  # noqa: S104 - the API is meant to be reached from the operations centre
    public_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Ho_Chi_Minh"
    language: Literal["vi", "en"] = "vi"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Store.
    timescaledb: Literal["auto", "on", "off"] = "auto"
    retention_days: int = Field(30, ge=1, le=3650)
    rollup_1m_retention_days: int = Field(90, ge=1, le=3650)
    rollup_1h_retention_days: int = Field(730, ge=1, le=36500)
    partitions_ahead_days: int = Field(3, ge=1, le=60)
    db_pool_size: int = Field(4, ge=1, le=64)

    # MQTT ingest.
    mqtt_topic_prefix: str = "ioc/v1"
    mqtt_client_id: str = "ioc-ingest"
    mqtt_shared_group: str = "ioc"
    # The prefix subscription (contract section 11): `shared` always; `plain` while this is the only
    # ingest member (the broker keeps it over its restart), moving to the shared one when another joins;
    # `auto`: plain for the single ingest process of `ioc run` with every role, shared otherwise.
    mqtt_subscription: Literal["auto", "shared", "plain"] = "auto"
    mqtt_keepalive_s: int = Field(30, ge=5, le=3600)
    mqtt_session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    batch_max_samples: int = Field(5000, ge=1, le=1_000_000)
    batch_max_age_ms: int = Field(200, ge=1, le=60_000)
    queue_max_messages: int = Field(20_000, ge=10)
    spool_dir: Path = Path("var/spool")
    db_retry_max_s: float = Field(5.0, gt=0)
    db_retry_attempts: int = Field(5, ge=0)
    # Broker figures from $SYS (drops) stored as samples of `service/{mqtt_broker_entity}`; the
    # supervisor turns it off in all but one ingest process.
    mqtt_sys_samples: bool = True
    mqtt_broker_entity: str = Field("mqtt-broker", pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    # Contract section 11: the accounts `ioc devices credentials` printed, for probes that speak for many
    # entities (each connection logs in with its entity's account instead of IOC_MQTT_URL's).
    mqtt_credentials_file: Path | None = None
    # Ingest members (contract section 11): a member not seen for this long is drained by another.
    ingest_member_gone_s: float = Field(120.0, ge=2, le=7 * 24 * 3600)

    # Processes (contract section 11): ingest processes under `ioc run`; 0 means one per core beyond
    # the first, at least one. Peer URLs are set by the supervisor for the API process, whose /readyz
    # then asks theirs.
    ingest_processes: int = Field(0, ge=0, le=64)
    peer_urls: Annotated[list[AnyUrl], NoDecode] = []

    # Alerting.
    rules_dir: Path | None = None
    alert_group_wait_s: float = Field(2.0, ge=0)
    alert_repeat_interval_s: float = Field(4 * 3600, ge=60)
    alert_tick_s: float = Field(1.0, gt=0)
    # How long a dependent's `down` page waits for its roots: a little above a link probe's usual 15 s
    # interval, so the probe's first bad sample is in; while that makes the root's own down alert pending
    # (link_down's 30 s `for`), the dependent waits for it too.
    alert_topology_hold_s: float = Field(20.0, ge=0, le=3600)
    # How long after a root is healthy again its dependents may stay dark before they page on their own:
    # long enough for a kiosk to notice its link is back and reconnect.
    alert_reconnect_grace_s: float = Field(45.0, ge=0, le=3600)
    # Several alerts processes (contract section 11): the leader's lease in the store. A standby takes
    # over at most this long after a leader hangs or is cut off (at once after it dies).
    alert_lease_s: float = Field(10.0, ge=1, le=60)
    alertmanager_url: AnyUrl | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = "ioc@localhost"
    smtp_to: Annotated[list[str], NoDecode] = []
    telegram_bot_token: str | None = None
    telegram_chat_ids: Annotated[list[str], NoDecode] = []
    telegram_api_url: AnyUrl = AnyUrl("https://api.telegram.org")

    # Agencies (contract section 9): KPI targets as `kpi=value` pairs, e.g. `satisfaction_pct=90,ontime_share_pct=95`.
    kpi_targets: Annotated[dict[str, float], NoDecode] = {"satisfaction_pct": 90.0}
    # The fewest dossiers or votes a share KPI is computed over in the 24 h window before it can page.
    kpi_min_count: int = Field(100, ge=0, le=10_000_000)

    # Failed authentications (contract sections 4 and 10): a client address with `auth_fail_limit` failed
    # logins (or, counted apart, failed API keys) within the window is refused with 429 until they age
    # out; so is a user name with `auth_user_fail_limit` failed logins, except to a browser it logged in from.
    auth_fail_limit: int = Field(20, ge=1, le=100_000)
    auth_user_fail_limit: int = Field(5, ge=1, le=100_000)
    auth_fail_window_s: float = Field(900.0, gt=0, le=7 * 86400)

    # Grafana.
    grafana_url: AnyUrl | None = None
    grafana_token: str | None = None
    # `ioc migrate` sets the read-only role ioc_grafana's LOGIN PASSWORD to this when it is set.
    grafana_db_password: str | None = None

    _split = field_validator("alert_webhook_urls", "smtp_to", "telegram_chat_ids", "peer_urls", mode="before")(
        _split_commas
    )

    @field_validator("alert_routes_file")
    @classmethod
    def _check_routes_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            from alerts.routes.config import RoutesError, load_routes

            try:
                load_routes(value)
            except RoutesError as exc:
                raise ValueError("; ".join(exc.problems)) from None
        return value

    @field_validator("kpi_targets", mode="before")
    @classmethod
    def _parse_kpi_targets(cls, value: object) -> object:
        from ioc.kpis import KPI_NAMES

        if isinstance(value, str):
            pairs: dict[str, object] = {}
            for part in (p.strip() for p in value.split(",")):
                if not part:
                    continue
                name, sep, number = part.partition("=")
                if not sep:
                    raise ValueError(f"{part!r} is not kpi=value")
                pairs[name.strip()] = number.strip()
            value = pairs
        if isinstance(value, dict):
            unknown = sorted(k for k in value if k not in KPI_NAMES)
            if unknown:
                raise ValueError(f"unknown KPI {', '.join(unknown)} (expected one of {', '.join(KPI_NAMES)})")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError("must be an mqtt:// or mqtts:// URL")
        if not parts.hostname:
            raise ValueError("must name a host")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return value

    @field_validator("mqtt_topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not value or any(c in value for c in "+#"):
            raise ValueError("must be a non-empty topic without wildcards")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @model_validator(mode="after")
    def _check_retention(self) -> Settings:
        if self.rollup_1m_retention_days < self.retention_days:
            raise ValueError("IOC_ROLLUP_1M_RETENTION_DAYS must not be shorter than IOC_RETENTION_DAYS")
        if self.rollup_1h_retention_days < self.rollup_1m_retention_days:
            raise ValueError("IOC_ROLLUP_1H_RETENTION_DAYS must not be shorter than IOC_ROLLUP_1M_RETENTION_DAYS")
        return self

    @property
    def mqtt(self) -> MqttTarget:
        return MqttTarget.from_url(self.mqtt_url)


class MqttTarget:
    """Host, port, credentials and TLS flag taken apart from an MQTT URL."""

    def __init__(self, host: str, port: int, tls: bool, username: str | None, password: str | None):
        self.host, self.port, self.tls, self.username, self.password = host, port, tls, username, password

    @classmethod
    def from_url(cls, url: str) -> MqttTarget:
        parts = urlsplit(url)
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            # Percent-decoded: a device's username `kiosk/kiosk-pv-01` is written `kiosk%2Fkiosk-pv-01` in a URL.
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )


class SettingsError(Exception):
    """All the problems found in the settings, one line each, naming the variable."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  {p}" for p in problems))


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings, reporting every error together."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            message = error["msg"].removeprefix("Value error, ")
            if not loc:  # a check across several settings names them in its message
                problems.append(message)
                continue
            where = f"[{'.'.join(loc[1:])}]" if len(loc) > 1 else ""
            problems.append(f"{ENV_PREFIX}{loc[0].upper()}{where}: {message}")
        raise SettingsError(problems) from None
