"""The dashboard with a fleet of 100 buildings x 500 rooms (seeded by SQL for speed), in Chromium:
the overview stays a page of bounded height whose first screen says what needs attention,
search finds buildings and rooms by key or name, paging and the building view work, a phone
shows cards without sideways scrolling; and one room with a year of captures is charted at 6 h,
30 days and 1 year (the screenshots in docs/img/)."""

from __future__ import annotations

import inspect
import json
import math
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from playwright.sync_api import Page, expect
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from roomtemp.average import routes as average_routes
from roomtemp.db import migrate, room_sensors
from tests.system.browser import seed
from tests.system.browser.conftest import ARTIFACTS, PageProblems, screenshot, serve

DATABASE = "roomtemp_dashboard_scale"
BUILDINGS, ROOMS = 100, 500
# Per building, by room number n: n % 100 == 7 silent (one capture 3 h ago), 13 cold, 29 warm;
# every other room comfortable. 5 of each per building.
SILENT, COLD, WARM = 7, 13, 29
HISTORY_ROOM = ("b000", "r000")  # also a year of captures, every 20 minutes
HISTORY = timedelta(days=366)
HISTORY_EVERY = timedelta(minutes=20)
# The overview's height does not grow with the fleet: 10 buildings per page, 5 rooms each.
MAX_OVERVIEW_PX = 4500
MAX_PHONE_PX = 8500
BUCKETS = "mode" in inspect.signature(average_routes.get_room_series).parameters


@dataclass(frozen=True)
class Fleet:
    url: str
    t0: datetime
    history: list[datetime]  # the history room's capture times (besides its recent one)


def _load(conninfo: str, t0: datetime) -> list[datetime]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO building (key, name) SELECT 'b' || lpad(g::text, 3, '0'), "
            "'Site ' || lpad(g::text, 3, '0') FROM generate_series(0, %s - 1) g",
            (BUILDINGS,),
        )
        conn.execute(
            "INSERT INTO room (building_id, key, name) SELECT b.id, 'r' || lpad(g::text, 3, '0'), "
            "'Office ' || b.key || '-' || lpad(g::text, 3, '0') "
            "FROM building b, generate_series(0, %s - 1) g",
            (ROOMS,),
        )
        # The history room's building is in Zurich: its buckets are local days (23/24/25 h).
        conn.execute(
            "UPDATE building SET time_zone = 'Europe/Zurich' WHERE key = %s", (HISTORY_ROOM[0],)
        )
        conn.execute(
            "UPDATE room SET name = 'Boardroom Zurich' FROM building b "
            "WHERE b.id = room.building_id AND b.key = 'b057' AND room.key = 'r123'"
        )
        # Each room's default temperature sensor, as ingest creates it.
        conn.execute(
            "INSERT INTO sensor (sensor_type_id, default_room_id) "
            "SELECT t.id, r.id FROM room r, sensor_type t WHERE t.key = 'temperature'"
        )
        conn.execute(
            "INSERT INTO sensor_assignment (valid_from, sensor_id, room_id) "
            "SELECT '-infinity', id, default_room_id FROM sensor"
        )
        conn.execute(room_sensors.RECORD_ALL)
        # One capture per room (kelvin, the canonical unit): 2 minutes ago, or 3 h for silent.
        conn.execute(
            "INSERT INTO capture (ts, value, room_id, sensor_id) "
            "SELECT CASE WHEN n %% 100 = %(silent)s THEN %(t0)s - interval '3 hours' "
            "ELSE %(t0)s - interval '2 minutes' END, "
            "273.15 + CASE n %% 100 WHEN %(cold)s THEN 18.0 WHEN %(warm)s THEN 26.5 "
            "ELSE 21.0 + (n %% 5) * 0.5 END, r.id, s.id "
            "FROM room r CROSS JOIN LATERAL (SELECT substr(r.key, 2)::int AS n) k "
            "JOIN sensor s ON s.default_room_id = r.id",
            {"t0": t0, "silent": SILENT, "cold": COLD, "warm": WARM},
        )
        history = []
        ts = t0 - timedelta(hours=1)
        while ts > t0 - HISTORY:
            history.append(ts)
            ts -= HISTORY_EVERY
        # Seasons and days: 21 °C +- 2 over the year, +- 1.5 over the day.
        conn.execute(
            "INSERT INTO capture (ts, value, room_id, sensor_id) "
            "SELECT ts, 294.15 + 2 * sin(extract(epoch FROM ts) / 5022000.0) "
            "+ 1.5 * sin(extract(epoch FROM ts) / 13750.99), r.id, s.id "
            "FROM unnest(%s::timestamptz[]) ts, room r JOIN building b ON b.id = r.building_id "
            "JOIN sensor s ON s.default_room_id = r.id WHERE b.key = %s AND r.key = %s",
            (history, *HISTORY_ROOM),
        )
        conn.execute("VACUUM ANALYZE")
    return history


@pytest.fixture(scope="module")
def fleet(chromium_executable: str, database_url: str, conninfo: str) -> Iterator[Fleet]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    url = make_url(database_url).set(database=DATABASE).render_as_string(hide_password=False)
    migrate.upgrade(url)
    t0 = seed.t0_now()
    history = _load(make_conninfo(conninfo, dbname=DATABASE), t0)
    # Raw reads: the SQL seed bypassed ingest, so the rollups hold none of it.
    proc, base = serve(url, "server-scale.log", ROLLUP_READS="false")
    try:
        yield Fleet(base, t0, history)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _ready(page: Page, view: str) -> None:
    expect(page.locator(f"body[data-state='ready'][data-view='{view}']")).to_be_attached(
        timeout=60_000
    )


def _overflow(page: Page) -> int:
    value: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return value


SUMMARY = f"{ROOMS} rooms · 5 silent · 5 cold · 5 warm · 485 comfortable · 5 no data"


def test_overview_of_50000_rooms_is_short_and_says_what_needs_attention(
    page: Page, fleet: Fleet, page_problems: PageProblems
) -> None:
    started = time.monotonic()
    page.goto(fleet.url + "/")
    _ready(page, "overview")
    loaded = time.monotonic() - started
    height = page.evaluate("document.documentElement.scrollHeight")
    ready_ms = page.evaluate("performance.getEntriesByName('roomtemp:overview-ready')[0].startTime")
    (ARTIFACTS / "scale.json").write_text(
        json.dumps({"rooms": BUILDINGS * ROOMS, "height_px": height, "ready_ms": ready_ms})
    )
    print(f"overview of {BUILDINGS * ROOMS} rooms: {height} px tall, ready in {ready_ms:.0f} ms")
    assert height <= MAX_OVERVIEW_PX
    assert loaded < 60  # a ceiling against hangs, not a benchmark (shared CPUs)
    expect(page.locator("p.found")).to_have_text(
        f"{BUILDINGS} buildings, 10 per page; rooms that need attention first."
    )
    sections = page.locator("section.building")
    expect(sections).to_have_count(10)
    first = sections.first
    expect(first.locator("h3")).to_have_text("Site 000 (b000)")
    expect(first.locator("p.summary")).to_have_text(SUMMARY)
    # The first screen (900 px) shows the search, the first building and its worst rooms.
    assert (first.locator("p.summary").bounding_box() or {"y": 1e9})["y"] < 900
    rows = first.locator("tr.room")
    expect(rows).to_have_count(5)
    expect(rows.first.locator("td.status")).to_contain_text("silent")
    expect(first.locator("p.more a")).to_have_text(f"All {ROOMS} rooms of Site 000 (b000) →")
    expect(page.locator("nav.pager .page-of")).to_have_text("Page 1 of 10")
    # The silent sensors panel lists one page, not 500 rows.
    expect(page.locator("#silent-sensors tr.silent-sensor")).to_have_count(10)
    expect(page.locator("#silent-more")).to_contain_text("Showing the first 10 silent sensors")
    screenshot(page, "overview-scale", full_page=False)  # the first screen; the rest is alike
    page.get_by_role("link", name="Next →").click()
    _ready(page, "overview")
    expect(page.locator("nav.pager .page-of")).to_have_text("Page 2 of 10")
    expect(page.locator("section.building h3").first).to_have_text("Site 010 (b010)")
    assert page_problems.messages == []


def test_search_finds_buildings_and_rooms_by_key_or_name(
    page: Page, fleet: Fleet, page_problems: PageProblems
) -> None:
    page.goto(fleet.url + "/")
    _ready(page, "overview")
    page.get_by_label("Search buildings and rooms").fill("boardroom")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("p.found")).to_have_text("1 of 100 buildings match “boardroom”.")
    expect(page.locator("section.building h3")).to_have_text("Site 057 (b057)")
    expect(page.locator("tr.room")).to_have_count(1)
    expect(page.locator("tr.room th")).to_have_text("r123")
    # A building key: the building with all its rooms (five shown, attention first).
    page.goto(fleet.url + "/#/?q=b042")
    _ready(page, "overview")
    expect(page.locator("section.building")).to_have_count(1)
    expect(page.locator("section.building p.summary")).to_have_text(SUMMARY)
    # Only rooms that need attention, across the building: 15 of 500.
    page.get_by_label("Only rooms that need attention").check()
    _ready(page, "overview")
    assert "attention=1" in page.url
    more = page.locator("section.building p.more a")
    expect(more).to_have_text("All 15 matching rooms of Site 042 (b042) →")
    more.click()
    _ready(page, "building")
    expect(page.locator("tr.room")).to_have_count(15)
    states = page.locator("tr.room td.status").all_inner_texts()
    assert sorted(s.split()[-1] for s in states) == ["cold"] * 5 + ["silent"] * 5 + ["warm"] * 5
    assert page_problems.messages == []


def test_building_view_pages_its_rooms(
    page: Page, fleet: Fleet, page_problems: PageProblems
) -> None:
    page.goto(fleet.url + "/#/building/b003")
    _ready(page, "building")
    expect(page.locator("main h2")).to_have_text("Site 003 (b003)")
    expect(page.locator("p.summary")).to_have_text(SUMMARY)
    expect(page.locator("tr.room")).to_have_count(50)
    expect(page.locator("nav.pager .page-of")).to_have_text("Page 1 of 10")
    page.get_by_role("link", name="Next →").click()
    _ready(page, "building")
    expect(page.locator("nav.pager .page-of")).to_have_text("Page 2 of 10")
    # Attention first: page 1 holds the 15 rooms that need it, page 2 comfortable ones only.
    expect(page.locator("tr.room.ok")).to_have_count(50)
    assert page_problems.messages == []


def test_phone_overview_is_cards_without_sideways_scrolling(
    page: Page, fleet: Fleet, page_problems: PageProblems
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(fleet.url + "/")
    _ready(page, "overview")
    assert _overflow(page) <= 0
    card = page.locator("section.building").first.locator("tr.room").first
    # Each value under its column name, the row's full width (a card, not a squeezed table).
    box = card.bounding_box()
    assert box is not None
    assert box["width"] > 300
    age = card.locator("td.age")
    expect(age).to_have_attribute("data-label", "Last capture")
    assert age.evaluate("td => getComputedStyle(td, '::before').content") != "none"
    # The column headers are for screen readers only; the labels sit in each card.
    assert (page.locator("table.rooms thead").first.bounding_box() or {"width": 0})["width"] <= 1
    expect(card.locator("td.status")).to_contain_text("silent")
    screenshot(page, "overview-scale-phone", full_page=False)
    b, r = HISTORY_ROOM
    page.goto(f"{fleet.url}/#/room/{b}/{r}?range=1y")
    _ready(page, "room")
    assert _overflow(page) <= 0
    expect(page.locator("figcaption .summary")).to_contain_text("step 1d · ")
    screenshot(page, "room-1y-phone")
    page.goto(fleet.url + "/")
    _ready(page, "overview")
    # Bounded too (10 buildings x 5 cards), whatever the fleet: about 7,400 px measured.
    assert page.evaluate("document.documentElement.scrollHeight") <= MAX_PHONE_PX
    assert page_problems.messages == []


def _celsius(ts: datetime) -> float:
    """The seed's value at ts (the SQL formula of _load), in °C."""
    epoch = ts.timestamp()
    return 21.0 + 2 * math.sin(epoch / 5022000.0) + 1.5 * math.sin(epoch / 13750.99)


def _report_count(url: str, start: str, end: str) -> int:
    b, r = HISTORY_ROOM
    query = f"from={start}&to={end}".replace("+", "%2B")
    with urllib.request.urlopen(f"{url}/v1/buildings/{b}/report?{query}", timeout=60) as resp:
        report = json.loads(resp.read())
    (room,) = [x for x in report["rooms"] if x["room"] == r]
    count: int = room["count"]
    return count


@pytest.mark.parametrize(
    ("range_", "step", "meaning"),
    [
        ("6h", "1m", "15-min rolling average"),
        ("30d", "2h", "2-hour mean over all captures, Europe/Zurich"),
        ("1y", "1d", "daily mean over all captures, Europe/Zurich"),
    ],
)
def test_room_over_6h_30d_1y(
    page: Page, fleet: Fleet, page_problems: PageProblems, range_: str, step: str, meaning: str
) -> None:
    b, r = HISTORY_ROOM
    page.goto(f"{fleet.url}/#/room/{b}/{r}?range={range_}")
    _ready(page, "room")
    section = page.locator("section.type[data-type='temperature']")
    expect(section.locator("h3")).to_have_text("Air temperature (°C)")
    summary = section.locator("figcaption .summary")
    expect(summary).to_contain_text(f"step {step} · ")
    screenshot(page, f"room-{range_}")
    if range_ == "6h" or not BUCKETS:
        expect(section.locator("figcaption .meaning")).to_have_text("15-min rolling average")
        assert page_problems.messages == []
        if range_ != "6h":
            pytest.skip("PENDING: bucket mode (wt-buckets) is not in this service yet")
        return
    expect(section.locator("figcaption .meaning")).to_have_text(meaning)
    figure = section.locator("figure")
    start, end = figure.get_attribute("data-from"), figure.get_attribute("data-to")
    assert start
    assert end
    lo, hi = datetime.fromisoformat(start), datetime.fromisoformat(end)
    # Whole local buckets: from a local midnight (winter: +01:00) for days, an even hour for 2 h.
    assert start.endswith("+01:00")
    assert lo.astimezone(ZoneInfo("Europe/Zurich")).hour % 2 == 0
    assert lo.minute == 0
    expect(section.locator("details.data thead")).to_contain_text("Bucket start (Europe/Zurich)")
    # Every capture of the covered range counts: the seed's, and the period report's count.
    recent = fleet.t0 - timedelta(minutes=2)
    seeded = sum(lo <= ts < hi for ts in fleet.history) + (lo <= recent < hi)
    total = int(re.findall(r"· (\d+) captures", summary.inner_text())[0])
    assert total == seeded
    assert total == _report_count(fleet.url, start, end)
    assert lo.astimezone(UTC) <= datetime.now(UTC) - timedelta(days=29)
    # The newest bucket as the reader reads it (keyboard readout), against the seed.
    zurich = ZoneInfo("Europe/Zurich")
    last = hi.astimezone(zurich) - (timedelta(days=1) if step == "1d" else timedelta(hours=2))
    values = [_celsius(ts) for ts in fleet.history if last <= ts < hi]
    values += [21.0] * (last <= recent < hi)
    section.locator("svg.chart").focus()
    page.keyboard.press("End")
    n = len(values)
    expect(section.locator(".readout")).to_contain_text(
        f"mean {sum(values) / n:.2f} °C, min {min(values):.2f}, max {max(values):.2f}, "
        f"{n} capture{'s' * (n != 1)}"
        if n
        else "no captures in this bucket"
    )
    assert page_problems.messages == []
