"""Optional machine tools (Chromium, promtool, PgBouncer, npm, podman...): skip or fail, one switch.

`make test` never installs system packages, so a developer's machine may lack some of these
tools: the tests that need one skip with the reason (shown in pytest's `-ra` summary) and the
command that installs it. With ROOMTEMP_STRICT_TOOLS=1 (CI: `.ci/run`, after `make tools`) a
missing tool fails the test instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

STRICT_ENV = "ROOMTEMP_STRICT_TOOLS"
# The checkout whose git-ignored .tools/ and .cache/uv-venv hold the tools `make test` fetches.
# Under Pants the tests run in a sandbox holding only sources; pants.toml points this back at
# the build root.
CHECKOUT = Path(os.environ.get("ROOMTEMP_CHECKOUT") or Path(__file__).resolve().parents[1])
FETCHED_TOOLS = CHECKOUT / ".tools"


def strict() -> bool:
    """True when missing tools must fail the tests (CI)."""
    return os.environ.get(STRICT_ENV, "").strip() == "1"


def missing_tool(reason: str) -> NoReturn:
    """Skip the test with `reason`, or fail it under ROOMTEMP_STRICT_TOOLS=1."""
    if strict():
        pytest.fail(f"{reason} ({STRICT_ENV}=1 requires it)", pytrace=False)
    pytest.skip(reason)


def executable(name: str, install: str, *, also: tuple[str, ...] = ()) -> str:
    """Path of `name` on PATH (or one of the absolute paths in `also`), else missing_tool().

    `install` says how to get it, e.g. "`make tools` (apt, as root) installs Debian's prometheus".
    """
    found = shutil.which(name)
    if found is not None:
        return found
    for path in also:
        if os.access(path, os.X_OK):
            return path
    missing_tool(f"{name} is not installed: {install}")


def console_script(name: str) -> str:
    """A console script of a dev dependency (schemathesis, hadolint, docker-compose, ...).

    Beside the running interpreter under `make test`; under Pants the test venv has no scripts of
    its requirements, so the checkout's .venv (`make test-setup`, run by `make pants-check`).
    """
    for directory in (Path(sys.executable).parent, CHECKOUT / ".venv" / "bin"):
        if (directory / name).is_file():
            return str(directory / name)
    pytest.fail(f"{name} not found beside {sys.executable} or in .venv: run `make setup`")
