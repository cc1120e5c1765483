"""Migration 0009 (left-closed 1 h / 1 d pieces) on a populated database.

The database is filled by the PREVIOUS version of the application (the package as it was
before 0009 was added, taken from git and run in a subprocess: a real old pod) through its
ingest: several rooms and sensors, late and out-of-order data, re-sends with new values,
captures exactly on hour and day edges, a sensor move. Its period reports are compared with the
new version's after the upgrade (1e-9) and with tests/reference.py; the pieces with a
from-scratch computation in Python; then down (the old version's reports again) and up again.
Old-version writes during the fill (the trigger's work table) and what an old pod gets after
the swap are checked too.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tarfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.engine import make_url

import roomtemp
from roomtemp.app import create_app
from roomtemp.clock import fixed_clock
from roomtemp.db import migrate
from tests import reference
from tests.conftest import ROOMY_DEADLINES, make_settings
from tests.db.migration_files import load_migration, migration_file
from tests.pieces import PIECE_COLUMNS, assert_pieces, bucket_end, bucket_start, piece

MIGRATION = migration_file("0009_left_closed_pieces")


m0009 = load_migration(MIGRATION, "pieces_0009")

FIRST = datetime(2026, 9, 28, 22, 0, tzinfo=UTC)
CLOCK = datetime(2026, 12, 20, tzinfo=UTC)
MOVE = datetime(2026, 10, 15, 0, 0, tzinfo=UTC)  # zb-2 moves from hq/a to hq/b, a day edge
MONTHS = ((2026, 9), (2026, 10), (2026, 11))  # December stays in the default partition
KELVIN = 273.15
COMFORT = (20.0, 24.0)
ROOMS = {"a": "hq", "b": "hq", "x": "lab"}
DEVICES = {"zb-1": "a", "zb-2": "a", "zb-3": "x"}
PERIODS = (
    (FIRST - timedelta(days=1), CLOCK),  # everything, from before the first capture
    (
        datetime(2026, 10, 3, 7, 3, 29, 500000, tzinfo=UTC),
        datetime(2026, 11, 12, 13, 0, tzinfo=UTC),
    ),
    (datetime(2026, 10, 10, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC)),  # days, the move
    (MOVE - timedelta(hours=2), MOVE + timedelta(hours=5)),  # whole hours across the move
    (MOVE + timedelta(hours=1, microseconds=1), datetime(2026, 12, 3, 1, tzinfo=UTC)),
)


def conninfo_of(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


# -- the old version, as a subprocess ------------------------------------------------------------


@pytest.fixture(scope="module")
def old_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `service/` folder as it was just before migration 0009 was added (git), or HEAD's
    while 0009 is not committed yet."""
    root = Path(roomtemp.__file__).resolve().parents[2]
    rel = MIGRATION.relative_to(root)

    def git(*args: str) -> bytes:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True)
        # A shallow clone (actions/checkout's default) lacks the parent: fetch-depth 0 is needed.
        assert done.returncode == 0, f"git {args[0]} failed (needs full history): {done.stderr!r}"
        return done.stdout

    added = git("log", "--diff-filter=A", "--format=%H", "-1", "--", str(rel)).decode().strip()
    commit = f"{added}^" if added else "HEAD"
    out = tmp_path_factory.mktemp("old")
    with tarfile.open(fileobj=BytesIO(git("archive", commit, "service/roomtemp"))) as tar:
        tar.extractall(out, filter="data")
    assert not list((out / "service/roomtemp/db/migrations/versions").glob("*rev0009*"))
    return out / "service"


# Runs requests through the old app: [method, path, json body, params] per line of the plan;
# waits for `go` (a file) before the requests after a "WAIT" line, so a pod that started at the
# old revision can be kept running across the upgrade.
_RUNNER = """
import json, sys, time
from datetime import datetime
from pathlib import Path
import roomtemp
from fastapi.testclient import TestClient
from roomtemp.app import create_app
from roomtemp.clock import fixed_clock
from roomtemp.settings import Settings

url, now, plan_path, out_path, go = sys.argv[1:6]
plan = json.loads(Path(plan_path).read_text())
app = create_app(Settings(_env_file=None, database_url=url, auth_required=False),
                 clock=fixed_clock(datetime.fromisoformat(now)))
answers = []
with TestClient(app, raise_server_exceptions=False) as client:
    for step in plan:
        if step == "WAIT":
            Path(out_path + ".waiting").touch()
            while not Path(go).exists():
                time.sleep(0.05)
            continue
        method, path, body, params = step
        r = client.request(method, path, json=body, params=params)
        try:
            answers.append([r.status_code, r.json()])
        except ValueError:
            answers.append([r.status_code, r.text])
Path(out_path).write_text(json.dumps({"package": roomtemp.__file__, "answers": answers}))
"""

Step = Any  # [method, path, body, params] or "WAIT"


class OldPod:
    """The previous version's app in a subprocess (its own interpreter, its own package)."""

    def __init__(self, package: Path, url: str, work: Path) -> None:
        self.package, self.url, self.work, self.runs = package, url, work, 0

    def start(self, plan: list[Step]) -> tuple[subprocess.Popen[bytes], Path]:
        self.runs += 1
        plan_path = self.work / f"plan{self.runs}.json"
        out = self.work / f"out{self.runs}.json"
        plan_path.write_text(json.dumps(plan))
        # The old version reads its deadlines from the environment (roomy, as make_settings).
        roomy = {k.upper(): str(v) for k, v in ROOMY_DEADLINES.items()}
        env = {**os.environ, **roomy, "PYTHONPATH": str(self.package)}
        proc = subprocess.Popen(
            [sys.executable, "-c", _RUNNER, self.url, CLOCK.isoformat(), str(plan_path),
             str(out), str(self.work / f"go{self.runs}")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        return proc, out

    def finish(self, proc: subprocess.Popen[bytes], out: Path) -> list[tuple[int, Any]]:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-3000:]
        done = json.loads(out.read_text())
        assert Path(done["package"]).is_relative_to(self.package)  # really the old code
        return [(s, b) for s, b in done["answers"]]

    def run(self, plan: list[Step]) -> list[tuple[int, Any]]:
        return self.finish(*self.start(plan))


# -- the data ------------------------------------------------------------------------------------


def _capture(stream: str, ts: datetime, celsius: float) -> dict[str, Any]:
    body: dict[str, Any] = {"value": celsius, "unit": "celsius", "ts": _iso(ts)}
    if stream in DEVICES:
        body["sensor"] = stream
    else:
        body["building"], body["room"] = ROOMS[stream], stream
    return body


def history(rng: random.Random) -> tuple[list[Step], dict[str, dict[datetime, float]]]:
    """The requests that fill the database (sensors, captures in late chunks, re-sends with new
    values) and the final value (kelvin) of every capture by stream (room key or device key)."""
    plan: list[Step] = [
        ["POST", "/v1/sensors", {"key": k, "sensor_type": "temperature",
                                 "building": ROOMS[r], "room": r}, None]
        for k, r in DEVICES.items()
    ]  # fmt: skip
    final: dict[str, dict[datetime, float]] = defaultdict(dict)
    chunks: list[list[dict[str, Any]]] = []
    for stream in (*ROOMS, *DEVICES):
        ts, mine = FIRST + timedelta(minutes=rng.randrange(60)), []
        while ts < datetime(2026, 12, 5, tzinfo=UTC):
            # Many on hour edges (whole-hour steps from one), some a microsecond off.
            ts += timedelta(minutes=rng.choice((17, 60, 60, 133, 371, 720)))
            if rng.random() < 0.1:
                ts += timedelta(microseconds=rng.choice((1, -1)))
            value = rng.randrange(34, 55) / 2
            mine.append(_capture(stream, ts, value))
            final[stream][ts] = value + KELVIN
        for day in range(3):  # exactly on midnights
            t = datetime(2026, 10, 20 + day, tzinfo=UTC)
            if t not in final[stream]:
                mine.append(_capture(stream, t, 21.5 + day))
                final[stream][t] = 21.5 + day + KELVIN
        chunks += [mine[i : i + 40] for i in range(0, len(mine), 40)]
    rng.shuffle(chunks)  # late and out of order
    resend = [c for chunk in chunks for c in chunk if rng.random() < 0.02]
    for c in resend:
        c2 = {**c, "value": c["value"] + 3.0}
        chunks.append([c2])
        stream = c.get("sensor") or c["room"]
        final[stream][datetime.fromisoformat(c["ts"])] = c2["value"] + KELVIN
    plan += [["POST", "/v1/captures", chunk, None] for chunk in chunks]
    plan.append(["POST", "/v1/sensors/zb-2/moves", {"building": "hq", "room": "b",
                                                    "from": _iso(MOVE)}, None])  # fmt: skip
    return plan, final


def sensors_of(final: dict[str, dict[datetime, float]]) -> dict[str, reference.Sensor]:
    out = {}
    for stream, caps in final.items():
        room = DEVICES.get(stream, stream)
        moves: list[tuple[datetime | None, str]] = [(None, room)]
        if stream == "zb-2":
            moves.append((MOVE, "b"))
        out[stream] = reference.Sensor(caps, moves)
    return out


def report_plan() -> list[Step]:
    return [
        ["GET", f"/v1/buildings/{b}/report", None, {"from": _iso(s), "to": _iso(e)}]
        for b in ("hq", "lab")
        for s, e in PERIODS
    ]


#: Report fields added after the old version (long-term aggregates, issue 23): the old app's
#: answers lack them, the rest must match.
ADDED_SINCE = ("resolution", "raw_from")


def reports_by_new_app(url: str) -> list[tuple[int, Any]]:
    app = create_app(
        make_settings(database_url=url, auth_required=False),
        clock=fixed_clock(CLOCK),
    )
    with TestClient(app) as client:
        out = []
        for _, path, _, params in report_plan():
            r = client.get(path, params=params)
            body = r.json()
            for field in ADDED_SINCE if r.status_code == 200 else ():
                body.pop(field)
            out.append((r.status_code, body))
        return out


def assert_same_json(a: Any, b: Any, where: tuple[Any, ...] = ()) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict), where
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_json(a[k], b[k], (*where, k))
    elif isinstance(a, list):
        assert isinstance(b, list), where
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_json(x, y, (*where, i))
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), (where, a, b)
    else:
        assert a == b, (where, a, b)


def assert_reference(
    answers: list[tuple[int, Any]], final: dict[str, dict[datetime, float]]
) -> int:
    """Every room report against reference.pooled_report (both in kelvin, the stored unit); returns
    how many captures the reports counted."""
    sensors = sensors_of(final)
    low, high = (c + KELVIN for c in COMFORT)
    counted = 0
    for (status, body), (_, path, _, params) in zip(answers, report_plan(), strict=True):
        assert status == 200, body
        start, end = (datetime.fromisoformat(params[k]) for k in ("from", "to"))
        for got in body["rooms"]:
            want = reference.pooled_report(sensors, got["room"], start, end, low, high)
            for key, value in want.items():
                have = got[key]
                if isinstance(value, datetime):
                    assert abs((datetime.fromisoformat(have) - value).total_seconds()) <= 1e-6
                elif isinstance(value, float):
                    assert have == pytest.approx(value, rel=1e-9, abs=1e-9), (path, key)
                else:
                    assert have == value, (path, start, got["room"], key, have, value)
            counted += got["count"]
    return counted


def expected_pieces(
    conn: psycopg.Connection[Any], stride: timedelta, *, by_end: bool = False
) -> dict[tuple[str, int, datetime], dict[str, Any]]:
    """The pieces from the raw captures in Python, per (room, sensor, start or end)."""
    low, high = (c + KELVIN for c in COMFORT)
    key = bucket_end if by_end else bucket_start
    groups: dict[tuple[str, int, datetime], list[tuple[datetime, float]]] = defaultdict(list)
    rows = conn.execute(
        "SELECT r.key, c.sensor_id, c.ts, c.value FROM capture c JOIN room r ON r.id = c.room_id "
        "ORDER BY 1, 2, 3"
    )
    for room, sensor, ts, value in rows:
        groups[(room, sensor, key(ts, stride))].append((ts, value))
    return {k: piece(v, low, high) for k, v in groups.items()}


def stored_pieces(
    conn: psycopg.Connection[Any], table: str, time: str
) -> dict[tuple[str, int, datetime], dict[str, Any]]:
    rows = conn.execute(
        f"SELECT r.key, x.sensor_id, x.{time}, {', '.join('x.' + c for c in PIECE_COLUMNS)} "
        f"FROM {table} x JOIN room r ON r.id = x.room_id"
    ).fetchall()
    return {(r[0], r[1], r[2]): dict(zip(PIECE_COLUMNS, r[3:], strict=True)) for r in rows}


def assert_pieces_exact(url: str, time: str) -> None:
    """The 1 h and 1 d pieces equal the ones computed in Python from the captures: left-closed
    keyed by start (`time` = "start") or right-closed keyed by end ("bucket")."""
    with psycopg.connect(conninfo_of(url)) as conn:
        for stride, table in ((timedelta(hours=1), "capture_rollup_1h"),
                              (timedelta(days=1), "capture_rollup_1d")):  # fmt: skip
            want = expected_pieces(conn, stride, by_end=time == "bucket")
            assert len(want) > 100
            assert_pieces(stored_pieces(conn, table, time), want)


def populate(url: str, old: OldPod) -> dict[str, dict[datetime, float]]:
    migrate.upgrade(url, "0008")
    with psycopg.connect(conninfo_of(url)) as conn:
        for year, month in MONTHS:
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            conn.execute(
                f"CREATE TABLE capture_p{start:%Y%m} PARTITION OF capture "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
    plan, final = history(random.Random(16))
    answers = old.run(plan)
    assert all(s in (200, 201) for s, _ in answers), [b for s, b in answers if s >= 300][:3]
    return final


@pytest.fixture
def old_pod(old_package: Path, empty_database_url: str, tmp_path: Path) -> OldPod:
    return OldPod(old_package, empty_database_url, tmp_path)


# -- the tests -----------------------------------------------------------------------------------


def test_populated_database_up_down_up_is_exact(empty_database_url: str, old_pod: OldPod) -> None:
    url = empty_database_url
    final = populate(url, old_pod)
    n = sum(len(v) for v in final.values())
    with psycopg.connect(conninfo_of(url)) as conn:
        assert conn.execute("SELECT count(*) FROM capture").fetchone() == (n,)
        assert conn.execute("SELECT count(*) FROM capture_default").fetchone()[0] > 0  # type: ignore[index]
    assert_pieces_exact(url, "bucket")  # the old version's right-closed pieces
    before = old_pod.run(report_plan())
    counted = assert_reference(before, final)
    assert counted > 1000

    migrate.upgrade(url)
    after = reports_by_new_app(url)
    assert_same_json([list(a) for a in after], [list(b) for b in before])
    assert_reference(after, final)
    assert_pieces_exact(url, "start")
    with psycopg.connect(conninfo_of(url)) as conn:
        leftovers = conn.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE '%\\_0009%' "
            "OR relname LIKE 'roomtemp\\_0009%'"
        ).fetchall()
        functions = conn.execute(
            "SELECT proname FROM pg_proc WHERE proname LIKE 'roomtemp\\_0009%'"
        ).fetchall()
        triggers = conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").fetchall()
    assert (leftovers, functions, triggers) == ([], [], [])

    migrate.downgrade(url, "0008")
    assert_pieces_exact(url, "bucket")
    down = old_pod.run(report_plan())
    assert_same_json([list(a) for a in down], [list(b) for b in before])
    with psycopg.connect(conninfo_of(url)) as conn:
        assert conn.execute("SELECT to_regproc('roomtemp_bucket_start')").fetchone() == (None,)

    migrate.upgrade(url)
    assert_pieces_exact(url, "start")
    assert_same_json([list(a) for a in reports_by_new_app(url)], [list(b) for b in before])


def _phase(conn: Connection, step: Any) -> None:
    with Operations.context(MigrationContext.configure(conn)):
        step()


def test_old_version_writes_during_the_fill_are_recomputed_at_the_swap(
    empty_database_url: str, old_pod: OldPod
) -> None:
    """The phases driven one by one: after the fill, an old pod posts late captures (on hour
    edges too), re-sends with new values and moves a sensor; the trigger names those hours and
    the swap recomputes them, so the pieces are exact afterwards. A second fill run (a re-run
    after a failure) skips what was filled."""
    url = empty_database_url
    final = populate(url, old_pod)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as mig:
            _phase(mig, lambda: m0009._build(mig, False))
            mig.commit()
            auto = mig.execution_options(isolation_level="AUTOCOMMIT")
            m0009._fill(auto, partial(m0009._in_transaction, auto))
            late = [
                _capture("a", datetime(2026, 10, 21, 5, tzinfo=UTC), 30.0),
                _capture("zb-3", datetime(2026, 12, 1, tzinfo=UTC), 10.0),
                _capture("zb-1", datetime(2026, 10, 2, 23, 59, 59, 999999, tzinfo=UTC), 19.0),
            ]
            some = sorted(final["zb-3"])[100]
            late.append(_capture("zb-3", some, 40.0))
            answers = old_pod.run(
                [["POST", "/v1/captures", late, None],
                 ["POST", "/v1/sensors/zb-1/moves",
                  {"building": "hq", "room": "b", "from": "2026-11-30T12:00:00Z"}, None]]
            )  # fmt: skip
            assert [s for s, _ in answers] == [201, 201], answers
            with psycopg.connect(conninfo_of(url)) as conn:
                touched = conn.execute("SELECT count(*) FROM roomtemp_0009_touched").fetchone()
                assert touched is not None
                assert touched[0] >= 5
                filled = conn.execute("SELECT count(*) FROM roomtemp_0009_filled").fetchone()
            started = time.monotonic()
            m0009._fill(auto, partial(m0009._in_transaction, auto))  # a re-run: nothing to do
            assert time.monotonic() - started < 5
            with psycopg.connect(conninfo_of(url)) as conn:
                again = conn.execute("SELECT count(*) FROM roomtemp_0009_filled").fetchone()
            assert again == filled
        with engine.connect() as swap:
            _phase(swap, lambda: m0009._swap(swap, False))
            swap.execute(text("UPDATE alembic_version SET version_num = '0009'"))
            swap.commit()
    finally:
        engine.dispose()
    migrate.upgrade(url)  # the app serves at head only (0010 adds the live events' sequence)
    assert_pieces_exact(url, "start")
    for body in late:
        stream = body.get("sensor") or body["room"]
        final[stream][datetime.fromisoformat(body["ts"])] = body["value"] + KELVIN
    # zb-1 is in b from 2026-11-30 12:00 on (the reference's assignments say so below).
    sensors = sensors_of(final)
    sensors["zb-1"] = reference.Sensor(
        final["zb-1"], [(None, "a"), (datetime(2026, 11, 30, 12, tzinfo=UTC), "b")]
    )
    low, high = (c + KELVIN for c in COMFORT)
    for (status, body), (_, _, _, params) in zip(
        reports_by_new_app(url), report_plan(), strict=True
    ):
        assert status == 200
        start, end = (datetime.fromisoformat(params[k]) for k in ("from", "to"))
        for got in body["rooms"]:
            want = reference.pooled_report(sensors, got["room"], start, end, low, high)
            assert got["count"] == want["count"]
            assert got["time_weighted_mean"] == pytest.approx(want["time_weighted_mean"], rel=1e-9)


def test_an_old_pod_after_the_swap_fails_without_writing(
    empty_database_url: str, old_pod: OldPod
) -> None:
    """A pod of the previous version still serving when the swap commits: its ingest and its
    reports name capture_rollup_1h.bucket, which is gone (SQLSTATE 42703): the API answers 500
    and nothing of the batch is written (one transaction). A pod started after the upgrade is
    not ready (503 schema_not_ready): the schema is ahead of it."""
    url = empty_database_url
    populate(url, old_pod)
    with psycopg.connect(conninfo_of(url)) as conn:
        count = conn.execute("SELECT count(*) FROM capture").fetchone()
    new = _capture("a", datetime(2026, 12, 10, 5, tzinfo=UTC), 22.0)
    running, out = old_pod.start(
        [["GET", "/v1/buildings/hq/rooms/a/average", None, None], "WAIT",
         ["POST", "/v1/captures", new, None],
         ["GET", "/v1/buildings/hq/report", None, {"from": "2026-10-01T00:00:00Z",
                                                 "to": "2026-10-02T00:00:00Z"}]]
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not Path(str(out) + ".waiting").exists():
        assert running.poll() is None, running.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    migrate.upgrade(url)
    (old_pod.work / f"go{old_pod.runs}").touch()
    ready, post, report = old_pod.finish(running, out)
    assert ready[0] == 200
    assert post[0] == 500, post
    assert report[0] == 500, report
    with psycopg.connect(conninfo_of(url)) as conn:
        assert conn.execute("SELECT count(*) FROM capture").fetchone() == count
    fresh = old_pod.run([["POST", "/v1/captures", new, None]])
    assert fresh[0][0] == 503
    assert fresh[0][1]["error"]["code"] == "schema_not_ready"


def test_a_swap_that_times_out_changes_nothing_and_a_rerun_finishes(
    empty_database_url: str, old_pod: OldPod
) -> None:
    """A reader holding the old 1-hour table past the swap's lock_timeout (5 s) makes the upgrade
    fail: the old tables keep serving, nothing is swapped; `roomtemp migrate` run again skips
    the build and what was filled, and swaps."""
    url = empty_database_url
    populate(url, old_pod)
    with psycopg.connect(conninfo_of(url)) as reader:
        reader.execute("SELECT count(*) FROM capture_rollup_1h").fetchone()  # keeps its lock
        began = time.monotonic()
        with pytest.raises(Exception, match="lock timeout"):
            migrate.upgrade(url)
        assert time.monotonic() - began < 120
        reader.rollback()
    with psycopg.connect(conninfo_of(url)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0008",)
        assert conn.execute("SELECT count(*) FROM roomtemp_0009_filled").fetchone() != (0,)
        bucket = conn.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'capture_rollup_1h' AND column_name = 'bucket'"
        ).fetchone()
        assert bucket == (1,)  # the old table, still serving
    answers = old_pod.run(report_plan()[:1])
    assert answers[0][0] == 200
    migrate.upgrade(url)
    assert_pieces_exact(url, "start")
    assert_same_json([list(a) for a in reports_by_new_app(url)[:1]], [list(answers[0])])


def test_citus_plan_distributes_the_function_then_the_tables() -> None:
    """Not run on Citus here (no Citus server on these machines): the plan's statements, as
    0005 and 0007 distribute theirs."""
    steps = m0009.citus_plan(["capture_rollup_1h_0009", "capture_rollup_1d_0009"])
    assert steps == [
        ("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'", {}),
        ("SELECT create_distributed_function(:f)",
         {"f": "roomtemp_bucket_start(timestamptz,interval)"}),
        ("SELECT create_distributed_table(:t, 'room_id', colocate_with => :c)",
         {"t": "capture_rollup_1h_0009", "c": "capture"}),
        ("SELECT create_distributed_table(:t, 'room_id', colocate_with => :c)",
         {"t": "capture_rollup_1d_0009", "c": "capture"}),
    ]  # fmt: skip


def test_bucket_functions_agree_on_edges(database_url: str) -> None:
    """roomtemp_bucket (end of (end - s, end]) is spelled through roomtemp_bucket_start (start of
    [start, start + s)): on an edge they differ by one stride, a microsecond later they agree."""
    with psycopg.connect(conninfo_of(database_url)) as conn:
        edge = datetime(2026, 11, 22, tzinfo=UTC)  # an edge of every stride
        tick = timedelta(microseconds=1)
        for stride in ("15 minutes", "1 hour", "1 day"):
            for ts, start, end in (
                (edge, edge, edge),
                (edge + tick, edge, None),
                (edge - tick, None, edge),
            ):
                row = conn.execute(
                    "SELECT roomtemp_bucket_start(%s, CAST(%s AS interval)), "
                    "roomtemp_bucket(%s, CAST(%s AS interval))",
                    (ts, stride, ts, stride),
                ).fetchone()
                assert row is not None
                if start is not None:
                    assert row[0] == start, (ts, stride)
                if end is not None:
                    assert row[1] == end, (ts, stride)
