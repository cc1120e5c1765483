"""mode=auto: one dashboard URL for every zoom. Buckets when the step is longer than the window
(Grafana's `$__interval` grows with the range), rolling windows otherwise; the window decides
and is accepted either way, as `tz` is."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.conftest import ClientFactory
from tests.factories import capture

PATH = "/v1/buildings/hq/rooms/3.14/averages"
# 25 captures a minute apart, 09:00 … 09:24 UTC, 20.0 … 24.8 °C
VALUES = [20.0 + 0.2 * i for i in range(25)]


def _seed(client_factory: ClientFactory) -> Any:
    client = client_factory()
    body = [capture(v, ts=f"2026-11-22T09:{i:02d}:00Z", unit="C") for i, v in enumerate(VALUES)]
    assert client.post("/v1/captures", json=body).status_code == 201
    return client


def _get(client: Any, **params: str) -> Any:
    base = {"from": "2026-11-22T08:00:00Z", "to": "2026-11-22T12:00:00Z", "unit": "celsius"}
    r = client.get(PATH, params={**base, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_auto_with_a_step_longer_than_the_window_counts_every_capture(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    client = _seed(client_factory)
    body = _get(client, mode="auto", step="1h", window="15m", tz="Europe/Zurich")
    assert body["mode"] == "buckets"
    assert body["step"] == "1h"
    assert sum(p["count"] for p in body["points"]) == len(VALUES)
    [full] = [p for p in body["points"] if p["count"]]
    assert full["t"] == "2026-11-22T10:00:00+01:00"
    assert abs(full["mean"] - sum(VALUES) / len(VALUES)) < 1e-9
    assert abs(full["min"] - min(VALUES)) < 1e-9  # stored in kelvin: converted back
    assert abs(full["max"] - max(VALUES)) < 1e-9
    # The same request in rolling mode sees one 15-minute window per hour: 1 capture of 25.
    rolling = _get(client, step="1h", window="15m")
    assert sum(p["count"] for p in rolling["points"]) == 1


def test_auto_with_a_step_up_to_the_window_is_the_rolling_series(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    client = _seed(client_factory)
    for step in ("15m", "5m", "500ms"):
        auto = _get(client, mode="auto", step=step, window="15m", tz="Europe/Zurich")
        assert "mode" not in auto
        assert auto == _get(client, step=step, window="15m")
    assert _get(client, mode="auto", step="10s")["step"] == "1m"  # rounded up, as rolling does


def test_auto_maps_grafana_calendar_steps_to_buckets(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    client = _seed(client_factory)
    for step, used in (("1y", "1y"), ("30d", "1M"), ("7d", "1w"), ("2d", "1w")):
        body = _get(client, mode="auto", step=step)
        assert (body["mode"], body["step"], body["requested_step"]) == ("buckets", used, step)
        assert sum(p["count"] for p in body["points"]) == len(VALUES)


def test_explicit_modes_still_refuse_what_they_do_not_use(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    client = _seed(client_factory)
    base = {"from": "2026-11-22T08:00:00Z", "to": "2026-11-22T12:00:00Z"}
    r = client.get(PATH, params={**base, "mode": "buckets", "step": "1h", "window": "15m"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "window"
    r = client.get(PATH, params={**base, "step": "15m", "tz": "Europe/Zurich"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "tz"
    r = client.get(PATH, params={**base, "mode": "sometimes"})
    assert r.status_code == 422
