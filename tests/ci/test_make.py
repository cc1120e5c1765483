"""The make interface: `make test` never installs system packages, `make run` installs only what
the service needs, and every mk/*.mk says what it is for."""

from __future__ import annotations

import re
import subprocess

from tests.ci.ci_support import ROOT

MK_FILES = sorted((ROOT / "mk").glob("*.mk"))


def dry_run(*args: str) -> str:
    """What make would run for `args`, everything considered out of date (-B)."""
    done = subprocess.run(
        ["make", "-n", "-B", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_test_never_runs_apt() -> None:
    commands = dry_run("test")
    assert "pytest" in commands
    assert "apt-get" not in commands
    assert "apt-get install" in dry_run("tools")


def test_make_run_installs_the_service_without_the_dev_tools() -> None:
    run = dry_run("run")
    [sync] = [line for line in run.splitlines() if " sync " in line]
    assert "--no-dev" in sync
    assert "--extra embedded" in sync
    assert "roomtemp serve" in run
    [full] = [line for line in dry_run("setup").splitlines() if " sync " in line]
    assert "--no-dev" not in full


def test_make_run_defaults_live_in_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "run: export AUTH_REQUIRED ?= false" in makefile
    assert "run: export LOG_FORMAT ?= text" in makefile
    for mk in MK_FILES:
        assert not re.search(r"^run:", mk.read_text(), flags=re.M), mk.name


def test_every_mk_file_has_a_header_saying_what_it_adds() -> None:
    assert MK_FILES
    for mk in MK_FILES:
        header = []
        for line in mk.read_text().splitlines():
            if not line.startswith("#"):
                break
            header.append(line)
        assert len(header) >= 2, f"{mk.name}: no header comment"
        assert any(line.startswith("# Adds:") for line in header), f"{mk.name}: no '# Adds:'"
