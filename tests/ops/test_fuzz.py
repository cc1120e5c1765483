"""schemathesis fuzzes the real server from its own OpenAPI schema: no 5xx, and every response
(status code, content type, headers, body) matches the schema. Bounded here; `make fuzz` runs more.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from roomtemp.db import migrate
from tests.ops.counts import COUNTS
from tests.ops.server import LiveServer, issue_token, live_server
from tests.postgres_provider import scratch_database
from tests.tools import console_script

CASES_PER_OPERATION = int(os.environ.get("OPS_FUZZ_CASES", "5"))
# Conformance of responses, plus the server-error and auth checks. Left out, on purpose:
# positive_data_acceptance / negative_data_rejection compare the schema with domain rules it
# cannot express (a cursor must be one we issued, a window must parse, min < max, `ts` may
# also be Unix seconds) — those answers are 422s by design, not failures.
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,missing_required_header,"
    "unsupported_method,use_after_free,ensure_resource_availability,ignored_auth"
)


@pytest.fixture
def fuzz_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server on a database of its own: the fuzzer rewrites sensor types and the registry."""
    with scratch_database(database_url) as url:
        migrate.upgrade(url)
        with live_server(url, tmp_path) as server:
            yield server


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    fuzz_server: LiveServer, tmp_path: Path
) -> None:
    server = fuzz_server
    token = issue_token(server.env["DATABASE_URL"], "fuzz", "ingest", "read", "admin")
    schemathesis = console_script("schemathesis")
    report = tmp_path / "junit.xml"
    done = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(CASES_PER_OPERATION),
            # Revoking tokens is tested elsewhere; fuzzing it would revoke the fuzzer's own.
            "--exclude-method",
            "DELETE",
            # The examples phase has nothing to replay (no examples in the schema).
            "--phases",
            os.environ.get("OPS_FUZZ_PHASES", "coverage,fuzzing,stateful"),
            "--seed",
            os.environ.get("OPS_FUZZ_SEED", "20261123"),
            "--header",
            f"Authorization: Bearer {token}",
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
