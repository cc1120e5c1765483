"""docker-compose.yml: `docker compose config` (Compose v5, offline) and its service graph."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_support import ROOT, run, tool

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"


def _clean_env() -> dict[str, str]:
    """Only PATH/HOME: a developer's POSTGRES_* variables must not change the result."""
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}


def _compose(*args: str, env_file: str, check: bool = True) -> Any:
    cmd = [tool("docker-compose"), "--project-directory", str(ROOT), "-f", str(COMPOSE)]
    cmd += ["--env-file", env_file, *args]
    return run(cmd, check=check, env=_clean_env())


@pytest.fixture
def env_file(tmp_path: Path) -> str:
    """.env.example plus the two secrets appended, as the README's compose block does."""
    path = tmp_path / ".env"
    secrets = "POSTGRES_PASSWORD=" + "p" * 32 + "\nTOKEN_HASH_KEY=" + "k" * 64 + "\n"
    path.write_text(ENV_EXAMPLE.read_text() + secrets)
    return str(path)


def _config(env_file: str) -> dict[str, Any]:
    return dict(json.loads(_compose("config", "--format", "json", env_file=env_file).stdout))


def test_compose_config_is_valid(env_file: str) -> None:
    _compose("config", "-q", env_file=env_file)


def test_compose_refuses_to_start_until_both_secrets_are_set(tmp_path: Path) -> None:
    proc = _compose("config", "-q", env_file=str(ENV_EXAMPLE), check=False)
    assert proc.returncode != 0
    assert "POSTGRES_PASSWORD" in proc.stderr
    assert "TOKEN_HASH_KEY" in proc.stderr


def test_no_credentials_in_the_compose_file() -> None:
    text = COMPOSE.read_text()
    assert "change-me" not in text
    for line in text.splitlines():
        if "PASSWORD" in line and ":" in line and not line.lstrip().startswith("#"):
            assert "${POSTGRES_PASSWORD" in line, line


def test_env_example_defines_every_variable_the_compose_file_uses() -> None:
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    defined = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used <= defined, used - defined


def test_service_graph_db_then_migrate_then_api(env_file: str) -> None:
    services = _config(env_file)["services"]
    assert set(services) == {"db", "migrate", "api", "maintain", "alerts"}
    db, migrate, api = services["db"], services["migrate"], services["api"]
    assert re.fullmatch(r"postgres:18(-[a-z]+)?", db["image"])  # the project's one major
    assert db["healthcheck"]["test"][0] == "CMD-SHELL"
    # 18+ images: the volume at /var/lib/postgresql (PGDATA is /var/lib/postgresql/18/docker).
    assert [(v["source"], v["target"]) for v in db["volumes"]] == [
        ("pgdata", "/var/lib/postgresql")
    ]
    assert migrate["command"] == ["migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    assert api["command"] == ["serve"]
    assert api["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully", "required": True}
    }
    assert api["image"] == migrate["image"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    # One shell string: podman's Docker API (< 5.8) splits CMD arguments on spaces.
    assert api["healthcheck"]["test"][0] == "CMD-SHELL"
    # The image's HEALTHCHECK probes HTTP, which only api serves.
    assert migrate["healthcheck"] == services["maintain"]["healthcheck"] == {"disable": True}
    assert api["ports"][0]["host_ip"] == "127.0.0.1"
    for svc in (migrate, api):
        env = svc["environment"]
        assert env["DB_HOST"] == "db"
        assert env["DB_PASSWORD"] == db["environment"]["POSTGRES_PASSWORD"]
        assert "DATABASE_URL" not in env


def test_alerts_service(env_file: str) -> None:
    services = _config(env_file)["services"]
    alerts, api = services["alerts"], services["api"]
    assert alerts["command"] == ["alerts"]
    assert alerts["image"] == api["image"]
    assert alerts["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully", "required": True}
    }
    env = alerts["environment"]
    assert (env["ALERTS_HOST"], env["ALERTS_PORT"], env["ALERT_EVAL_SECONDS"]) == (
        "0.0.0.0",
        "9109",
        "60",
    )
    assert env["ALERT_EXTERNAL_URL"] == ""  # unset (settings.py reads "" as unset): no links
    assert env["DB_HOST"] == "db"
    assert env["DB_PASSWORD"] == services["db"]["environment"]["POSTGRES_PASSWORD"]
    # Its own probe port, in one shell string (podman's Docker API before 5.8).
    assert alerts["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "http://127.0.0.1:9109/readyz" in alerts["healthcheck"]["test"][1]
    assert "ports" not in alerts  # nothing published: Prometheus or `docker compose exec`


def test_alerts_external_url_passes_through(env_file: str) -> None:
    with open(env_file, "a", encoding="utf-8") as f:
        f.write("ALERT_EXTERNAL_URL=http://localhost:8000\n")
    env = _config(env_file)["services"]["alerts"]["environment"]
    assert env["ALERT_EXTERNAL_URL"] == "http://localhost:8000"


def test_mqtt_profile_broker_and_bridge(env_file: str) -> None:
    out = _compose("--profile", "mqtt", "config", "--format", "json", env_file=env_file).stdout
    doc = json.loads(out)
    services = doc["services"]
    broker, bridge = services["mosquitto"], services["mqtt"]
    assert broker["image"].startswith("eclipse-mosquitto:2")
    assert broker["ports"][0]["host_ip"] == "127.0.0.1"
    assert "persistence true" in doc["configs"]["mosquitto-conf"]["content"]
    assert "max_queued_messages 0" in doc["configs"]["mosquitto-conf"]["content"]
    assert bridge["command"] == ["mqtt"]
    assert bridge["image"] == services["api"]["image"]
    assert bridge["environment"]["MQTT_URL"] == "mqtt://mosquitto:1883"
    assert bridge["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    assert bridge["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "9108/readyz" in " ".join(bridge["healthcheck"]["test"])
    subscriptions = json.loads(doc["configs"]["mqtt-subscriptions"]["content"])
    assert {s.get("preset") for s in subscriptions} == {"zigbee2mqtt", "shelly", None}
