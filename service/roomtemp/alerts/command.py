"""`roomtemp alerts`: the alerts process (evaluator loop; the webhook sender joins it), and
`roomtemp alerts rules|receivers …`, thin over the same service as /v1/alert-rules."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from roomtemp.clock import system_clock
from roomtemp.errors import DomainError
from roomtemp.lifecycle.cli import engine_for

# The loops, service and schemas (SQLAlchemy, pydantic, httpx) are imported when the command
# runs: `roomtemp --help` imports this module to build its parser.
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from roomtemp.clock import Clock
    from roomtemp.settings import Settings

    #: A loop `roomtemp alerts` runs side by side with the others until SIGTERM/SIGINT; it
    #: returns once `stop` is set and its work in hand is done.
    Loop = Callable[[AsyncEngine, Settings, Clock, asyncio.Event], Awaitable[None]]

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "alerts",
        help="run the alerts process, or manage alert rules and receivers",
        description="Without a subcommand: evaluate the alert rules in DATABASE_URL every "
        "ALERT_EVAL_SECONDS and deliver their notifications, until SIGTERM. docs/alerts.md.",
    )
    parser.set_defaults(func=run)
    asub = parser.add_subparsers(dest="alerts_command", required=False)
    for noun, body in (("rules", "RuleIn"), ("receivers", "ReceiverIn")):
        p = asub.add_parser(noun, help=f"list, show, put or delete alert {noun}")
        nsub = p.add_subparsers(dest="action", required=True)
        nsub.add_parser("list", help=f"all {noun}, as JSON lines")
        show = nsub.add_parser("show", help="one, as JSON")
        show.add_argument("name")
        put = nsub.add_parser("put", help="create or replace one (the body of the API's PUT)")
        put.add_argument("name")
        put.add_argument("body", help=f"JSON object ({body}); '-' reads it from stdin")
        delete = nsub.add_parser("delete", help="delete one")
        delete.add_argument("name")


def run(settings: Settings, args: argparse.Namespace) -> int:
    engine = engine_for(settings)
    if args.alerts_command is None:
        return asyncio.run(_serve(engine, settings))
    return asyncio.run(_manage(engine, args))


async def _serve(engine: AsyncEngine, settings: Settings) -> int:
    from roomtemp.alerts.delivery import run_sender
    from roomtemp.alerts.metrics import AlertMetrics
    from roomtemp.alerts.observe import run_observer
    from roomtemp.alerts.worker import run_evaluator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("alerts: evaluating every %d s", settings.alert_eval_seconds)
    metrics = AlertMetrics()
    # The evaluator reports its rounds, the sender its deliveries to the metrics; the observer
    # serves them (ALERTS_PORT).
    loops: list[Loop] = [
        functools.partial(run_evaluator, on_round=metrics.observe_round),
        functools.partial(run_sender, on_result=metrics.observe_delivery),
        functools.partial(run_observer, metrics=metrics),
    ]
    try:
        await asyncio.gather(*(each(engine, settings, system_clock, stop) for each in loops))
    finally:
        await engine.dispose()
    log.info("alerts: stopped")
    return 0


def _dump(item: object) -> str:
    fields = dict(vars(item))
    fields.pop("id", None)
    return json.dumps(fields, default=str, sort_keys=True)


async def _manage(engine: AsyncEngine, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        async with engine.begin() as conn:
            for line in await _act(conn, args):
                print(line)
    except DomainError as exc:
        log.error("%s", exc)
        for detail in getattr(exc, "details", []) or []:
            log.error("  %s", detail.as_dict())
        return 1
    except (ValidationError, ValueError) as exc:
        log.error("invalid body: %s", exc)
        return 1
    finally:
        await engine.dispose()
    return 0


async def _act(conn: AsyncConnection, args: argparse.Namespace) -> list[str]:
    from roomtemp.alerts import service
    from roomtemp.alerts.schemas import ReceiverIn, RuleIn
    from roomtemp.pagination import MAX_LIMIT

    rules = args.alerts_command == "rules"
    now = system_clock()
    if args.action == "list":
        lister = service.list_rules if rules else service.list_receivers
        out: list[str] = []
        cursor: str | None = None
        while True:
            items: list[Any]
            items, cursor = await lister(conn, cursor, MAX_LIMIT)
            out.extend(_dump(i) for i in items)
            if cursor is None:
                return out
    if args.action == "show":
        getter = service.get_rule if rules else service.get_receiver
        return [_dump(await getter(conn, args.name))]
    if args.action == "delete":
        await (service.delete_rule if rules else service.delete_receiver)(conn, args.name)
        return [f"deleted {args.name}"]
    raw = sys.stdin.read() if args.body == "-" else args.body
    if rules:
        rule = RuleIn.model_validate_json(raw)
        view, created = await service.put_rule(conn, args.name, rule, now)
        return [("created " if created else "replaced ") + _dump(view)]
    row, created = await service.put_receiver(
        conn, args.name, ReceiverIn.model_validate_json(raw), now
    )
    return [("created " if created else "replaced ") + _dump(row)]
