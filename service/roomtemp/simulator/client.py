"""Posting readings to POST /v1/captures over one kept-alive HTTP connection (stdlib only)."""

from __future__ import annotations

import http.client
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
    last_error: str = ""


class Poster:
    def __init__(self, url: str, token: str | None, timeout: float = 10.0) -> None:
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
        self.tally = Tally()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def post(self, readings: list[Reading]) -> None:
        """One POST: a single capture object, or an array for a batch. Failures are counted,
        not raised: a simulator keeps going like a real gateway would."""
        body = [r.payload() for r in readings]
        data = orjson.dumps(body[0] if len(body) == 1 else body)
        t = self.tally
        t.posts += 1
        t.readings += len(readings)
        try:
            conn = self._connection()
            conn.request("POST", self._path, body=data, headers=self._headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            t.failed_posts += 1
            t.last_error = f"{type(exc).__name__}: {exc}"
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            return
        if response.status == 201:
            counts = orjson.loads(payload)
            t.inserted += counts["inserted"]
            t.duplicates += counts["duplicates"]
            t.updated += counts["updated"]
        else:
            t.failed_posts += 1
            t.last_error = f"HTTP {response.status}: {payload[:200].decode(errors='replace')}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
