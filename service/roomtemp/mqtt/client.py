"""paho-mqtt glue: connect (TLS, credentials, persistent session), subscribe, hand messages to
the event loop, acknowledge and publish from it.

paho runs its network loop in a thread of its own; messages cross to the asyncio loop with
call_soon_threadsafe. `manual_ack=True`: paho sends no PUBACK by itself, the bridge does after
the commit (aiomqtt, built on paho, does not expose this).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from roomtemp.clock import Clock
from roomtemp.mqtt.metrics import BridgeMetrics
from roomtemp.mqtt.service import Message
from roomtemp.settings import Settings

log = logging.getLogger(__name__)

_KEEPALIVE_S = 30


def broker_address(url: str) -> tuple[str, int, bool]:
    """mqtt://host:port or mqtts://host:port → (host, port, tls)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"MQTT_URL must be mqtt://host:port or mqtts://host:port, not {url!r}")
    tls = parts.scheme == "mqtts"
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


class PahoBroker:
    """One paho client with a persistent session; implements service.Broker."""

    def __init__(
        self,
        settings: Settings,
        filters: Sequence[str],
        deliver: Callable[[Message], None],
        loop: asyncio.AbstractEventLoop,
        metrics: BridgeMetrics,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._filters = list(filters)
        self._deliver = deliver
        self._loop = loop
        self._metrics = metrics
        self._clock = clock
        self._v5 = settings.mqtt_protocol == "5"
        self._session = 0  # bumped on every (re)connect: message ids are per connection
        self._connected = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.mqtt_client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            clean_session=None if self._v5 else False,
            manual_ack=True,
        )
        self._configure()

    def _configure(self) -> None:
        s = self._settings
        host, port, tls = broker_address(s.mqtt_url)
        self._host, self._port = host, port
        if s.mqtt_username is not None:
            password = s.mqtt_password.get_secret_value() if s.mqtt_password else None
            self.client.username_pw_set(s.mqtt_username, password)
        if tls:
            self.client.tls_set(
                ca_certs=s.mqtt_ca_file,
                certfile=s.mqtt_cert_file,
                keyfile=s.mqtt_key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._settings.mqtt_session_expiry_seconds
            properties.ReceiveMaximum = self._settings.mqtt_receive_maximum
        self.client.connect_async(
            self._host,
            self._port,
            keepalive=_KEEPALIVE_S,
            clean_start=False if self._v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (queued acknowledgements go out first) and end paho's thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: paho.Client, _: Any, flags: Any, reason: ReasonCode, __: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self._session += 1
        log.info("connected to the broker (session present: %s)", flags.session_present)
        # Subscribing again is harmless with a kept session and needed without one.
        client.subscribe([(f, 1) for f in self._filters])
        self._connected.set()
        self._metrics.connected.set(1)

    def _on_disconnect(
        self, _: paho.Client, __: Any, ___: Any, reason: ReasonCode, ____: Any
    ) -> None:
        self._connected.clear()
        self._metrics.connected.set(0)
        log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _: paho.Client, __: Any, msg: paho.MQTTMessage) -> None:
        message = Message(
            msg.topic, bytes(msg.payload), msg.mid, self._clock(), self._session, msg.qos
        )
        self._loop.call_soon_threadsafe(self._deliver, message)

    # service.Broker
    def ack(self, message: Message) -> None:
        # A message received on an earlier connection is redelivered on this one (with its own
        # id): acknowledging the old id could acknowledge a different message.
        if message.qos > 0 and message.session == self._session and self.is_connected():
            self.client.ack(message.mid, message.qos)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def is_connected(self) -> bool:
        return self._connected.is_set()
