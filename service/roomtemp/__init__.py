"""roomtemp: building temperature analytics — capture ingest and rolling averages in PostgreSQL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roomtemp")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
