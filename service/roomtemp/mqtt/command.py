"""`roomtemp mqtt`: the bridge process (broker → capture ingest), with its own health port."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from roomtemp.clock import system_clock
from roomtemp.lifecycle.cli import NoDatabase, no_database_message

# The bridge (paho, SQLAlchemy, pydantic) is imported when the command runs: `roomtemp --help`
# imports this module to build its parser.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from roomtemp.mqtt.service import BridgeConfig
    from roomtemp.settings import Settings

log = logging.getLogger(__name__)

_READY_TIMEOUT_S = 1.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "mqtt",
        help="run the MQTT bridge (subscribe, store captures, acknowledge after commit)",
        description="Subscribe to MQTT_SUBSCRIPTIONS on MQTT_URL and store what arrives in "
        "DATABASE_URL with the rules of POST /v1/captures. Health, readiness and metrics on "
        "MQTT_HEALTH_HOST:MQTT_HEALTH_PORT. docs/mqtt.md.",
    )
    parser.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from roomtemp.capture import service as capture
    from roomtemp.mqtt.client import broker_address
    from roomtemp.mqtt.schemas import load_subscriptions
    from roomtemp.mqtt.service import BridgeConfig

    url = settings.sqlalchemy_url()
    if url is None:
        raise NoDatabase(no_database_message(settings))
    try:
        subscriptions = load_subscriptions(
            settings.mqtt_subscriptions, settings.mqtt_subscriptions_file
        )
        broker_address(settings.mqtt_url)
    except (ValueError, OSError, ValidationError) as exc:
        log.error("MQTT configuration: %s", exc)
        return 2
    config = BridgeConfig(
        subscriptions=subscriptions,
        policy=capture.policy_from(settings),
        batch_messages=settings.mqtt_batch_messages,
        batch_ms=settings.mqtt_batch_ms,
        dead_letter_topic=settings.mqtt_dead_letter_topic,
        max_attempts=settings.mqtt_max_attempts,
    )
    return asyncio.run(_serve(settings, url, config))


async def _serve(settings: Settings, url: str, config: BridgeConfig) -> int:
    from roomtemp.db.engine import create_engine
    from roomtemp.mqtt.client import PahoBroker
    from roomtemp.mqtt.metrics import BridgeMetrics
    from roomtemp.mqtt.service import Bridge
    from roomtemp.obs import probe_server

    engine = create_engine(settings, url)
    metrics = BridgeMetrics()
    loop = asyncio.get_running_loop()
    broker = PahoBroker(
        settings,
        sorted({s.mqtt_filter() for s in config.subscriptions}),
        lambda message: bridge.offer(message),  # messages arrive only after broker.start()
        loop,
        metrics,
        system_clock,
    )
    bridge = Bridge(engine, config, broker, metrics, system_clock)

    async def ready() -> tuple[bool, dict[str, bool]]:
        database = await _database_reachable(engine)
        parts = {"broker": broker.is_connected(), "database": database and bridge.database_ok}
        return all(parts.values()), parts

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await probe_server.serve(
        settings.mqtt_health_host, settings.mqtt_health_port, ready, metrics.registry
    )
    log.info(
        "MQTT bridge: %d subscription(s), health on %s:%d",
        len(config.subscriptions),
        settings.mqtt_health_host,
        settings.mqtt_health_port,
    )
    broker.start()
    try:
        await bridge.run(stop)  # returns after the batch in hand is committed and acknowledged
    finally:
        log.info("stopping: disconnecting from the broker")
        await asyncio.to_thread(broker.stop)
        server.close()
        await engine.dispose()
    return 0


async def _database_reachable(engine: AsyncEngine) -> bool:
    from sqlalchemy import text

    try:
        async with asyncio.timeout(_READY_TIMEOUT_S), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any failure means not ready; the reason is logged by the writes
        return False
    return True
