"""`roomtemp --help` is quick: it lists every command without importing the app, the database or
MQTT libraries (each command imports those when it runs; issue 23)."""

from __future__ import annotations

import json
import subprocess
import sys

COMMANDS = [
    "serve",
    "migrate",
    "import",
    "export",
    "maintain",
    "simulate",
    "sensors",
    "mqtt",
    "alerts",
    "token",
]
HEAVY = ("fastapi", "starlette", "sqlalchemy", "psycopg", "paho", "alembic", "uvicorn", "httpx")


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "roomtemp", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert listed == COMMANDS, done.stdout
    for command in COMMANDS:
        assert f"\n    {command} " in done.stdout, command  # with its one-line help


def test_building_the_parser_imports_no_heavy_library() -> None:
    """In a fresh interpreter: what the CLI entry and its parser pull in."""
    code = (
        "import json, sys\n"
        "from roomtemp.__main__ import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    modules = json.loads(done.stdout)
    assert "roomtemp.importer.command" in modules  # the parser was really built from them
    loaded = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert loaded == []
