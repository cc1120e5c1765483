"""SIGTERM answers what clients sent before it, even what the server had not accepted yet.

The server is stopped (SIGSTOP) while clients connect and send their requests: the connections
wait in the kernel's accept queue, the requests in their sockets, as they do when the event loop
is busy under load. Then SIGTERM and SIGCONT. uvicorn's own shutdown closes the listener at once,
which resets the queued connections (measured on 2026-12-07: 40 of 60 reset in 3 runs); the
server of `roomtemp serve` (api/server.py) keeps accepting for a short linger first.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from tests.system.ops.server import live_server

CLIENTS = 20


def test_sigterm_answers_connections_still_in_the_accept_queue(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(database_url, tmp_path, GRACEFUL_SHUTDOWN_SECONDS="5") as server:
        port = int(server.url.rsplit(":", 1)[1])
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            clients = []
            for _ in range(CLIENTS):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: roomtemp\r\nConnection: close\r\n\r\n")
                clients.append(s)
            os.kill(server.proc.pid, signal.SIGTERM)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        answers = []
        for s in clients:
            with s:
                try:
                    answers.append(s.recv(64).split(b"\r\n", 1)[0].decode())
                except OSError as exc:  # a reset: the request was never answered
                    answers.append(type(exc).__name__)
        server.proc.wait(timeout=20)  # uvicorn re-raises the SIGTERM it handled: -15
    assert answers == ["HTTP/1.1 200 OK"] * CLIENTS
    # New connections after the drain are refused.
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    assert refused
