"""The settings of the two side processes, the MQTT bridge (`roomtemp mqtt`) and the alerts
process (`roomtemp alerts`): field groups only. `roomtemp.settings.Settings` inherits them, so
there is still one typed settings object, read once from the environment; the API reads none
of these."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings


class MqttSettings(BaseSettings):
    """The MQTT bridge (`roomtemp mqtt`, docs/mqtt.md)."""

    mqtt_url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description="Broker: mqtt://host:port, or mqtts://host:port for TLS",
    )
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: str | None = Field(
        default=None, description="CA bundle the broker's certificate is checked against (mqtts)"
    )
    mqtt_cert_file: str | None = Field(default=None, description="Client certificate (mTLS)")
    mqtt_key_file: str | None = Field(default=None, description="Client certificate's key")
    mqtt_client_id: str = Field(
        default="roomtemp-bridge",
        description="Client id; the broker keeps the persistent session (and the unacknowledged "
        "messages) under it, so every bridge replica needs its own",
    )
    mqtt_protocol: Literal["3.1.1", "5"] = "5"
    mqtt_session_expiry_seconds: Annotated[int, Field(ge=60)] = Field(
        default=7 * 24 * 3600,
        description="MQTT 5: how long the broker keeps the session while the bridge is away",
    )
    mqtt_subscriptions: str | None = Field(
        default=None,
        description="JSON list of {topic, format, preset, mapping} (docs/mqtt.md); "
        "MQTT_SUBSCRIPTIONS_FILE names a file holding the same",
    )
    mqtt_subscriptions_file: str | None = None
    mqtt_batch_messages: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=500, description="Messages stored in one transaction at most"
    )
    mqtt_batch_ms: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=20, description="How long a batch waits for more messages before it is written"
    )
    mqtt_receive_maximum: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=1000,
        description="MQTT 5 Receive Maximum: unacknowledged messages the broker may send at once "
        "(MQTT 3.1.1: the broker's max_inflight_messages decides)",
    )
    mqtt_dead_letter_topic: str = "roomtemp/dead-letter"
    mqtt_max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        default=5,
        description="A message whose storing fails this often (database reachable) is "
        "dead-lettered instead of retried",
    )
    mqtt_health_host: str = "127.0.0.1"
    mqtt_health_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=9108, description="/healthz, /readyz and /metrics of the bridge"
    )


class AlertSettings(BaseSettings):
    """Alerts (docs/alerts.md): the `roomtemp alerts` process, and the links its webhooks carry."""

    alert_eval_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        default=60,
        description="Alert rules are evaluated at the instants that are multiples of this many "
        "seconds (UTC epoch)",
    )
    # Webhook delivery (alerts/delivery.py): at-least-once from the alert_outbox table.
    alert_delivery_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = Field(
        default=10.0,
        description="A webhook POST not answered within this counts as a failed attempt",
    )
    alert_delivery_first_retry_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=1.0, description="Backoff after the first failed attempt (doubles each time)"
    )
    alert_delivery_max_retry_seconds: Annotated[float, Field(gt=0, le=86400)] = Field(
        default=3600.0, description="Cap of the backoff between two attempts"
    )
    alert_delivery_max_age_seconds: Annotated[int, Field(ge=1)] = Field(
        default=86_400,
        description="A notification still failing this long after its transition (or after the "
        "silence that held it) is given up, and counted",
    )
    alert_delivery_batch: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=20, description="Due notifications one sender takes (and sends at once) per poll"
    )
    alert_delivery_poll_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=1.0, description="How often the sender looks for due notifications when idle"
    )
    alert_external_url: str | None = Field(
        default=None,
        description="Base URL people open the dashboard at (http(s)://host[:port], no path, "
        "query or fragment): webhooks link the room's dashboard page (generatorURL, url) and "
        "carry it as externalURL; unset: those are empty strings",
    )
    alerts_host: str = Field(
        default="127.0.0.1",
        description="Address of the alerts process's /healthz, /readyz, /metrics",
    )
    alerts_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=9109, description="Port of the alerts process's /healthz, /readyz and /metrics"
    )
    alerts_metrics_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        default=15, description="How often the alerts process reads its gauges from the database"
    )

    @field_validator("alert_external_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a port that is not a number in range
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("ALERT_EXTERNAL_URL must be an http:// or https:// URL with a host")
        # It is sent to every receiver: never a password in it.
        if "@" in parts.netloc:
            raise ValueError("ALERT_EXTERNAL_URL takes no user name or password")
        # Links are the base + the dashboard's route, and the dashboard only works at the root
        # of its host (its assets and API calls are absolute paths): no path, query or fragment.
        if parts.path not in ("", "/") or "?" in value or "#" in value:
            raise ValueError("ALERT_EXTERNAL_URL takes no path, query or fragment")
        if any(c.isspace() for c in value):
            raise ValueError("ALERT_EXTERNAL_URL takes no spaces")
        return value.rstrip("/")
