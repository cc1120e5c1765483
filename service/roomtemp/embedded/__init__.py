"""The embedded PostgreSQL used by `make run` and the tests, behind one small interface."""

from roomtemp.embedded._system import EmbeddedPostgresError
from roomtemp.embedded.server import EmbeddedPostgres, is_available, running_url

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "is_available", "running_url"]
