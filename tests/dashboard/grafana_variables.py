"""The PostgreSQL dashboard's hidden query variables, resolved as Grafana resolves them before a
panel's query: their own query with the visible variables filled in, run on the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

DASHBOARD = Path(__file__).resolve().parents[2] / "helm/roomtemp/dashboards/roomtemp-postgres.json"


def hidden_values(db: psycopg.Connection[Any], values: dict[str, str]) -> dict[str, str]:
    """Each hidden query variable's value (its query's first row) for these variable values."""
    found: dict[str, str] = {}
    for v in json.loads(DASHBOARD.read_text())["templating"]["list"]:
        if v["type"] != "query" or v["hide"] != 2:
            continue
        sql = v["query"]
        for name in sorted(values, key=len, reverse=True):
            sql = sql.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
        assert "$" not in sql, sql
        row = db.execute(sql).fetchone()
        assert row is not None, f"{v['name']}: no value for {values}"
        found[v["name"]] = str(row[0])
    return found
