"""Shared helpers for the CI/CD checks: repository paths, the workflow validators, YAML loading.

The validators (actionlint, check-jsonschema) come from `make ci-tools` (a prerequisite of
`make test`, pinned by hash in tests/ci/requirements.txt); a missing tool fails, never skips.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools import FETCHED_TOOLS

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
DEVCONTAINER = ROOT / ".devcontainer"
CI_TOOLS_BIN = FETCHED_TOOLS / "ci" / "bin"


def ci_tool(name: str) -> str:
    path = CI_TOOLS_BIN / name
    if not path.is_file():
        pytest.fail(f"{name} not found in {CI_TOOLS_BIN}: run `make ci-tools`")
    return str(path)


def run_tool(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=ROOT, timeout=120)


def load_yaml(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def triggers(workflow: dict[Any, Any]) -> Any:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    return workflow["on"] if "on" in workflow else workflow[True]


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]
