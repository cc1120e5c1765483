"""A real Mosquitto for the MQTT tests: own config, free loopback port, persistence in a temp dir.

Run as a non-root account when we are root (the embedded PostgreSQL's system account, made
once), like the embedded PostgreSQL. No pytest import: the benchmark uses it too.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from roomtemp.embedded._system import server_account

INSTALL = "install Debian's mosquitto (`make tools` as root, or `apt-get install mosquitto`)"


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mosquitto:
    """`with Mosquitto() as broker:` a running broker on broker.port; stop()/start() restart it
    gracefully with its persistence kept."""

    def __init__(self, binary: str, *, users: dict[str, str] | None = None) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="roomtemp-mosquitto-"))
        self.users = users or {}
        self.process: subprocess.Popen[bytes] | None = None
        self._account = server_account()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _configure(self) -> Path:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.dir}/",
            # The bridge's session may hold every message published while it is down: the
            # default cap (1000) would drop the rest.
            "max_queued_messages 0",
            # MQTT 3.1.1 clients have no Receive Maximum: this lets the bridge batch.
            "max_inflight_messages 1000",
            f"log_dest file {self.dir}/mosquitto.log",
        ]
        if self.users:
            passwords = self.dir / "passwd"
            passwords.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwords), user, password], check=True
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        if self._account is not None:
            for path in [self.dir, *self.dir.iterdir()]:
                os.chown(path, self._account.uid, self._account.gid)
        return conf

    def start(self) -> None:
        conf = self.dir / "mosquitto.conf"
        if not conf.exists():
            conf = self._configure()
        account = self._account
        self.process = subprocess.Popen(
            [self.binary, "-c", str(conf)],
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=None if account is None else account.uid,
            group=None if account is None else account.gid,
            extra_groups=None if account is None else [],
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()[-2000:]}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM): mosquitto writes its persistence file first."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None

    def log(self) -> str:
        path = self.dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
