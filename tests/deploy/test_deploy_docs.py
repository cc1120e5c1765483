"""The README's Deploy section: its commands run and the files it names exist."""

from __future__ import annotations

import re
import shlex

from tests.deploy.deploy_support import ROOT, find, k8s_errors, load_all, run, tool

README = ROOT / "README.md"


def _deploy_section() -> str:
    text = README.read_text()
    return text.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]


def _shell_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", _deploy_section(), flags=re.DOTALL)
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip()]


def _fill(command: str) -> str:
    """Fill the <placeholders> a reader replaces."""
    return re.sub(r"<[^>]+>", "placeholder.example.com", command)


def test_documented_helm_install_renders_valid_manifests() -> None:
    [install] = [c for c in _shell_commands() if c.startswith("helm upgrade --install")]
    args = shlex.split(_fill(install.split("#")[0]))
    args[0:3] = [tool("helm"), "template"]
    manifests = load_all(run(args).stdout)
    assert k8s_errors(manifests) == []
    api = find(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    password = next(e for e in api["env"] if e["name"] == "DB_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": "roomtemp-db", "key": "password"}
    token_key = next(e for e in api["env"] if e["name"] == "TOKEN_HASH_KEY")
    assert token_key["valueFrom"]["secretKeyRef"] == {
        "name": "roomtemp-auth",
        "key": "token-hash-key",
    }
    assert api["image"] == "placeholder.example.com/roomtemp:0.1.0"
    assert find(manifests, "Ingress")["spec"]["rules"][0]["host"] == "roomtemp.example.com"


def test_documented_secrets_are_the_ones_the_chart_reads() -> None:
    secrets = [c for c in _shell_commands() if "create secret generic" in c]
    [db] = [c for c in secrets if " roomtemp-db " in c]
    assert "--from-literal=password=" in db
    [auth] = [c for c in secrets if " roomtemp-auth " in c]
    assert "--from-literal=token-hash-key=" in auth


def test_documented_compose_steps_use_existing_files() -> None:
    commands = _shell_commands()
    assert commands[0].startswith("cp .env.example .env")
    # The whole block is replayed against a real stack by `make compose-test` (compose_check.py).
    assert any(c.startswith("docker compose up -d --wait") for c in commands)


def test_every_repository_path_in_the_doc_exists() -> None:
    paths = set(
        re.findall(r"`((?:helm|k8s|docs)/[\w./-]+|Dockerfile|\.env\.example)`", _deploy_section())
    )
    paths |= set(re.findall(r"(?:-f |apply -k )((?:helm|k8s)/[\w./-]+)", _deploy_section()))
    assert len(paths) >= 8
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == []
