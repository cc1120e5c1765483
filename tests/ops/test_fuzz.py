"""schemathesis fuzzes the real server from its own OpenAPI schema: no 5xx, and every response
(status code, content type, headers, body) matches the schema. Bounded here; `make fuzz` runs more.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from tests.ops.counts import COUNTS
from tests.ops.server import LiveServer, issue_token

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


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    server: LiveServer, database_url: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    token = issue_token(database_url, "fuzz", "ingest", "read", "admin")
    schemathesis = Path(sys.executable).with_name("schemathesis")
    report = tmp_path / "junit.xml"
    done = subprocess.run(
        [
            str(schemathesis), "run", f"{server.url}/openapi.json",
            "--checks", CHECKS,
            "--max-examples", str(CASES_PER_OPERATION),
            # Revoking tokens is tested elsewhere; fuzzing it would revoke the fuzzer's own.
            "--exclude-method", "DELETE",
            # The examples phase has nothing to replay (no examples in the schema).
            "--phases", os.environ.get("OPS_FUZZ_PHASES", "coverage,fuzzing,stateful"),
            "--seed", os.environ.get("OPS_FUZZ_SEED", "20261123"),
            "--header", f"Authorization: Bearer {token}",
            "--report", "junit", "--report-junit-path", str(report),
            "--no-color",
        ],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"},
    )
    output = done.stdout + done.stderr
    generated = re.search(r"(\d+) generated", output)
    assert generated, output[-3000:]
    COUNTS["fuzz_cases"] += int(generated.group(1))
    server_errors = sum(
        1 for line in server.log_lines() if '"logger":"roomtemp.access"' in line
        and re.search(r'"status":5\d\d', line)
    )
    COUNTS["responses_5xx"] += server_errors
    assert done.returncode == 0, output[-6000:]
    assert server_errors == 0, output[-3000:]
    assert int(generated.group(1)) >= CASES_PER_OPERATION
