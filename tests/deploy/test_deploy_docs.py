"""docs/deploy.md and the README's compose block: their commands run, the files they name exist,
and the Secrets the ArgoCD steps create are the ones the pods read."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from roomtemp.mqtt.schemas import load_subscriptions
from tests.deploy.deploy_support import (
    CHART,
    ROOT,
    Manifest,
    containers,
    env_of,
    find,
    helm_template,
    k8s_errors,
    kustomize,
    kustomize_with,
    load_all,
    run,
    tool,
)

README = ROOT / "README.md"
DEPLOY = ROOT / "docs" / "deploy.md"


def _deploy_section() -> str:
    return DEPLOY.read_text()


def _compose_block() -> str:
    """The README's "Run with Docker Compose" instructions, between their markers."""
    text = README.read_text()
    return text.split("<!-- compose:start -->", 1)[1].split("<!-- compose:end -->", 1)[0]


def _shell_commands(text: str | None = None) -> list[str]:
    text = _deploy_section() if text is None else text
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
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
    assert (
        find(manifests, "Ingress", "roomtemp")["spec"]["rules"][0]["host"] == "roomtemp.example.com"
    )


def test_documented_secrets_are_the_ones_the_chart_reads() -> None:
    secrets = [c for c in _shell_commands() if "create secret generic" in c]
    db = [c for c in secrets if " roomtemp-db " in c]
    assert db
    assert all("--from-literal=password=" in c for c in db)
    auth = [c for c in secrets if " roomtemp-auth " in c]
    assert auth
    assert all("--from-literal=token-hash-key=" in c for c in auth)


def test_documented_compose_steps_use_existing_files() -> None:
    commands = _shell_commands(_compose_block())
    assert commands[0].startswith("cp .env.example .env")
    # The whole block is replayed against a real stack by `make compose-test` (compose_check.py).
    assert any(c.startswith("docker compose up -d --wait") for c in commands)


def test_every_repository_path_in_the_doc_exists() -> None:
    text = _deploy_section() + _compose_block()
    paths = set(re.findall(r"`((?:helm|k8s|docs)/[\w./-]+|Dockerfile|\.env\.example)`", text))
    paths |= set(re.findall(r"(?:-f |apply -k )((?:helm|k8s)/[\w./-]+)", text))
    assert len(paths) >= 8
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == []


# --- docs/deploy.md, ArgoCD: the documented steps create every Secret the pods read ----------

DEPLOY_DOC = DEPLOY
APPLICATION = ROOT / "k8s" / "argocd" / "application.yaml"


def _argocd_commands() -> list[list[str]]:
    """The shell commands of the ArgoCD block of docs/deploy.md, in order, as argument lists."""
    block = DEPLOY_DOC.read_text().split("<!-- argocd:start -->", 1)[1]
    block = block.split("<!-- argocd:end -->", 1)[0]
    sh = re.findall(r"```sh\n(.*?)```", block, flags=re.DOTALL)
    lines = "\n".join(sh).replace("\\\n", " ").splitlines()
    return [shlex.split(_fill(line)) for line in lines if line.strip()]


def _option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        if arg in names:
            return args[i + 1]
        for name in names:
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _documented_steps() -> tuple[set[tuple[str, str, str]], list[str]]:
    """(namespace, Secret, key) the steps create, and the problems found on the way (a Secret
    created in a namespace that no earlier step created)."""
    created: set[tuple[str, str, str]] = set()
    namespaces: set[str] = set()
    problems: list[str] = []
    for args in _argocd_commands():
        if args[0] != "kubectl":
            continue
        namespace = _option(args, "--namespace", "-n") or "default"
        words = [a for a in args[1:] if a not in ("--namespace", "-n", namespace)]
        rest = [a for a in words if not a.startswith("-")]
        if rest[:2] == ["create", "namespace"]:
            namespaces.add(rest[2])
        elif rest[:3] == ["create", "secret", "generic"]:
            if namespace not in namespaces:
                problems.append(f"Secret {rest[3]} created before namespace {namespace}")
            for arg in args:
                if arg.startswith("--from-literal="):
                    key = arg.removeprefix("--from-literal=").split("=", 1)[0]
                    created.add((namespace, rest[3], key))
    return created, problems


def _secrets_read(manifests: list[Manifest]) -> set[tuple[str, str]]:
    """(Secret, key) every secretKeyRef names, and (Secret, "*") for envFrom secretRef."""
    found: set[tuple[str, str]] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("secretKeyRef")
            if isinstance(ref, dict):
                found.add((ref["name"], ref["key"]))
            ref = node.get("secretRef")
            if isinstance(ref, dict):
                found.add((ref["name"], "*"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(manifests)
    return found


def _environments() -> list[tuple[str, str, list[Manifest]]]:
    """(name, namespace, rendered manifests) of every way the docs deploy an environment."""
    app = yaml.safe_load(APPLICATION.read_text())["spec"]
    [prod_values] = app["source"]["helm"]["valueFiles"]
    chart = ROOT / app["source"]["path"]
    assert chart.resolve() == CHART
    out = [("argocd prod", app["destination"]["namespace"], helm_template(prod_values))]
    for env in ("dev", "prod"):
        overlay = kustomize(f"overlays/{env}")
        namespace = find(overlay, "Deployment")["metadata"]["namespace"]
        out.append((f"overlay {env}", namespace, overlay))
        out.append((f"helm {env}", namespace, helm_template(f"../values/{env}.yaml")))
    return out


def test_argocd_steps_create_every_secret_the_pods_read() -> None:
    created, problems = _documented_steps()
    assert problems == []
    environments = _environments()
    assert {ns for _, ns, _ in environments} == {"roomtemp", "roomtemp-dev"}
    missing = []
    for name, namespace, manifests in environments:
        read = _secrets_read(manifests)
        assert {"roomtemp-db", "roomtemp-auth"} <= {s for s, _ in read}, name
        for secret, key in sorted(read):
            made = {k for ns, s, k in created if (ns, s) == (namespace, secret)}
            if not made or (key != "*" and key not in made):
                missing.append(f"{name}: {namespace}/{secret} key {key}")
    assert missing == []


def test_argocd_steps_apply_the_application_whose_values_exist() -> None:
    applies = [a for a in _argocd_commands() if a[:2] == ["kubectl", "apply"]]
    assert ["kubectl", "apply", "-n", "argocd", "-f", "k8s/argocd/application.yaml"] in applies
    source = yaml.safe_load(APPLICATION.read_text())["spec"]["source"]
    for values in source["helm"]["valueFiles"]:
        assert (ROOT / source["path"] / values).is_file(), values
    text = DEPLOY_DOC.read_text()
    for path in re.findall(r"`((?:helm|k8s)/[\w./-]+)`", text):
        assert (ROOT / path).exists(), path


# --- docs/deploy.md, kustomize: the documented MQTT bridge steps ------------------------------


def _mqtt_component_block() -> Manifest:
    """The YAML the doc tells an operator to add to an overlay's kustomization.yaml."""
    block = DEPLOY_DOC.read_text().split("<!-- mqtt-component:start -->", 1)[1]
    block = block.split("<!-- mqtt-component:end -->", 1)[0]
    [text] = re.findall(r"```yaml\n(.*?)```", block, flags=re.DOTALL)
    addition: Manifest = yaml.safe_load(text)
    return addition


def _secret_keys_created(secret: str) -> set[str]:
    """Keys (--from-literal / --from-file) of the doc's `create secret generic <secret>`."""
    keys: set[str] = set()
    for command in _shell_commands():
        args = shlex.split(_fill(command))
        if args[:1] == ["kubectl"] and secret in args and "generic" in args:
            for arg in args:
                for flag in ("--from-literal=", "--from-file="):
                    if arg.startswith(flag):
                        keys.add(arg.removeprefix(flag).split("=", 1)[0])
    return keys


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_documented_mqtt_component_runs_the_bridge_in_an_overlay(env: str, tmp_path: Path) -> None:
    block = _mqtt_component_block()
    manifests = kustomize_with(tmp_path / "doc", f"overlays/{env}", block)
    assert k8s_errors(manifests) == []
    bridge = find(manifests, "Deployment", "roomtemp-mqtt")
    api = find(manifests, "Deployment")
    assert bridge["metadata"]["namespace"] == api["metadata"]["namespace"]
    (container,) = containers(bridge)
    env_vars = env_of(container)
    # The patch sets the broker; the other settings and the API's database stay.
    assert env_vars["MQTT_URL"] == "mqtts://broker.example.com:8883"
    assert env_vars["MQTT_CLIENT_ID"] == "roomtemp-bridge"
    assert env_vars["MQTT_SUBSCRIPTIONS_FILE"] == "/etc/roomtemp/mqtt/subscriptions.json"
    api_env = env_of(next(containers(api)))
    assert {k: v for k, v in env_vars.items() if k.startswith("DB_")} == {
        k: v for k, v in api_env.items() if k.startswith("DB_")
    }
    # The second patch replaces the subscriptions the bridge mounts, and they load.
    (volume,) = [v for v in bridge["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    config = find(manifests, "ConfigMap", volume["configMap"]["name"])
    raw = config["data"]["subscriptions.json"]
    assert json.loads(raw) == [{"preset": "zigbee2mqtt"}]
    assert load_subscriptions(raw, None)
    # Other subscriptions, another ConfigMap name: the Deployment changes and the bridge restarts.
    unpatched = kustomize_with(
        tmp_path / "component", f"overlays/{env}", {"components": block["components"]}
    )
    names = [m["metadata"]["name"] for m in unpatched if m["kind"] == "ConfigMap"]
    assert volume["configMap"]["name"] not in names
    assert any(n.startswith("roomtemp-mqtt-") for n in names)


def test_documented_mqtt_secrets_are_the_ones_the_component_reads(tmp_path: Path) -> None:
    manifests = kustomize_with(tmp_path, "overlays/prod", _mqtt_component_block())
    bridge = find(manifests, "Deployment", "roomtemp-mqtt")
    (container,) = containers(bridge)
    read: dict[str, set[str]] = {}
    for value in env_of(container).values():
        if isinstance(value, dict) and "secretKeyRef" in value:
            ref = value["secretKeyRef"]
            read.setdefault(ref["name"], set()).add(ref["key"])
    # Files the bridge opens from the mounted TLS Secret are keys of that Secret.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for volume in bridge["spec"]["template"]["spec"]["volumes"]:
        if "secret" in volume:
            files = [
                Path(v).name
                for v in env_of(container).values()
                if isinstance(v, str) and v.startswith(mounts[volume["name"]] + "/")
            ]
            assert files, volume
            read.setdefault(volume["secret"]["secretName"], set()).update(files)
    read.pop("roomtemp-db")  # created by the steps above (ArgoCD block)
    assert set(read) == {"roomtemp-mqtt", "roomtemp-mqtt-tls"}
    for secret, keys in read.items():
        assert keys <= _secret_keys_created(secret), secret
