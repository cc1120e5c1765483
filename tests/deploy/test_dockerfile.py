"""Dockerfile: hadolint at the `warning` threshold and the properties the image promises."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.deploy.deploy_support import ROOT, run, tool

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def test_hadolint_clean_at_warning_threshold() -> None:
    run([tool("hadolint"), "--failure-threshold", "warning", str(DOCKERFILE)])


def test_hadolint_gate_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    proc = run([tool("hadolint"), "--failure-threshold", "warning", str(bad)], check=False)
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout  # `latest` tag


def test_base_image_is_pinned() -> None:
    args = dict(v.split("=", 1) for k, v in _instructions() if k == "ARG" and "=" in v)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    froms = [v for k, v in _instructions() if k == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]


def test_installs_exactly_the_lock_without_dev_or_embedded() -> None:
    runs = " ".join(v for k, v in _instructions() if k == "RUN")
    assert "uv sync --frozen --no-dev" in runs
    assert "embedded" not in DOCKERFILE.read_text().replace("embedded PostgreSQL", "")
    assert "--extra" not in runs


def test_runtime_stage_is_non_root_with_healthcheck_and_graceful_stop() -> None:
    final = dict(_final_stage())
    assert final["USER"] == "10001:10001"
    assert final["STOPSIGNAL"] == "SIGTERM"
    _options, _, cmd = final["HEALTHCHECK"].partition("CMD ")
    exec_form = json.loads(cmd)
    assert exec_form[0] == "python"
    assert "/healthz" in exec_form[-1]
    assert json.loads(final["ENTRYPOINT"]) == ["roomtemp"]
    assert json.loads(final["CMD"]) == ["serve"]
    assert "HOST=0.0.0.0" in final["ENV"]
    labels = [v for k, v in _final_stage() if k == "LABEL"]
    for key in ("title", "version", "revision", "licenses", "description"):
        assert f"org.opencontainers.image.{key}=" in labels[0]
    copied = [v for k, v in _final_stage() if k == "COPY"]
    assert copied == ["--from=builder /opt/venv /opt/venv"]


def test_dockerignore_sends_only_what_the_build_needs() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "service"}
    copied = {
        part for k, v in _instructions() if k == "COPY" and "--from" not in v
        for part in v.split()[:-1]
    }  # fmt: skip
    assert copied <= allowed
