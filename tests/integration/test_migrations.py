"""Migrations: up, down and up again on a fresh database; the seed; the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

import roomtemp
from roomtemp.db import migrate


def tables(url: str) -> set[str]:
    info = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(info) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_up_down_up(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    assert {"building", "room", "sensor_type", "capture", "alembic_version"} <= tables(
        empty_database_url
    )
    migrate.downgrade(empty_database_url, "base")
    assert tables(empty_database_url) == {"alembic_version"}
    migrate.upgrade(empty_database_url)
    migrate.upgrade(empty_database_url)  # idempotent
    info = (
        make_url(empty_database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    with psycopg.connect(info) as conn:
        seeds = conn.execute("SELECT key, unit, min_value, max_value FROM sensor_type").fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert seeds == [("temperature", "kelvin", pytest.approx(213.15), pytest.approx(373.15))]
    assert version == (migrate.head_revision(),)


def test_cli_migrate(empty_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    done = subprocess.run(
        [sys.executable, "-m", "roomtemp", "migrate"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "capture" in tables(empty_database_url)


def test_cli_help() -> None:
    for args in (["--help"], ["serve", "--help"], ["migrate", "--help"]):
        done = subprocess.run(
            [sys.executable, "-m", "roomtemp", *args], capture_output=True, text=True
        )
        assert done.returncode == 0
        assert "usage: roomtemp" in done.stdout


def test_cli_migrate_without_database_fails_clearly() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_HOST")}
    # cwd="/": make roomtemp importable however it is installed (editable .venv, Pants sandbox).
    env["PYTHONPATH"] = str(Path(roomtemp.__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-m", "roomtemp", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert done.returncode == 2
    assert "no database configured" in done.stderr
