"""The dev container: valid JSON with what VS Code needs, and a compose file that holds up."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.ci.ci_support import DEVCONTAINER, ROOT, ci_tool, load_yaml, run_tool

EXTENSIONS = {"ms-python.python", "charliermarsh.ruff", "ms-python.mypy-type-checker"}


def config() -> dict[str, Any]:
    # Kept as strict JSON (no comments), so the standard parser is enough.
    data = json.loads((DEVCONTAINER / "devcontainer.json").read_text())
    assert isinstance(data, dict)
    return data


def test_required_keys() -> None:
    cfg = config()
    for key in ("name", "dockerComposeFile", "service", "workspaceFolder", "postCreateCommand"):
        assert cfg.get(key), key
    assert 8000 in cfg["forwardPorts"]
    assert set(cfg["customizations"]["vscode"]["extensions"]) >= EXTENSIONS


def test_compose_file_matches_the_config() -> None:
    cfg = config()
    compose = load_yaml(DEVCONTAINER / cfg["dockerComposeFile"][0])
    services = compose["services"]
    assert set(cfg["runServices"]) <= set(services)
    dev = services[cfg["service"]]
    assert f"..:{cfg['workspaceFolder']}:cached" in dev["volumes"]
    assert services["db"]["image"].startswith("postgres:")
    assert "db" in dev["depends_on"]
    # make run / make test inside the container use the db service, not the embedded server.
    assert "@db:5432/" in dev["environment"]["DATABASE_URL"]
    assert "@db:5432/" in dev["environment"]["TEST_DATABASE_URL"]


def test_compose_file_matches_the_compose_spec() -> None:
    done = run_tool(
        [
            ci_tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEVCONTAINER / "compose.yaml"),
        ]
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_post_create_runs_the_test_setup_of_make() -> None:
    cmd = config()["postCreateCommand"]
    assert cmd == "make test-setup"
    # Dry run: the target exists and pulls in the same prerequisites `make test` has.
    setup = subprocess.run(
        ["make", "-n", "test-setup"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    prereqs = subprocess.run(
        ["make", "-n", "-p", "test-setup"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    test_rule = next(line for line in prereqs.splitlines() if line.startswith("test:"))
    for prereq in test_rule.split(":", 1)[1].split():
        assert prereq in setup, prereq
