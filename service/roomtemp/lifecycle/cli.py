"""What the lifecycle CLI commands share: a database engine from settings, a progress line."""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the CLI imports this to build its parser: the database comes when used
    from sqlalchemy.ext.asyncio import AsyncEngine

    from roomtemp.settings import Settings


class NoDatabase(RuntimeError):
    """No DATABASE_URL (or DB_HOST) configured."""


def no_database_message(settings: Settings) -> str:
    """What to do when neither a database is configured nor an embedded server is running."""
    return (
        "no database configured: set DATABASE_URL (or DB_HOST and DB_* parts), or run `make run` "
        "(`roomtemp serve`) from this directory in another terminal: the CLI then uses its "
        f"embedded PostgreSQL ({settings.embedded_data_dir})"
    )


def engine_for(settings: Settings) -> AsyncEngine:
    from roomtemp.db.engine import create_engine

    url = settings.sqlalchemy_url()
    if url is None:
        raise NoDatabase(no_database_message(settings))
    # Bulk work runs longer statements than a request may.
    return create_engine(settings.model_copy(update={"db_statement_timeout_ms": 0}), url)


class Progress:
    """A live line on a terminal (rows, rows/s, ETA when the total is known); on anything else,
    a plain line every `every` seconds so logs stay readable."""

    def __init__(self, label: str, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.label = label
        self.stream = stream = stream if stream is not None else sys.stderr
        self.tty = stream.isatty()
        self.every = 0.2 if self.tty else every
        self.started = time.monotonic()
        self._last = 0.0
        self._shown: tuple[int, float | None, str] | None = None

    def rate(self, rows: int) -> float:
        return rows / max(time.monotonic() - self.started, 1e-9)

    def update(
        self, rows: int, done: float | None = None, extra: str = "", force: bool = False
    ) -> None:
        """`done` is the fraction of the work finished (0…1) when known."""
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        if force and self._shown == (rows, done, extra):
            return  # the last line already said this
        self._last = now
        self._shown = (rows, done, extra)
        rate = self.rate(rows)
        text = f"{self.label}: {rows:,} rows, {rate:,.0f} rows/s"
        if done is not None and 0 < done <= 1:
            eta = (now - self.started) * (1 - done) / done
            # Rounded down: 100% only when all is done.
            text += f", {math.floor(done * 100)}%, ETA {eta:,.0f} s"
        if extra:
            text += f", {extra}"
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
