"""The Pants set-up agrees with itself and with uv.lock, without running Pants (that is
`make pants-check`): pinned versions, generated requirement files, the lock file's inputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from typing import Any

from packaging.requirements import Requirement  # pants: no-infer-dep (comes with pytest)
from packaging.specifiers import SpecifierSet  # pants: no-infer-dep

from tests.ci.ci_support import ROOT
from tests.tools import CHECKOUT

# `make setup` installs uv here (outside Pants' sandbox, hence CHECKOUT).
UV = CHECKOUT / ".cache" / "uv-venv" / "bin" / "uv"

PANTS_TOML = tomllib.loads((ROOT / "pants.toml").read_text())
LOCK = ROOT / "3rdparty" / "python" / "default.lock"


def pins(path: str) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", (ROOT / path).read_text(), flags=re.M)
    return {name.lower().replace("_", "-").replace(".", "-"): version for name, version in found}


def lock_metadata() -> dict[str, Any]:
    lines = LOCK.read_text().splitlines()
    start = lines.index("// --- BEGIN PANTS LOCKFILE METADATA: DO NOT EDIT OR REMOVE ---")
    end = lines.index("// --- END PANTS LOCKFILE METADATA ---")
    data = json.loads("\n".join(line.removeprefix("//") for line in lines[start + 1 : end]))
    assert isinstance(data, dict)
    return data


def normalized(reqs: list[str]) -> set[str]:
    return {str(Requirement(r)) for r in reqs}


def test_pants_version_is_the_one_the_bootstrap_installs() -> None:
    version = PANTS_TOML["GLOBAL"]["pants_version"]
    assert pins("scripts/pants/requirements.in")["pantsbuild-pants"] == version
    assert pins("scripts/pants/requirements.txt")["pantsbuild-pants"] == version


def test_pex_version_is_the_one_pants_is_pointed_at() -> None:
    bootstrap = (ROOT / "scripts" / "pants" / "bootstrap.sh").read_text()
    pex = re.search(r"^PEX_VERSION=(\S+)$", bootstrap, flags=re.M)
    assert pex is not None
    assert pins("scripts/pants/requirements.in")["pex"] == pex.group(1)
    assert pins("scripts/pants/requirements.txt")["pex"] == pex.group(1)


def test_generated_requirement_files_match_pyproject_and_uv_lock() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/pants/sync-requirements.py", "--check", "--uv", str(UV)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_lock_file_was_generated_from_the_current_inputs() -> None:
    """After `uv lock`, `make pants-lock` must follow: the lock records what it was made from."""
    meta = lock_metadata()
    constraints = (ROOT / "3rdparty" / "python" / "constraints.txt").read_text().splitlines()
    expected = [c for c in constraints if c and not c.startswith("#")]
    assert normalized(meta["requirement_constraints"]) == normalized(expected)
    [locked_for] = meta["valid_for_interpreter_constraints"]
    [configured] = PANTS_TOML["python"]["interpreter_constraints"]
    assert SpecifierSet(locked_for.removeprefix("CPython")) == SpecifierSet(
        configured.removeprefix("CPython")
    )
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [
        *pyproject["project"]["dependencies"],
        *(r for extra in pyproject["project"]["optional-dependencies"].values() for r in extra),
        *(r for r in pyproject["dependency-groups"]["dev"] if isinstance(r, str)),
    ]
    assert normalized(meta["generated_with_requirements"]) == normalized(wanted)
