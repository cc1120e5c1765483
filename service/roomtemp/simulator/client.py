"""Posting readings to POST /v1/captures over one kept-alive HTTP connection (stdlib only).

A post whose connection fails (the server closed an idle keep-alive connection, restarted, or
answered 429/502/503/504) is sent again on a new connection: captures are idempotent on their key,
so resending is safe and nothing is lost. A refusal (401, 403, 4xx) is not retried.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from roomtemp.simulator.model import Reading


@dataclass
class Tally:
    posts: int = 0
    readings: int = 0
    inserted: int = 0
    duplicates: int = 0
    updated: int = 0
    failed_posts: int = 0
    retries: int = 0
    last_error: str = ""


class Refused(Exception):
    """The server refuses our credentials (401/403): every further post would fail too."""


# Worth sending again: overload and gateway errors. Everything else 4xx/5xx is an answer.
_TRANSIENT = frozenset({429, 502, 503, 504})


class Poster:
    def __init__(
        self,
        url: str,
        token: str | None,
        timeout: float = 10.0,
        attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--url must be http(s)://host[:port], not {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + "/v1/captures"
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._attempts = max(1, attempts)
        self._sleep = sleep
        self.tally = Tally()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def post(self, readings: list[Reading]) -> None:
        """One POST: a single capture object, or an array for a batch. A broken connection or a
        transient status is retried (backoff 0.5 s, 1 s, 2 s, ...); what still fails is counted,
        not raised, so the simulator keeps going like a real gateway. Raises Refused on 401/403.
        """
        body = [r.payload() for r in readings]
        data = orjson.dumps(body[0] if len(body) == 1 else body)
        t = self.tally
        t.posts += 1
        t.readings += len(readings)
        for attempt in range(self._attempts):
            if attempt:
                t.retries += 1
                self._sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            try:
                status, payload = self._send(data)
            except (OSError, http.client.HTTPException) as exc:
                # Typically the server closed the kept-alive connection while we were idle
                # (BrokenPipeError, RemoteDisconnected): reconnect and resend.
                t.last_error = f"{type(exc).__name__}: {exc}"
                self._reset()
                continue
            if status == 201:
                counts = orjson.loads(payload)
                t.inserted += counts["inserted"]
                t.duplicates += counts["duplicates"]
                t.updated += counts["updated"]
                return
            t.last_error = f"HTTP {status}: {payload[:200].decode(errors='replace')}"
            if status in (401, 403):
                t.failed_posts += 1
                raise Refused(t.last_error)
            if status not in _TRANSIENT:
                break
        t.failed_posts += 1

    def _send(self, data: bytes) -> tuple[int, bytes]:
        conn = self._connection()
        conn.request("POST", self._path, body=data, headers=self._headers)
        response = conn.getresponse()
        payload = response.read()
        if response.will_close:
            self._reset()
        return response.status, payload

    def _reset(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
