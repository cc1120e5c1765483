"""The dashboard's sensor views in Chromium: sensors behind each room value, silent sensors, and
unknown sensor keys — against a live `roomtemp serve` on a database of its own (so the main
browser seed and its expected numbers stay as they are)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import make_url

from roomtemp.db import migrate
from tests.system.browser import seed
from tests.system.browser.conftest import PageProblems, screenshot, serve

DATABASE = "roomtemp_dashboard_sensors"
TYPES = {
    "humidity": {"unit": "percent", "min_value": 0, "max_value": 100,
                 "description": "Relative humidity"},
    "co2": {"unit": "ppm", "min_value": 0, "max_value": 10000, "description": "CO2"},
}  # fmt: skip
HUMIDITY = [44.0, 47.0]  # %, 2 and 3 minutes before T0
CO2 = [820.0, 900.0, 1010.0]  # ppm


@dataclass(frozen=True)
class Fleet:
    url: str
    t0: datetime


def _send(url: str, body: object, method: str = "POST") -> tuple[int, object]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}, method=method
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def fleet(chromium_executable: str, database_url: str, conninfo: str) -> Iterator[Fleet]:
    """hq/lab has two registered sensors (zb-live sends, zb-quiet went silent 2 h ago) and its
    default sensor (building/room captures), plus humidity and CO2 default sensors (HUMIDITY,
    CO2); zb-stranger is not registered."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    url = make_url(database_url).set(database=DATABASE).render_as_string(hide_password=False)
    migrate.upgrade(url)
    proc, base = serve(url, "server-sensors.log")
    try:
        t0 = seed.t0_now()
        sensors = [
            {"key": key, "sensor_type": "temperature", "building": "hq", "room": "lab"}
            for key in ("zb-live", "zb-quiet")
        ]
        assert _send(base + "/v1/sensors", sensors)[0] == 201
        live, quiet = t0 - timedelta(minutes=2), t0 - timedelta(hours=2)
        items = [
            {"sensor": "zb-live", "value": 21.0, "unit": "celsius", "ts": _iso(live),
             "battery": 88.0, "signal": -60.0},
            {"sensor": "zb-quiet", "value": 20.0, "unit": "celsius", "ts": _iso(quiet),
             "battery": 7.0, "signal": -95.0},
            {"building": "hq", "room": "lab", "value": 22.0, "unit": "celsius",
             "ts": _iso(t0 - timedelta(minutes=3))},
        ]  # fmt: skip
        for key, sensor_type in TYPES.items():
            assert _send(base + f"/v1/sensor-types/{key}", sensor_type, "PUT")[0] == 201
        for key, values in (("humidity", HUMIDITY), ("co2", CO2)):
            items += [
                {"building": "hq", "room": "lab", "sensor_type": key, "value": v,
                 "ts": _iso(t0 - timedelta(minutes=2 + i))}
                for i, v in enumerate(values)
            ]  # fmt: skip
        status, body = _send(base + "/v1/captures", items)
        assert status == 201, body
        stranger = {"sensor": "zb-stranger", "value": 20.0, "ts": _iso(t0)}
        status, body = _send(base + "/v1/captures", stranger)
        assert status == 422, body
        yield Fleet(base, t0)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def test_overview_shows_sensors_and_silent_sensors(
    page: Page, fleet: Fleet, page_problems: PageProblems
) -> None:
    page.goto(fleet.url + "/")
    expect(page.locator("body[data-state='ready']")).to_be_attached()
    lab = page.locator("section[data-building='hq'] tr.room[data-room='lab']")
    expect(lab.locator("td.count")).to_have_text("2")  # zb-live and the default sensor
    expect(lab.locator("td.sensors")).to_have_text("2")
    expect(page.locator("section.building thead").first).to_contain_text("Sensors")

    silent = page.locator("#silent-sensors tr.silent-sensor")
    expect(silent).to_have_count(1)
    quiet = page.locator("#silent-sensors tr[data-sensor='zb-quiet']")
    cells = [c.strip() for c in quiet.locator("th, td").all_inner_texts()]
    assert cells == ["zb-quiet", "hq", "lab", "temperature", "2 h ago", "7 %"]
    expect(page.locator("#silent-minutes")).to_have_value("60")

    unknown = page.locator("#unknown-sensors tr[data-sensor='zb-stranger']")
    expect(unknown).to_have_count(1)
    expect(unknown.locator("td.num")).to_have_text("1")
    screenshot(page, "silent-sensors")

    # Three hours: zb-quiet (two hours) is no longer silent for that long; the choice is kept.
    page.locator("#silent-minutes").fill("180")
    page.locator("#silent-form button").click()
    expect(page.locator("#silent-none")).to_contain_text("180 minutes")
    expect(page.locator("#silent-sensors")).to_have_count(0)
    page.reload()
    expect(page.locator("#silent-minutes")).to_have_value("180")
    # One minute: zb-live (2 min ago) and the default sensors (2-3 min ago) are silent too.
    page.locator("#silent-minutes").fill("1")
    page.locator("#silent-form button").click()
    expect(page.locator("#silent-sensors tr.silent-sensor")).to_have_count(5)
    assert page_problems.messages == []


def test_room_view_says_how_many_sensors(
    page: Page, fleet: Fleet, page_problems: PageProblems
) -> None:
    page.goto(fleet.url + "/#/room/hq/lab")
    expect(page.locator("body[data-view='room'][data-state='ready']")).to_be_attached()
    temperature = page.locator("section.type[data-type='temperature']")
    expect(temperature.locator("dd.sensors")).to_have_text("2")
    expect(temperature.locator("dd.count")).to_have_text("2")
    assert page_problems.messages == []


def test_room_view_charts_every_sensor_type_in_its_unit(
    page: Page, fleet: Fleet, page_problems: PageProblems
) -> None:
    page.goto(fleet.url + "/#/room/hq/lab?range=6h")
    expect(page.locator("body[data-view='room'][data-state='ready']")).to_be_attached()
    expect(page.locator("p.types")).to_have_text("Sensor types: temperature, co2, humidity")
    sections = page.locator("section.type")
    assert sections.evaluate_all("ss => ss.map(s => s.dataset.type)") == [
        "temperature",
        "co2",
        "humidity",
    ]
    expect(page.locator("svg.chart")).to_have_count(3)
    # Temperature: zb-live 21.0 and the default sensor's 22.0, in the band 20-24 °C.
    temperature = sections.nth(0)
    expect(temperature.locator("h3")).to_have_text("Air temperature (°C)")
    expect(temperature.locator("dd.mean")).to_have_text("21.5 °C")
    expect(temperature.locator("dd.comfort")).to_have_text("comfortable")
    expect(temperature.locator("dl.latest")).to_contain_text("Comfort 20.0\N{EN DASH}24.0 °C")
    # Other types in their own unit; the unit switch (°C/K/°F) leaves them as they are.
    co2, humidity = sections.nth(1), sections.nth(2)
    expect(co2.locator("h3")).to_have_text("CO2 (ppm)")
    expect(co2.locator("dd.mean")).to_have_text(f"{sum(CO2) / len(CO2):.1f} ppm")
    expect(co2.locator("dd.count")).to_have_text(str(len(CO2)))
    expect(humidity.locator("h3")).to_have_text("Relative humidity (%)")
    expect(humidity.locator("dd.mean")).to_have_text(f"{sum(HUMIDITY) / len(HUMIDITY):.1f} %")
    expect(humidity.locator("dd.comfort")).to_have_text("no comfort band")
    expect(humidity.locator("figcaption .meaning")).to_have_text("15-min rolling average")
    # The chart's y axis says the unit; its keyboard readout gives the value in it.
    expect(humidity.locator("svg.chart text.unit")).to_have_text("%")
    humidity.locator("svg.chart").focus()
    page.keyboard.press("End")
    expect(humidity.locator(".readout")).to_contain_text(
        f"mean {sum(HUMIDITY) / len(HUMIDITY):.2f} %, min 44.00, max 47.00, 2 captures"
    )
    page.get_by_label("°F", exact=True).check()
    expect(temperature.locator("dd.mean")).to_have_text(f"{21.5 * 9 / 5 + 32:.1f} °F")
    expect(humidity.locator("dd.mean")).to_have_text(f"{sum(HUMIDITY) / len(HUMIDITY):.1f} %")
    screenshot(page, "room-types")
    # The overview stays on temperature: lab's row counts its two temperature captures.
    page.goto(fleet.url + "/")
    lab = page.locator("section[data-building='hq'] tr.room[data-room='lab']")
    expect(lab.locator("td.count")).to_have_text("2")
    assert page_problems.messages == []
