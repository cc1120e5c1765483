"""Averages from PostgreSQL against the Python reference, on random data.

The data has captures exactly on window edges and series points, late and out-of-order posts,
identical re-sends and updated values. Agreement is required to 1e-9.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import reference
from tests.conftest import NOW

TOL = 1e-9
ROOMS = ["r1", "r2", "r3", "r4"]
START = NOW - timedelta(hours=6)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def random_timeline(rng: random.Random) -> list[datetime]:
    times = set()
    for _ in range(120):
        minute = rng.randrange(0, 6 * 60)
        second = rng.choice([0, 0, 0, rng.randrange(60)])  # many exactly on minute/edge marks
        micro = rng.choice([0, 0, rng.randrange(1_000_000)])
        times.add(START + timedelta(minutes=minute, seconds=second, microseconds=micro))
    return sorted(times)


@pytest.fixture
def dataset(client: TestClient) -> dict[str, dict[datetime, float]]:
    """Post random captures (with re-sends and updates, shuffled) and return the expected state."""
    rng = random.Random(20261122)
    final: dict[str, dict[datetime, float]] = {room: {} for room in ROOMS[:3]}  # r4 stays empty
    posts: list[dict[str, Any]] = []
    for room in final:
        for t in random_timeline(rng):
            value = round(rng.uniform(15.0, 28.0), rng.choice([1, 3, 6]))
            posts.append(
                {"building": "hq", "room": room, "ts": iso(t), "value": value, "unit": "C"}
            )
    rng.shuffle(posts)  # late and out-of-order arrival
    resends = rng.sample(posts, 40)
    updates = [
        {**p, "value": p["value"] + rng.choice([-2.5, 1.25, 3.0])} for p in rng.sample(posts, 30)
    ]
    sequence = posts + resends + updates
    for i in range(0, len(sequence), 57):
        chunk = sequence[i : i + 57]
        r = client.post("/v1/captures", json=chunk)
        assert r.status_code == 201, r.text
    for p in sequence:  # last write wins, in posting order
        final[p["room"]][datetime.fromisoformat(p["ts"])] = p["value"]
    assert client.put("/v1/buildings/hq/rooms/r4", json={}).status_code == 201
    final["r4"] = {}
    return final


def close(actual: float | None, expected: float | None) -> bool:
    if expected is None:
        return actual is None
    return actual is not None and abs(actual - expected) <= TOL


def check(actual: dict[str, Any], expected: reference.Expected, twm: bool = True) -> None:
    assert actual["count"] == expected.count
    for name in ("mean", "min", "max"):
        assert close(actual[name], getattr(expected, name)), (name, actual, expected)
    if twm:
        assert close(actual["time_weighted_mean"], expected.time_weighted_mean), (actual, expected)


def edge_times(data: dict[str, dict[datetime, float]], rng: random.Random) -> list[datetime]:
    """Query instants: capture instants (edges), 15 min after them (start edges), random ones."""
    stamps = [t for caps in data.values() for t in caps]
    picks = rng.sample(stamps, 15)
    return (
        picks
        + [t + timedelta(minutes=15) for t in picks[:8]]
        + [START + timedelta(seconds=rng.randrange(6 * 3600)) for _ in range(8)]
    )


def test_latest_average_matches_reference(client: TestClient, dataset: dict[str, Any]) -> None:
    rng = random.Random(1)
    for at in edge_times(dataset, rng):
        for window in ("1m", "15m", "1h"):
            room = rng.choice(ROOMS)
            body = client.get(
                f"/v1/buildings/hq/rooms/{room}/average",
                params={"at": iso(at), "window": window, "unit": "celsius"},
            ).json()
            span = {
                "1m": timedelta(minutes=1),
                "15m": timedelta(minutes=15),
                "1h": timedelta(hours=1),
            }
            check(body, reference.window(dataset[room], at - span[window], at))


@pytest.mark.parametrize(
    ("step", "window"), [("15m", "15m"), ("5m", "15m"), ("1h", "15m"), ("1m", "2m")]
)
def test_series_matches_reference(
    client: TestClient, dataset: dict[str, Any], step: str, window: str
) -> None:
    spans = {"1m": 60, "2m": 120, "5m": 300, "15m": 900, "1h": 3600}
    frm, to = START - timedelta(minutes=7), NOW + timedelta(seconds=1)
    for room in ROOMS:
        body = client.get(
            f"/v1/buildings/hq/rooms/{room}/averages",
            params={"from": iso(frm), "to": iso(to), "step": step, "window": window, "unit": "C"},
        ).json()
        times = reference.series_times(frm, to, timedelta(seconds=spans[step]))
        assert [p["t"] for p in body["points"]] == [iso(t) for t in times]
        w = timedelta(seconds=spans[window])
        for point, t in zip(body["points"], times, strict=True):
            check(point, reference.window(dataset[room], t - w, t), twm=False)


def test_building_overview_matches_reference(client: TestClient, dataset: dict[str, Any]) -> None:
    rng = random.Random(2)
    for at in edge_times(dataset, rng)[:12]:
        body = client.get(
            "/v1/buildings/hq/averages", params={"at": iso(at), "window": "15m", "unit": "celsius"}
        ).json()
        assert [r["room"] for r in body["rooms"]] == ROOMS
        for r in body["rooms"]:
            check(
                r, reference.window(dataset[r["room"]], at - timedelta(minutes=15), at), twm=False
            )
            last = reference.last_at_or_before(dataset[r["room"]], at)
            assert r["last_ts"] == (iso(last) if last else None)
