"""The Prometheus alert rules: valid for promtool, their unit tests pass, and every metric they
use is one the service really exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.factories import capture
from tests.tools import executable

RULES_DIR = Path(__file__).resolve().parents[2] / "helm" / "roomtemp" / "files"
RULES = RULES_DIR / "prometheus-rules.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = executable("promtool", "`make tools` (apt, as root) installs Debian's prometheus")
    return subprocess.run(
        [binary, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_are_valid_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout
    tested = promtool("test", "rules", "prometheus-rules.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rules_use_only_exported_metrics(client: TestClient, db: psycopg.Connection[Any]) -> None:
    client.post("/v1/captures", json=capture(21.5))
    client.get("/readyz")
    text = client.get("/metrics").text
    # Sample names and family names (a labelled family with no samples yet has HELP/TYPE only).
    exported = set(re.findall(r"^(?:# (?:HELP|TYPE) )?(roomtemp_[a-z0-9_]+)", text, re.M))
    used = set(re.findall(r"\b(roomtemp_[a-z0-9_]+)", RULES.read_text()))
    used = {name for name in used if not name.startswith("roomtemp_http_requests_total_")}
    assert used, "no metrics found in the rules"
    assert used <= exported, sorted(used - exported)
