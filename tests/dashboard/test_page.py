"""The dashboard page over HTTP (no browser): assets from the package, headers, weight, wheel."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from roomtemp.dashboard.routes import ASSETS, CONTENT_SECURITY_POLICY
from tests.tools import CHECKOUT, missing_tool

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "service" / "roomtemp" / "dashboard" / "static"
# Bytes, uncompressed, all assets together (about 55 KB with per-type rooms, search and buckets).
WEIGHT_BUDGET = 64 * 1024


class _Inline(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.refs: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "style":
            self.problems.append("<style>")
        if tag == "script":
            self._in_script = "src" not in names
        self.problems += [f"{tag}[{k}]" for k in names if k == "style" or k.startswith("on")]
        self.refs += [v for k, v in attrs if k in ("src", "href") and v and v.startswith("/")]

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("inline <script>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def test_page_is_served_with_a_strict_policy(client: TestClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert resp.headers["x-content-type-options"] == "nosniff"
    parser = _Inline()
    parser.feed(resp.text)
    assert parser.problems == []
    # Every asset the page refers to is served, from the package.
    assets = [r for r in parser.refs if r.startswith("/dashboard/")]
    assert sorted(assets) == ["/dashboard/app.js", "/dashboard/favicon.svg", "/dashboard/style.css"]
    for ref in assets:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.content == (STATIC / ref.rsplit("/", 1)[1]).read_bytes()


def test_assets_revalidate_with_etags(client: TestClient) -> None:
    first = client.get("/dashboard/app.js")
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/dashboard/app.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("name", ["nope.js", "..%2Fapp.py", "routes.py", "%2e%2e"])
def test_unknown_assets_are_404_in_the_error_envelope(client: TestClient, name: str) -> None:
    resp = client.get(f"/dashboard/{name}")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_scripts_use_only_the_public_v1_api_and_no_inline_styles() -> None:
    scripts = sorted(a for a in ASSETS if a.endswith(".js"))
    assert scripts == [
        "alerts.js",
        "app.js",
        "chart.js",
        "lib.js",
        "live.js",
        "overview.js",
        "room.js",
        "sensors.js",
    ]
    for name in scripts:
        js = (STATIC / name).read_text()
        paths = set(re.findall(r'[`"](/[a-z][^`"$]*)', js))
        assert all(p.startswith(("/v1/", "/dashboard/", "/docs")) for p in paths), paths
        assert ".style." not in js
        assert "innerHTML" not in js
        assert "eval(" not in js
    assert "fetch(" in (STATIC / "lib.js").read_text()


def test_page_weight_stays_small() -> None:
    sizes = {name: (STATIC / name).stat().st_size for name in ASSETS}
    assert sorted(sizes) == sorted(p.name for p in STATIC.iterdir())
    assert sum(sizes.values()) < WEIGHT_BUDGET, sizes


def test_the_wheel_carries_the_assets(tmp_path: Path) -> None:
    uv = CHECKOUT / ".cache" / "uv-venv" / "bin" / "uv"
    uv_cmd = str(uv) if uv.exists() else shutil.which("uv")
    if uv_cmd is None:
        missing_tool("uv is not installed (`make setup` installs it into .cache/uv-venv)")
    subprocess.run(
        [uv_cmd, "build", "--wheel", "-q", "-o", str(tmp_path), str(ROOT)],
        check=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("roomtemp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"roomtemp/dashboard/static/{a}" for a in ASSETS} <= names
