#!/usr/bin/env python3
"""Fail unless Pants owns every test file pytest collects, with a python_test target.

`make test` runs pytest over tests/; the GitHub workflow runs `pants test ::`. They run the same
tests only if every `tests/**/test_*.py` is a python_test target (a file left to python_sources
would be linted by Pants but never run). Also runs `pants tailor --check` (no file without a
target at all). Run by `make pants-owners` (part of `make check`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pants(pants_cmd: list[str], *args: str) -> str:
    done = subprocess.run(
        [*pants_cmd, *args], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pants", nargs="+", help="the Pants command, e.g. scripts/pants/pants")
    args = parser.parse_args()

    tracked = subprocess.run(
        ["git", "ls-files", "tests"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    collected = {p for p in tracked if Path(p).name.startswith("test_") and p.endswith(".py")}
    listed = pants(args.pants, "--filter-target-type=python_test", "list", "tests::")
    # Generated file targets look like `tests/api/test_x.py:../tests` or `tests/a/test_x.py:tests`.
    owned = {address.split(":", 1)[0] for address in listed.split()}
    missing = sorted(collected - owned)
    for path in missing:
        print(f"{path}: pytest collects it, but no python_test target owns it", file=sys.stderr)
    tailor = subprocess.run(
        [*args.pants, "tailor", "--check", "::"], cwd=ROOT, capture_output=True, text=True
    )
    if tailor.returncode != 0:
        print(tailor.stdout + tailor.stderr, file=sys.stderr)
    print(f"pants owns {len(collected & owned)} of {len(collected)} test files as python_test")
    return 1 if missing or tailor.returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
