"""One switch for missing machine tools: without it a test needing an absent tool skips with the
reason (a developer's `make test`, root or not); with ROOMTEMP_STRICT_TOOLS=1 (CI) it fails.

Runs a real tool-needing test (promtool's alert-rule check) in a child pytest whose PATH holds
only the virtualenv, so promtool is absent whatever this machine has installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.ci.ci_support import ROOT

PROMTOOL_TEST = "tests/obs/test_alert_rules.py::test_rules_are_valid_and_their_unit_tests_pass"


def run_without_tools(*, strict: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ROOMTEMP_STRICT_TOOLS"}
    env["PATH"] = str(Path(sys.executable).parent)
    if strict:
        env["ROOMTEMP_STRICT_TOOLS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rsf", PROMTOOL_TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_tool_skips_with_the_reason_and_how_to_install_it() -> None:
    done = run_without_tools(strict=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "promtool is not installed: `make tools`" in done.stdout


def test_missing_tool_fails_under_the_strict_switch() -> None:
    done = run_without_tools(strict=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout
    assert "ROOMTEMP_STRICT_TOOLS=1 requires it" in done.stdout
