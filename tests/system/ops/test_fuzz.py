"""schemathesis fuzzes the real server from its own OpenAPI schema, with authentication on (an
admin token) and off: no 5xx, every response (status code, content type, headers, body) matches
the schema, schema-valid data is accepted and invalid data refused (every check; see
schemathesis.toml for the documented cross-field rules). Bounded here (5 cases per operation,
about 400 per mode); `make fuzz` runs 100 per operation (about 6,800 in all).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from roomtemp.db import migrate
from tests.postgres_provider import scratch_database
from tests.system.ops.counts import COUNTS
from tests.system.ops.server import LiveServer, issue_token, live_server
from tests.tools import console_script

CASES_PER_OPERATION = int(os.environ.get("OPS_FUZZ_CASES", "5"))
# Every check, including positive_data_acceptance (data the schema allows is accepted) and
# negative_data_rejection (data it forbids is refused): the schema states the validation.
CHECKS = os.environ.get("OPS_FUZZ_CHECKS", "all")


@pytest.fixture(params=["auth-on", "auth-off"])
def fuzz_server(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[LiveServer]:
    """A server on a database of its own (the fuzzer rewrites sensor types and the registry),
    with authentication on (an admin token) or off (as `make run` serves, no TOKEN_HASH_KEY)."""
    auth = request.param == "auth-on"
    overrides = {} if auth else {"AUTH_REQUIRED": "false"}
    unset = () if auth else ("TOKEN_HASH_KEY",)
    with scratch_database(database_url) as url:
        migrate.upgrade(url)
        with live_server(url, tmp_path, unset, **overrides) as server:
            yield server


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    fuzz_server: LiveServer, tmp_path: Path
) -> None:
    server = fuzz_server
    auth = server.env["AUTH_REQUIRED"] == "true"
    headers = []
    if auth:
        token = issue_token(server.env["DATABASE_URL"], "fuzz", "ingest", "read", "admin")
        headers = ["--header", f"Authorization: Bearer {token}"]
    schemathesis = console_script("schemathesis")
    report = tmp_path / "junit.xml"
    done = subprocess.run(
        [
            str(schemathesis),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(CASES_PER_OPERATION),
            # Revoking tokens is tested elsewhere; fuzzing it would revoke the fuzzer's own.
            "--exclude-method",
            "DELETE",
            # The live streams never end (a fuzzer's request would wait for a body's end);
            # their parameters and refusals are tested in tests/live.
            "--exclude-path-regex",
            "/live$",
            # The examples phase has nothing to replay (no examples in the schema).
            "--phases",
            os.environ.get("OPS_FUZZ_PHASES", "coverage,fuzzing,stateful"),
            "--seed",
            os.environ.get("OPS_FUZZ_SEED", "20261123"),
            *headers,
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"},
    )
    output = done.stdout + done.stderr
    generated = re.search(r"(\d+) generated", output)
    assert generated, output[-3000:]
    COUNTS["fuzz_cases"] += int(generated.group(1))
    server_errors = sum(
        1
        for line in server.log_lines()
        if '"logger":"roomtemp.access"' in line and re.search(r'"status":5\d\d', line)
    )
    COUNTS["responses_5xx"] += server_errors
    assert done.returncode == 0, output[-6000:]
    assert server_errors == 0, output[-3000:]
    assert int(generated.group(1)) >= CASES_PER_OPERATION
