"""GitHub Actions workflows: valid (actionlint, JSON schema) and following the project's rules."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.ci.ci_support import (
    ROOT,
    WORKFLOWS,
    ci_tool,
    load_yaml,
    run_tool,
    steps,
    triggers,
)

WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
FULL_SHA = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
# Event fields anyone can set (titles, branch and tag names, bodies...) must never be expanded
# into a shell script; they go through `env:` instead.
UNTRUSTED = re.compile(
    r"\$\{\{[^}]*(github\.event\.|github\.head_ref|github\.ref_name|inputs\.)[^}]*\}\}"
)


def test_the_two_workflows_exist() -> None:
    assert [p.name for p in WORKFLOW_FILES] == ["ci.yml", "release.yml"]


def test_actionlint_passes() -> None:
    done = run_tool([ci_tool("actionlint"), "-no-color", *map(str, WORKFLOW_FILES)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The validator really runs: an undefined job dependency and a bad expression fail."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    needs: missing\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    done = run_tool([ci_tool("actionlint"), "-no-color", str(broken)])
    assert done.returncode == 1
    assert "missing" in done.stdout


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_matches_the_github_workflow_schema(path: Path) -> None:
    done = run_tool(
        [ci_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)]
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_rejects_an_invalid_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps: nope\n")
    done = run_tool(
        [ci_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(bad)]
    )
    assert done.returncode == 1


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actions_are_pinned_by_full_commit_sha(path: Path) -> None:
    uses = [s["uses"] for s in steps(load_yaml(path)) if "uses" in s]
    assert uses
    assert [u for u in uses if not FULL_SHA.match(u)] == []


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_minimal_permissions_and_a_concurrency_group(path: Path) -> None:
    workflow = load_yaml(path)
    assert "permissions" in workflow, "workflow-level permissions must be explicit"
    assert workflow["permissions"] in ({}, {"contents": "read"})
    for name, job in workflow["jobs"].items():
        for scope, level in job.get("permissions", {}).items():
            assert level in ("read", "write"), (name, scope)
    assert workflow["concurrency"]["group"]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_untrusted_expression_in_a_script(path: Path) -> None:
    scripts = [s["run"] for s in steps(load_yaml(path)) if "run" in s]
    assert scripts
    assert [s for s in scripts if UNTRUSTED.search(s)] == []


def test_untrusted_pattern_recognises_injection() -> None:
    assert UNTRUSTED.search('echo "${{ github.event.pull_request.title }}"')
    assert UNTRUSTED.search("git push origin ${{ github.head_ref }}")
    assert not UNTRUSTED.search("echo ${{ env.VERSION }}")


def test_ci_runs_pants_with_postgres_on_pull_requests_and_main() -> None:
    ci = load_yaml(WORKFLOWS / "ci.yml")
    on = triggers(ci)
    assert "pull_request" in on
    assert on["push"]["branches"] == ["main"]
    assert ci["permissions"] == {"contents": "read"}
    pants = ci["jobs"]["pants"]
    assert pants["services"]["postgres"]["image"].startswith("postgres:")
    assert "TEST_DATABASE_URL" in pants["env"]
    runs = " ".join(s.get("run", "") for s in pants["steps"])
    # The same make entry points as .ci/run, with init-pants' launcher.
    assert "make pants-check PANTS=pants" in runs
    assert "make pants-owners PANTS=pants" in runs
    assert "list lint check test ::" in make_recipe("pants-check")
    assert pants["env"]["ROOMTEMP_STRICT_TOOLS"] == "1"
    uses = [s.get("uses", "") for s in pants["steps"]]
    assert any(u.startswith("pantsbuild/actions/init-pants@") for u in uses)


def make_recipe(target: str) -> str:
    """The commands `make -n TARGET` would run (prerequisites included)."""
    done = subprocess.run(
        ["make", "-n", target, "PANTS_FLAGS="], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_make_target_ci_calls_exists() -> None:
    """GitHub and .ci/run call make targets; each must exist (make -n fails on a missing one)."""
    scripts = [s["run"] for s in steps(load_yaml(WORKFLOWS / "ci.yml")) if "run" in s]
    scripts.append((ROOT / ".ci" / "run").read_text())
    targets = {m for script in scripts for m in re.findall(r"\bmake ([a-z][\w-]*)", script)}
    assert {"check", "pants-check", "pants-owners", "fault-test", "checkov"} <= targets
    for target in sorted(targets):
        make_recipe(target)


def test_ci_run_is_make_check_strict_and_check_runs_the_readme_commands() -> None:
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "export ROOMTEMP_STRICT_TOOLS=1" in ci_run
    assert re.search(r"^make check$", ci_run, flags=re.M)
    steps_line = re.search(
        r"^CHECK_STEPS := (.*?)(?<!\\)$", (ROOT / "Makefile").read_text(), flags=re.M | re.S
    )
    assert steps_line
    check_steps = steps_line[1].replace("\\\n", " ").split()
    # `make test` and `make lint` (the README's commands) run once, after the tools.
    assert check_steps[:3] == ["tools", "test", "lint"]
    assert "pants-owners" in check_steps


def test_release_publishes_image_and_chart_then_bumps_what_argocd_tracks() -> None:
    release = load_yaml(WORKFLOWS / "release.yml")
    jobs = release["jobs"]
    assert "pants publish //:image" in " ".join(s.get("run", "") for s in jobs["image"]["steps"])
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert "helm push" in " ".join(s.get("run", "") for s in jobs["chart"]["steps"])
    gitops = jobs["gitops"]
    assert set(gitops["needs"]) == {"version", "image", "chart"}
    values_file = ROOT / gitops["env"]["VALUES_FILE"]
    assert "tag" in load_yaml(values_file)["image"]
    # The ArgoCD Application deploys the chart with that values file (kept outside the chart,
    # valueFiles are relative to the chart directory).
    app = load_yaml(ROOT / "k8s" / "argocd" / "application.yaml")
    source = app["spec"]["source"]
    assert (ROOT / source["path"]).resolve() == ROOT / "helm" / "roomtemp"
    tracked = [(ROOT / source["path"] / v).resolve() for v in source["helm"]["valueFiles"]]
    assert values_file.resolve() in tracked
    assert source["targetRevision"] == "main"
    assert any(s.get("with", {}).get("ref") == "main" for s in gitops["steps"])


def test_workflow_pants_targets_exist() -> None:
    """The targets the workflows build are declared in the BUILD files."""
    root_build = (ROOT / "BUILD").read_text()
    service_build = (ROOT / "service" / "BUILD").read_text()
    assert re.search(r'docker_image\(\s*name="image"', root_build)
    assert re.search(r'pex_binary\(\s*name="cli"', service_build)
