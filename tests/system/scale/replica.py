"""Two PostgreSQL servers on loopback: a primary and a streaming-replication hot standby.

Built from the embedded server's own binaries: the primary is an EmbeddedPostgres, the standby
is `pg_basebackup -R` of it (which writes primary_conninfo and standby.signal), started as a
second EmbeddedPostgres on its own port. As root both run as the embedded server's system user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from roomtemp.embedded import EmbeddedPostgres
from roomtemp.embedded._system import run, server_account
from roomtemp.embedded.server import _binaries

# Throwaway servers: no fsync, but commits flush WAL (synchronous_commit on, as in production),
# so a committed write is streamed at once and the lag measured is replication's own.
_SETTINGS = {"fsync": "off", "full_page_writes": "off"}


def conninfo(url: str) -> str:
    """libpq form of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ReplicatedPair:
    primary_url: str
    standby: EmbeddedPostgres
    standby_url: str

    def stop_standby(self) -> None:
        self.standby.stop()

    def start_standby(self) -> None:
        url = self.standby.start()  # same port as before: the app's read URL stays valid
        assert url == self.standby_url

    def wait_replayed(self, timeout: float = 30.0) -> float:
        """Seconds until the standby has replayed everything the primary had written so far."""
        began = time.monotonic()
        with psycopg.connect(conninfo(self.primary_url), autocommit=True) as primary:
            row = primary.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        with psycopg.connect(conninfo(self.standby_url), autocommit=True) as standby:
            while True:
                done = standby.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
                ).fetchone()
                if done is not None and done[0]:
                    return time.monotonic() - began
                if time.monotonic() - began > timeout:
                    raise TimeoutError(f"standby did not replay up to {target} in {timeout} s")
                time.sleep(0.005)

    def set_replay_paused(self, paused: bool) -> None:
        """Pause or resume WAL replay on the standby (the stand-in for replication lag)."""
        function = "pg_wal_replay_pause" if paused else "pg_wal_replay_resume"
        with psycopg.connect(conninfo(self.standby_url), autocommit=True) as standby:
            standby.execute(f"SELECT {function}()")


@contextlib.contextmanager
def replicated_pair(database: str = "roomtemp") -> Iterator[ReplicatedPair]:
    """A primary and its streaming hot standby in a temporary directory; removed at the end."""
    base = Path(tempfile.mkdtemp(prefix="roomtemp-replica-"))
    try:
        base.chmod(0o711)  # as root, the servers' own user must traverse it
        with EmbeddedPostgres(
            base / "primary", database=database, server_settings=_SETTINGS
        ) as primary_url:
            standby_dir = base / "standby"
            standby_dir.mkdir(mode=0o700)
            account = server_account()
            if account is not None:
                os.chown(standby_dir, account.uid, account.gid)
                # The embedded server writes its password file as root; pg_basebackup, running
                # as the server's user, copies every file of the data directory.
                for made_by_us in (".roomtemp-password", ".handle_pids.json"):
                    path = base / "primary" / made_by_us
                    if path.exists():
                        os.chown(path, account.uid, account.gid)
            url = make_url(primary_url)
            run(
                [
                    str(_binaries() / "pg_basebackup"),
                    "--pgdata", str(standby_dir),
                    "--write-recovery-conf",  # -R: standby.signal + primary_conninfo
                    "--wal-method=stream",
                    "--checkpoint=fast",
                    "--no-sync",
                    "--dbname",
                    f"host={url.host} port={url.port} user={url.username} "
                    f"password={url.password}",
                ],
                account,
            )  # fmt: skip
            standby = EmbeddedPostgres(
                standby_dir, port=_free_port(), database=database, server_settings=_SETTINGS
            )
            standby_url = standby.start()
            try:
                yield ReplicatedPair(primary_url, standby, standby_url)
            finally:
                standby.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
