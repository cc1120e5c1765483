"""A real webhook receiver for the delivery tests: an `http.server` on a loopback port that checks
the HMAC signature itself (hashlib/hmac, not roomtemp's code) and records every request.

In process (`Receiver`, a thread) it answers from a script of statuses and delays; as a process
(`python -m tests.alerts.receiver PORT SECRET LOG`, the fault test) it appends one JSON line per
request to LOG, flushed and fsynced BEFORE it answers 200, so what it acknowledged survives a
SIGKILL."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute sha256=HMAC(secret, raw body), compare in constant time."""
    if header is None or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool  # the signature verified with the receiver's secret
    status: int  # what the receiver answered (0: it did not answer, timed out on purpose)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers["idempotency-key"]


@dataclass
class Script:
    """Answers in order (then `default`); a float answer is a delay in seconds before 200."""

    answers: list[int | float] = field(default_factory=list)
    default: int = 200


class Receiver:
    """The in-process receiver; `url` points at it, `received` lists what arrived."""

    def __init__(self, secret: str, script: Script | None = None) -> None:
        self.secret = secret
        self.script = script or Script()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner._lock:
                    answer = owner.script.answers.pop(0) if owner.script.answers else None
                status = owner.script.default if answer is None else answer
                if isinstance(status, float):
                    time.sleep(status)
                    status = 200
                headers = {k.lower(): v for k, v in self.headers.items()}
                signed = verify(owner.secret, body, headers.get("x-roomtemp-signature"))
                with owner._lock:
                    owner.received.append(Received(self.path, headers, body, signed, status))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up waiting (a timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve(port: int, secret: str, log_path: str, delay: float = 0.0) -> None:
    """The receiver process: 200 to every correctly signed POST, after logging it durably and
    waiting `delay` seconds (so that a kill finds requests in flight)."""
    log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115  # open for the process's life
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signed = verify(secret, body, self.headers.get("X-Roomtemp-Signature"))
            if signed:
                data = json.loads(body)
                # Alertmanager form: "status"; roomtemp's JSON: the transition's to_state.
                status = data["status"] if "status" in data else data["transition"]["to_state"]
                line = json.dumps({"key": self.headers.get("Idempotency-Key"), "status": status})
                with lock:
                    log.write(line + "\n")
                    log.flush()
                    os.fsync(log.fileno())
            time.sleep(delay)
            self.send_response(200 if signed else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]))
