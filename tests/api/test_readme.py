"""The README's curl walk-through, replayed through the app: the documented outputs must hold."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> list[tuple[str, str]]:
    text = README.read_text()
    section = text.split("<!-- walkthrough:start -->")[1].split("<!-- walkthrough:end -->")[0]
    steps = []
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.S):
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ curl"):
                steps.append((line[2:], lines[i + 1]))
    return steps


def replay(client: TestClient, command: str) -> Any:
    args = shlex.split(command)[1:]
    method, body, url = "GET", None, ""
    headers: dict[str, str] = {}
    it = iter(args)
    for arg in it:
        if arg == "-s":
            continue
        if arg == "-X":
            method = next(it)
        elif arg == "-H":
            name, value = next(it).split(":", 1)
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            body = next(it).encode()
        else:
            url = arg
    parts = urlsplit("http://" + url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.request(method, target, content=body, headers=headers).json()


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<ts>" if k == "created_at" else mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def test_readme_walkthrough_outputs(client: TestClient) -> None:
    steps = walkthrough()
    assert len(steps) >= 15
    for command, expected in steps:
        assert mask(replay(client, command)) == mask(json.loads(expected)), command
