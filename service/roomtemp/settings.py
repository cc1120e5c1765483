"""The one typed settings object, read from the environment (and `.env`)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from roomtemp import timegrid
from roomtemp.errors import InvalidInput
from roomtemp.process_settings import AlertSettings, MqttSettings

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
LogFormat = Literal["json", "text"]
MIN_TOKEN_HASH_KEY_LENGTH = 32


def normalise_database_url(raw: str) -> str:
    """Accept the usual spellings (postgres://, postgresql://) and pin the psycopg 3 driver."""
    url = make_url(raw)
    if url.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        url = url.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"unsupported database URL scheme {url.drivername!r}; use postgresql://")
    return url.render_as_string(hide_password=False)


class Settings(MqttSettings, AlertSettings):
    """Service configuration; environment variable names are the field names in upper case."""

    # hide_input_in_errors: a refused setting is named, its value never echoed (it may hold a
    # password, e.g. a URL with credentials), since startup errors end up in logs.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:5432/db; unset: embedded PostgreSQL (dev)",
    )
    db_host: str | None = Field(default=None, description="Used with DB_* parts when no URL is set")
    db_port: int = 5432
    db_name: str = "roomtemp"
    db_user: str = "roomtemp"
    db_password: SecretStr | None = None
    db_sslmode: str | None = None

    db_pool_size: Annotated[int, Field(ge=1, le=200)] = 20
    db_max_overflow: Annotated[int, Field(ge=0, le=200)] = 10
    db_pool_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    db_statement_timeout_ms: Annotated[int, Field(ge=0)] = Field(
        default=5000,
        description="PostgreSQL statement_timeout of writes (and of the CLI); a write it stops "
        "is answered 503",
    )
    db_connect_timeout_seconds: Annotated[int, Field(ge=1, le=60)] = 5

    # Bounds on a stalled or frozen database (docs/operations.md, Timeouts).
    request_timeout_read_seconds: Annotated[float, Field(gt=0, le=600)] = Field(
        default=1.75,
        description="GET/HEAD requests not answered within this get 503 database_unavailable "
        "+ Retry-After (the bound holds until the response starts; streams are not cut); "
        "set below the promised 2 s to leave room for scheduling",
    )
    request_timeout_write_seconds: Annotated[float, Field(gt=0, le=600)] = Field(
        default=4.5,
        description="The same for POST/PUT/PATCH/DELETE (promised: 5 s); a write answered 503 "
        "may still commit later (captures are idempotent: retry)",
    )
    readyz_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=0.5,
        description="/readyz answers 503 when the database has not answered within this "
        "(promised: within 1 s)",
    )
    db_read_statement_timeout_ms: Annotated[int, Field(ge=0)] = Field(
        default=1500,
        description="statement_timeout of reads (below REQUEST_TIMEOUT_READ_SECONDS, so a read "
        "that PostgreSQL ran too long is told apart from a stalled database: 422 "
        "query_too_expensive, not 503); 0 disables",
    )
    db_read_lock_timeout_ms: Annotated[int, Field(ge=0)] = Field(
        default=1000,
        description="lock_timeout of reads: a read stuck behind a lock (e.g. DDL) fails with "
        "503 instead of reaching its statement_timeout; 0 disables",
    )
    db_tcp_user_timeout_ms: Annotated[int, Field(ge=0)] = Field(
        default=10_000,
        description="libpq tcp_user_timeout: a connection whose sent data stays unacknowledged "
        "this long (network partition) is closed; 0: the kernel's default",
    )
    db_keepalives_idle_seconds: Annotated[int, Field(ge=1, le=7200)] = Field(
        default=10,
        description="libpq TCP keepalives: first probe after this much silence, then every 3 s, "
        "the connection dropped after 3 unanswered probes",
    )

    # Read/write split and connection poolers (docs/scaling.md).
    database_read_url: SecretStr | None = Field(
        default=None,
        description="URL of a read-only standby (e.g. CloudNativePG's `-ro` service) for "
        "averages, series and registry reads; unset: reads use the primary",
    )
    db_read_host: str | None = Field(
        default=None,
        description="Standby host used with the DB_* parts (same port, name, user, password, "
        "sslmode) when DATABASE_READ_URL is unset",
    )
    db_read_fallback: bool = Field(
        default=False,
        description="When the standby is unreachable, read from the primary instead of "
        "answering 503 (and stay ready)",
    )
    db_pgbouncer: bool = Field(
        default=False,
        description="Connections go through PgBouncer in transaction mode: no server-side "
        "prepared statements and no startup `options` (set statement_timeout on the role)",
    )
    db_prepare_threshold: int | None = Field(
        default=5,
        ge=0,
        description="psycopg prepare_threshold: executions before a query is prepared "
        "server-side; empty or `none` disables (forced off by DB_PGBOUNCER)",
    )

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    log_level: LogLevel = "info"

    auto_register: bool = True
    max_batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_future_skew_seconds: Annotated[int, Field(ge=0)] = 300
    ingest_micro_batch: Annotated[
        int,
        Field(
            ge=0,
            le=100_000,
            description="Concurrent single-capture POSTs are written in one transaction, at most "
            "this many (each answered after it commits); 0: one transaction per request",
        ),
    ] = 1000
    ingest_writers: Annotated[
        int,
        Field(
            ge=1,
            le=32,
            description="Micro-batches written at the same time per worker (each room always "
            "goes to the same one); keep below DB_POOL_SIZE",
        ),
    ] = 3
    max_series_points: Annotated[int, Field(ge=1)] = 10_000
    rollup_reads: bool = Field(
        default=True,
        description="Series whose step and window are multiples of 15 minutes read the "
        "(exact) rollup tables; false: always scan the raw captures",
    )

    partition_interval: Literal["month", "day"] = Field(
        default="month", description="Size of the time partitions of captures (month or day)"
    )
    partition_ahead: Annotated[int, Field(ge=1, le=366)] = Field(
        default=3, description="Partitions `roomtemp maintain` keeps ready after the current one"
    )
    partition_compact_after_days: Annotated[int, Field(ge=0)] | None = Field(
        default=2,
        description="`roomtemp maintain` rebuilds the primary-key index of partitions that "
        "ended this many days ago with full pages (about 14 B less per capture); unset: never",
    )
    retention_days: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Captures older than this are rejected at ingest and their partitions "
        "dropped by `roomtemp maintain`; unset keeps everything",
    )
    # Rollups outlive the raw captures (docs/data-lifecycle.md): unset keeps a level forever.
    # A level is never dropped where raw captures are kept, so each is at least RETENTION_DAYS.
    rollup_15m_retention_days: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Days of 15-minute rollups `roomtemp maintain` keeps (at least "
        "RETENTION_DAYS); unset keeps them forever",
    )
    rollup_1h_retention_days: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Days of 1-hour rollups `roomtemp maintain` keeps (at least RETENTION_DAYS); "
        "unset keeps them forever",
    )
    rollup_1d_retention_days: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Days of 1-day rollups `roomtemp maintain` keeps (at least RETENTION_DAYS); "
        "unset keeps them forever",
    )

    comfort_low_celsius: float = Field(
        default=20.0, description="Default lower comfort bound of temperature reports (°C)"
    )
    comfort_high_celsius: float = Field(
        default=24.0, description="Default upper comfort bound of temperature reports (°C)"
    )

    default_time_zone: str = Field(
        default="UTC",
        description="IANA time zone (e.g. Europe/Zurich) of buildings without their own "
        "`time_zone`: local days, weeks and months of bucket series and reports",
    )

    silent_sensor_minutes: Annotated[int, Field(ge=1)] = Field(
        default=60,
        description="A registered sensor without a capture for longer than this counts in the "
        "roomtemp_silent_sensors gauge",
    )
    silent_sensor_refresh_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=60.0, description="How often each worker recomputes roomtemp_silent_sensors"
    )

    # Live updates over Server-Sent Events (docs/live.md).
    live_enabled: bool = Field(
        default=True,
        description="Serve /v1/…/live streams (one LISTEN connection per process); false: 404",
    )
    live_max_streams: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1000,
        description="Open live streams per process; above it 503 too_many_streams + Retry-After",
    )
    live_queue_rounds: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=64,
        description="Update rounds buffered per stream; a client that falls this far behind is "
        "dropped (its stream ends with a `dropped` event), never buffered without bound",
    )
    live_ring_events: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=10_000,
        description="Recent events kept for Last-Event-ID resume; an older id gets a `reset`",
    )
    live_heartbeat_seconds: Annotated[float, Field(gt=0, le=300)] = Field(
        default=15.0, description="A comment line this often keeps proxies from closing streams"
    )
    live_coalesce_ms: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=75,
        description="Notifies arriving within this many ms share one recomputation round",
    )
    live_retry_ms: Annotated[int, Field(ge=100, le=600_000)] = Field(
        default=3000, description="The reconnect delay streams tell EventSource clients"
    )

    embedded_data_dir: str = ".data/postgres"

    log_format: LogFormat = Field(
        default="json", description="json: one JSON object per line (containers); text: humans"
    )
    git_sha: str = Field(default="unknown", description="Commit the build came from (build info)")
    graceful_shutdown_seconds: Annotated[int, Field(ge=1, le=600)] = Field(
        default=20, description="In-flight requests get this long to finish after SIGTERM"
    )

    auth_required: bool = Field(
        default=True,
        description="Require `Authorization: Bearer <token>` on /v1 (health and metrics stay open)",
    )
    token_hash_key: SecretStr | None = Field(
        default=None,
        description="Server secret (>= 32 chars) API tokens are HMAC-SHA256-hashed with; "
        "required when AUTH_REQUIRED is true",
    )
    rate_limit_per_second: Annotated[float, Field(ge=0)] = Field(
        default=50.0, description="Requests per second per token, per process; 0 disables"
    )
    rate_limit_burst: Annotated[int, Field(ge=1)] = Field(
        default=200, description="Requests a token may send at once before being limited"
    )
    auth_failure_rate_per_second: Annotated[float, Field(ge=0)] = Field(
        default=1.0,
        description="Failed token checks per second per client address, per process, before "
        "429; 0 disables",
    )
    auth_failure_burst: Annotated[int, Field(ge=1)] = Field(
        default=30, description="Failed token checks a client address may make at once"
    )
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=8 * 1024 * 1024, description="Larger request bodies are refused with 413"
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (JSON list); empty: CORS off",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        # From the environment pydantic-settings parses JSON; given as a plain string, do the same.
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("db_prepare_threshold", mode="before")
    @classmethod
    def _none_word(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null", "off"):
            return None
        return value

    @field_validator("default_time_zone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            timegrid.zone(value, "DEFAULT_TIME_ZONE")
        except InvalidInput as exc:
            raise ValueError(exc.details[0].message) from None
        return value

    @field_validator(
        "retention_days",
        "rollup_15m_retention_days",
        "rollup_1h_retention_days",
        "rollup_1d_retention_days",
        "alert_external_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose passes `${RETENTION_DAYS:-}` as an empty string.
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check_url(self) -> Settings:
        for url in (self.database_url, self.database_read_url):
            if url is not None:
                normalise_database_url(url.get_secret_value())
        if self.db_read_host and self.database_read_url is None and self.database_url is not None:
            raise ValueError(
                "DB_READ_HOST goes with the DB_* parts (DB_HOST, DB_USER, ...); "
                "with DATABASE_URL, set DATABASE_READ_URL instead"
            )
        return self

    def rollup_retention_days(self) -> dict[str, int | None]:
        """Days kept per rollup level ('15m', '1h', '1d'); None: forever."""
        return {
            "15m": self.rollup_15m_retention_days,
            "1h": self.rollup_1h_retention_days,
            "1d": self.rollup_1d_retention_days,
        }

    @model_validator(mode="after")
    def _check_rollup_retention(self) -> Settings:
        # A rollup level shorter than the raw captures would leave ranges that have raw data
        # but no rollups, which the series and reports read as "no captures".
        for level, days in self.rollup_retention_days().items():
            if days is None:
                continue
            name = f"ROLLUP_{level.upper()}_RETENTION_DAYS"
            if self.retention_days is None:
                raise ValueError(f"{name} needs RETENTION_DAYS (raw captures kept forever)")
            if days < self.retention_days:
                raise ValueError(
                    f"{name} ({days}) must be at least RETENTION_DAYS ({self.retention_days})"
                )
        return self

    @model_validator(mode="after")
    def _check_token_key(self) -> Settings:
        key = self.token_hash_key
        if key is not None and len(key.get_secret_value()) < MIN_TOKEN_HASH_KEY_LENGTH:
            raise ValueError(
                f"TOKEN_HASH_KEY must be at least {MIN_TOKEN_HASH_KEY_LENGTH} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return self

    def sqlalchemy_url(self) -> str | None:
        """The configured database URL with the psycopg driver, or None (embedded)."""
        return self._url(self.database_url, self.db_host)

    def read_url(self) -> str | None:
        """The standby's URL (DATABASE_READ_URL, or DB_READ_HOST with the DB_* parts), or None."""
        return self._url(self.database_read_url, self.db_read_host)

    def _url(self, url: SecretStr | None, host: str | None) -> str | None:
        # A whole URL wins over the DB_* parts; the parts need a host.
        if url is not None:
            return normalise_database_url(url.get_secret_value())
        if host is not None:
            return self._url_from_parts(host)
        return None

    def prepare_threshold(self) -> int | None:
        """psycopg's prepare_threshold; None (never prepare) behind PgBouncer."""
        return None if self.db_pgbouncer else self.db_prepare_threshold

    def _url_from_parts(self, host: str) -> str:
        query = {"sslmode": self.db_sslmode} if self.db_sslmode else {}
        url = URL.create(
            "postgresql+psycopg",
            username=self.db_user,
            password=self.db_password.get_secret_value() if self.db_password else None,
            host=host,
            port=self.db_port,
            database=self.db_name,
            query=query,
        )
        return url.render_as_string(hide_password=False)

    def with_database_url(self, url: str) -> Settings:
        """A copy pointing at `url` (used when the embedded server has started)."""
        return self.model_copy(update={"database_url": SecretStr(url)})
