"""Names for database failures that are safe to log: classes and SQLSTATE, never messages.

The text of a SQLAlchemy `StatementError` carries the statement's bound parameters, and
PostgreSQL's own messages quote values (`Key (room_id, ts)=(…) already exists`, `invalid input
syntax …: "…"`): capture data and keys. Logs get the exception classes and the SQLSTATE instead.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import exc as sa_exc


def driver_error(exc: BaseException) -> BaseException:
    """The psycopg exception under a SQLAlchemy wrapper (or `exc` itself)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE the server answered with, if the failure came from the server."""
    orig = driver_error(exc)
    return orig.sqlstate if isinstance(orig, psycopg.Error) else None


def describe(exc: BaseException) -> str:
    """`OperationalError/QueryCanceled SQLSTATE 57014`: what failed, without any data."""
    orig = driver_error(exc)
    name = type(exc).__name__ if orig is exc else f"{type(exc).__name__}/{type(orig).__name__}"
    code = sqlstate(exc)
    return f"{name} SQLSTATE {code}" if code else name


def is_database_down(exc: BaseException) -> bool:
    """The database is unreachable, stalled or restarting (retry later), not a bad statement."""
    if isinstance(exc, sa_exc.TimeoutError | ConnectionError | psycopg.OperationalError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc.orig, psycopg.OperationalError | psycopg.errors.QueryCanceled
        )
    return isinstance(exc, sa_exc.InterfaceError)
