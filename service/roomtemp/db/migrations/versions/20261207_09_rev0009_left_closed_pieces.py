"""Left-closed pieces: capture_rollup_1h and capture_rollup_1d hold start <= ts < start + stride,
keyed by their START in a column named `start` (it was `bucket`, the END of (end - stride, end]).

Buckets of series [t, t + step) and report periods [from, to) are left-closed: with left-closed
pieces a bucket or period on hour edges is exactly a union of whole pieces, and a capture on an
hour edge is in the piece that starts there. capture_rollup_15m stays end-keyed (rolling windows
(t - window, t] read it). The column is renamed so that a pod of the previous version, whose
statements name `bucket`, fails (SQLSTATE 42703, its transaction rolled back, nothing written)
instead of writing right-closed pieces into left-closed tables. A second SQL function,
`roomtemp_bucket_start(ts, stride)`, gives a piece's start; `roomtemp_bucket` (the end) is now
spelled through it, so date_bin stays in one function.

Online upgrade (docs/data-lifecycle.md, "Upgrading to left-closed pieces (migration 0009)"):
(1) one short transaction creates the new tables beside the old ones (`*_0009`), the work table
`roomtemp_0009_touched` and a trigger on capture that records the (room, sensor, hour) of every
capture an old pod writes, moves or deletes from then on; (2) the fill, from the raw captures,
one (capture partition, room) per transaction (then the 1-day pieces, one room per transaction,
merged from the new 1-hour ones); progress is recorded in `roomtemp_0009_filled`, so a failed
run continues where it stopped; (3) one short transaction, lock_timeout 5 s, with writes to
capture blocked: the touched hours (and their days) are recomputed, the old tables dropped and
the new ones renamed, committed with the revision. On Citus the fill runs with capture locked
for writes (a trigger on a shard cannot write a distributed table), like 0007.

The downgrade is offline (one transaction, writers wait) and exact: the right-closed pieces are
rebuilt from the raw captures with a frozen copy of the 0007-era rebuild statements.

The statements are frozen copies of the application's (roomtemp/db/pieces.py, rollup/queries.py
as of this revision): a migration runs the same SQL for as long as it exists, so it imports
nothing from roomtemp.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# This revision's longer statements, frozen with it (Alembic loads only the .py files of versions/).
_SQL = Path(__file__).resolve().parents[1] / "sql"

log = logging.getLogger("alembic.runtime.migration")

PIECES = ("capture_rollup_1h", "capture_rollup_1d")
SUFFIX = "_0009"
TOUCHED = "roomtemp_0009_touched"
FILLED = "roomtemp_0009_filled"
#: The lock every `roomtemp migrate` takes (migrations/env.py), held for the session here: the
#: fill commits between batches and the env's transaction lock ends at the first commit.
MIGRATE_LOCK = 727274001
SWAP_LOCK_TIMEOUT = "5s"
Step = tuple[str, dict[str, str]]

# The start of the piece of `stride` holding ts: pieces are [start, start + stride), aligned to
# the Unix epoch. The end-keyed function of 0004 is respelled through it (one date_bin).
START_FUNCTION = """
CREATE OR REPLACE FUNCTION roomtemp_bucket_start(ts timestamptz, stride interval)
RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN date_bin(stride, ts, timestamptz '1970-01-01 00:00:00+00')
"""
END_FUNCTION = """
CREATE OR REPLACE FUNCTION roomtemp_bucket(ts timestamptz, stride interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN roomtemp_bucket_start(ts - interval '1 microsecond', stride) + stride
"""
# 0004's definition, restored by the downgrade.
END_FUNCTION_0004 = """
CREATE OR REPLACE FUNCTION roomtemp_bucket(ts timestamptz, stride interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN date_bin(stride, ts - interval '1 microsecond', timestamptz '1970-01-01 00:00:00+00')
       + stride
"""

_COLUMNS = (
    "count, sum, min, max, min_ts, max_ts, first_ts, first_value, last_ts, last_value, "
    "value_seconds, below_seconds, above_seconds, gap_seconds, gap_start"
)

# Frozen from db/pieces.py: the columns of a piece of captures, and of pieces merged.
_OF_CAPTURES = (_SQL / "0009_of_captures.sql").read_text()
_OF_PIECES = (_SQL / "0009_of_pieces.sql").read_text()


def pieces_1h(target: str, source: str, where: str, time: str, bucket: str) -> str:
    """INSERT into `target` the 1-hour pieces of the captures c of `source` matching `where`;
    `bucket` is the SQL function keying them (`roomtemp_bucket_start` or, for the downgrade,
    the end-keyed `roomtemp_bucket`) and `time` the key column. A piece already there stays:
    rows an old pod moved from the default partition into a new one can name an hour filled
    from the default partition before; the swap recomputes such hours (they are touched)."""
    return f"""
    INSERT INTO {target} ({time}, room_id, sensor_id, {_COLUMNS})
    SELECT s.b, s.room_id, s.sensor_id, {_OF_CAPTURES}
    FROM (
        SELECT c.room_id, c.sensor_id, c.ts, c.value, date_part('epoch', c.ts) AS at,
               {bucket}(c.ts, interval '1 hour') AS b,
               date_part('epoch', LEAD(c.ts) OVER (
                   PARTITION BY c.room_id, c.sensor_id, {bucket}(c.ts, interval '1 hour')
                   ORDER BY c.ts) - c.ts) AS held
        FROM {source}
        WHERE {where}
    ) AS s
    JOIN sensor sn ON sn.id = s.sensor_id
    JOIN sensor_type st ON st.id = sn.sensor_type_id
    GROUP BY s.room_id, s.sensor_id, s.b, st.comfort_low, st.comfort_high
    ORDER BY s.room_id, s.sensor_id, s.b
    ON CONFLICT DO NOTHING
    """  # noqa: S608 - names from the catalog and this module's constants


def pieces_1d(target: str, source: str, where: str, time: str, bucket: str) -> str:
    """INSERT into `target` the 1-day pieces merged from the 1-hour pieces h of `source`
    (keyed by `time`) matching `where`, each day's hours being all in `source`."""
    return f"""
    INSERT INTO {target} ({time}, room_id, sensor_id, {_COLUMNS})
    SELECT p.day, p.room_id, p.sensor_id, {_OF_PIECES}
    FROM (
        SELECT h.*, {bucket}(h.{time}, interval '1 day') AS day,
               date_part('epoch', LEAD(h.first_ts) OVER (
                   PARTITION BY h.room_id, h.sensor_id, {bucket}(h.{time}, interval '1 day')
                   ORDER BY h.{time}) - h.last_ts) AS seg
        FROM {source} h
        WHERE {where}
    ) AS p
    JOIN sensor sn ON sn.id = p.sensor_id
    JOIN sensor_type st ON st.id = sn.sensor_type_id
    GROUP BY p.room_id, p.sensor_id, p.day, st.comfort_low, st.comfort_high
    ORDER BY p.room_id, p.sensor_id, p.day
    ON CONFLICT DO NOTHING
    """  # noqa: S608 - names from this module's constants


def _create_pieces(target: str, name: str, time: str) -> None:
    """`target` in the shape of piece table `name`, keyed by (room_id, sensor_id, `time`).

    The primary key has a schema-wide name (it is an index) and is renamed at the swap; the
    foreign keys get their final names at once (unique per table only).
    """
    op.execute(
        f"""
        CREATE TABLE {target} (
            {time} timestamptz NOT NULL,
            sum double precision NOT NULL, min double precision NOT NULL,
            max double precision NOT NULL,
            min_ts timestamptz NOT NULL, max_ts timestamptz NOT NULL,
            first_ts timestamptz NOT NULL, first_value double precision NOT NULL,
            last_ts timestamptz NOT NULL, last_value double precision NOT NULL,
            value_seconds double precision NOT NULL, below_seconds double precision NOT NULL,
            above_seconds double precision NOT NULL, gap_seconds double precision NOT NULL,
            gap_start timestamptz NOT NULL,
            count integer NOT NULL,
            room_id integer NOT NULL,
            sensor_id integer NOT NULL,
            CONSTRAINT pk_{target} PRIMARY KEY (room_id, sensor_id, {time}),
            CONSTRAINT fk_{name}_room_id_room FOREIGN KEY (room_id) REFERENCES room (id),
            CONSTRAINT fk_{name}_sensor_id_sensor FOREIGN KEY (sensor_id) REFERENCES sensor (id)
        ) WITH (fillfactor = 70)
        """
    )


# Every capture an old pod writes, moves (room_id changes) or deletes during the fill names its
# (room, sensor, hour) here; the swap recomputes those hours from the raw captures.
_TOUCH_FUNCTION = f"""
CREATE OR REPLACE FUNCTION roomtemp_0009_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO {TOUCHED} (room_id, sensor_id, hour)
        VALUES (OLD.room_id, OLD.sensor_id, roomtemp_bucket_start(OLD.ts, interval '1 hour'))
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO {TOUCHED} (room_id, sensor_id, hour)
        VALUES (NEW.room_id, NEW.sensor_id, roomtemp_bucket_start(NEW.ts, interval '1 hour'))
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$
"""  # noqa: S608 - this module's constants


def citus_installed(bind: Connection) -> bool:
    return bool(bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")))


def citus_plan(tables: Sequence[str]) -> list[Step]:
    """The statements that distribute 0009's new objects on Citus, in order (as 0005 and 0007
    do): the new function everywhere (roomtemp_bucket calls it on the workers), the new tables
    by room_id, co-located with `capture`."""
    steps: list[Step] = [
        ("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'", {}),
        (
            "SELECT create_distributed_function(:f)",
            {"f": "roomtemp_bucket_start(timestamptz,interval)"},
        ),
    ]
    steps += [
        (
            "SELECT create_distributed_table(:t, 'room_id', colocate_with => :c)",
            {"t": t, "c": "capture"},
        )
        for t in tables
    ]
    return steps


def _build(bind: Connection, citus: bool) -> None:
    """Phase 1 (one short transaction): the function, the new tables, the work tables and, off
    Citus, the trigger that records what old pods write during the fill."""
    op.execute(START_FUNCTION)
    for name in PIECES:
        _create_pieces(name + SUFFIX, name, "start")
    op.execute(
        f"CREATE TABLE {TOUCHED} (room_id integer NOT NULL, sensor_id integer NOT NULL, "
        "hour timestamptz NOT NULL, PRIMARY KEY (room_id, sensor_id, hour))"
    )
    op.execute(
        f"CREATE TABLE {FILLED} (part text NOT NULL, room_id integer NOT NULL, "
        "lo timestamptz, hi timestamptz, PRIMARY KEY (part, room_id))"
    )
    if citus:
        for statement, params in citus_plan([n + SUFFIX for n in PIECES]):
            log.info("0009: %s %s", statement, params or "")
            bind.execute(sa.text(statement), params)
    # After the new function is on every node (Citus): the end function calls it there.
    op.execute(END_FUNCTION)
    if citus:
        return
    op.execute(_TOUCH_FUNCTION)
    # Creating a trigger waits for running writers of capture: briefly, else fail and re-run.
    op.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
    op.execute(
        "CREATE TRIGGER roomtemp_0009_touch AFTER INSERT OR UPDATE OR DELETE ON capture "
        "FOR EACH ROW EXECUTE FUNCTION roomtemp_0009_touch()"
    )


_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


def _partitions(bind: Connection) -> list[tuple[str, str | None, str | None]]:
    """(name, lower, upper bound) of each partition of capture; (name, None, None): default."""
    rows = bind.execute(
        sa.text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST('capture' AS regclass) "
            "ORDER BY 1"
        )
    )
    out: list[tuple[str, str | None, str | None]] = []
    for name, bound in rows:
        if bound == "DEFAULT":
            out.append((name, None, None))
            continue
        edges = _BOUND.fullmatch(bound)
        if edges is None:
            raise RuntimeError(f"0009: unexpected partition bound of {name}: {bound}")
        out.append((name, edges[1], edges[2]))
    return out


def _check_hour_edges(
    bind: Connection, parts: Sequence[tuple[str, str | None, str | None]]
) -> None:
    """A partition read alone gives whole pieces only if its bounds are hour edges (roomtemp
    makes them at UTC midnights); no hour then lies in two partitions."""
    for name, lo, hi in parts:
        for edge in (lo, hi):
            if edge is not None and not bind.scalar(
                sa.text(
                    "SELECT CAST(:e AS timestamptz) "
                    "= roomtemp_bucket_start(CAST(:e AS timestamptz), interval '1 hour')"
                ),
                {"e": edge},
            ):
                raise RuntimeError(f"0009: partition {name} does not start and end on hours")


Run = Callable[[Callable[[], None]], None]


def _in_transaction(bind: Connection, step: Callable[[], None]) -> None:
    """Run `step` in its own transaction on an autocommit connection."""
    bind.exec_driver_sql("BEGIN")
    try:
        step()
    except BaseException:
        bind.exec_driver_sql("ROLLBACK")
        raise
    bind.exec_driver_sql("COMMIT")


_FILL_1H = pieces_1h(
    "capture_rollup_1h" + SUFFIX, "{part} c", "c.room_id = :room", "start", "roomtemp_bucket_start"
)
_FILL_1D = pieces_1d(
    "capture_rollup_1d" + SUFFIX,
    "capture_rollup_1h" + SUFFIX,
    "h.room_id = :room",
    "start",
    "roomtemp_bucket_start",
)
_MARK = (
    f"INSERT INTO {FILLED} (part, room_id, lo, hi) "  # noqa: S608 - a constant
    "VALUES (:part, :room, CAST(:lo AS timestamptz), CAST(:hi AS timestamptz))"
)


def _fill(bind: Connection, run: Run) -> None:
    """Phase 2: the 1-hour pieces of each (partition, room) not filled yet, then the 1-day
    pieces of each room, each in a transaction of its own (`run`) together with its progress
    row. Old pods keep writing; the trigger records what they touch."""
    parts = _partitions(bind)
    _check_hour_edges(bind, parts)
    filled = sa.text(f"SELECT part, room_id FROM {FILLED}")  # noqa: S608 - a constant
    done = {(p, r) for p, r in bind.execute(filled)}
    rooms = bind.scalars(sa.text("SELECT id FROM room ORDER BY id")).all()
    started, longest, batches = time.monotonic(), 0.0, 0
    for part, lo, hi in parts:
        fill = sa.text(_FILL_1H.format(part=part))
        for room in rooms:
            if (part, room) in done:
                continue
            began = time.monotonic()

            def batch(part: str = part, room: int = room, lo: str | None = lo,
                      hi: str | None = hi, fill: sa.TextClause = fill) -> None:  # fmt: skip
                bind.execute(fill, {"room": room})
                bind.execute(sa.text(_MARK), {"part": part, "room": room, "lo": lo, "hi": hi})

            run(batch)
            batches += 1
            longest = max(longest, time.monotonic() - began)
    for room in rooms:
        if ("1d", room) in done:
            continue
        began = time.monotonic()

        def days(room: int = room) -> None:
            bind.execute(sa.text(_FILL_1D), {"room": room})
            bind.execute(sa.text(_MARK), {"part": "1d", "room": room, "lo": None, "hi": None})

        run(days)
        batches += 1
        longest = max(longest, time.monotonic() - began)
    # Operators see how long one batch held its rows (writers never wait for it).
    log.info(
        "0009: filled %d batches in %.2f s, longest %.2f s",
        *(batches, time.monotonic() - started, longest),
    )


_TOUCHED_1H = [
    f"DELETE FROM capture_rollup_1h{SUFFIX} n USING {TOUCHED} t "  # noqa: S608 - constants
    "WHERE n.room_id = t.room_id "
    "AND n.sensor_id = t.sensor_id AND n.start = t.hour",
    pieces_1h(
        "capture_rollup_1h" + SUFFIX,
        f"{TOUCHED} t JOIN capture c ON c.room_id = t.room_id AND c.sensor_id = t.sensor_id "
        "AND c.ts >= t.hour AND c.ts < t.hour + interval '1 hour'",
        "true",
        "start",
        "roomtemp_bucket_start",
    ),
]
_TOUCHED_DAYS = (
    "SELECT DISTINCT room_id, sensor_id, roomtemp_bucket_start(hour, interval '1 day') AS day "  # noqa: S608
    f"FROM {TOUCHED}"
)
_TOUCHED_1D = [
    f"DELETE FROM capture_rollup_1d{SUFFIX} n USING ({_TOUCHED_DAYS}) d "  # noqa: S608
    "WHERE n.room_id = d.room_id AND n.sensor_id = d.sensor_id AND n.start = d.day",
    pieces_1d(
        "capture_rollup_1d" + SUFFIX,
        f"capture_rollup_1h{SUFFIX}",
        f"(h.room_id, h.sensor_id, roomtemp_bucket_start(h.start, interval '1 day')) IN "
        f"({_TOUCHED_DAYS.replace('DISTINCT ', '')})",
        "start",
        "roomtemp_bucket_start",
    ),
]


def _swap(bind: Connection, citus: bool) -> None:
    """Phase 3 (one short transaction, writers of capture wait): bring the new pieces up to
    date with what old pods wrote during the fill, drop the old tables, rename the new ones."""
    op.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
    op.execute("LOCK TABLE capture IN SHARE MODE")
    op.execute("LOCK TABLE " + ", ".join(PIECES) + " IN ACCESS EXCLUSIVE MODE")
    # Partitions `roomtemp maintain` dropped during the fill (no row trigger fires for that):
    # their pieces go, as maintain drops the rollups of a dropped partition.
    now = {p for p, _, _ in _partitions(bind)}
    for part, lo, hi in bind.execute(
        sa.text(f"SELECT DISTINCT part, lo, hi FROM {FILLED} WHERE part <> '1d'")  # noqa: S608
    ).all():
        if part in now:
            continue
        if lo is None:
            raise RuntimeError(f"0009: the default partition {part} vanished during the fill")
        for name in PIECES:
            bind.execute(
                sa.text(
                    f"DELETE FROM {name}{SUFFIX} WHERE start >= :lo AND start < :hi"  # noqa: S608
                ),
                {"lo": lo, "hi": hi},
            )
    # Partitions created since (by maintain, for new months): filled here, usually empty.
    _fill(bind, lambda step: step())
    if not citus:
        touched = bind.scalar(sa.text(f"SELECT count(*) FROM {TOUCHED}"))  # noqa: S608
        for statement in (*_TOUCHED_1H, *_TOUCHED_1D):
            bind.execute(sa.text(statement))
        log.info("0009: recomputed %d hours written during the fill", touched)
        op.execute("DROP TRIGGER roomtemp_0009_touch ON capture")
        op.execute("DROP FUNCTION roomtemp_0009_touch()")
    _drop_and_rename("start")
    op.execute(f"DROP TABLE {TOUCHED}")
    op.execute(f"DROP TABLE {FILLED}")


def _drop_and_rename(time: str) -> None:
    """Drop the piece tables and give the ones built beside them (SUFFIX) their names."""
    for name in PIECES:
        op.execute(f"DROP TABLE {name}")
        op.execute(f"ALTER TABLE {name}{SUFFIX} RENAME TO {name}")
        # Renaming the key's index renames the constraint with it; Citus refuses
        # RENAME CONSTRAINT on a distributed table but propagates an index rename.
        op.execute(f"ALTER INDEX pk_{name}{SUFFIX} RENAME TO pk_{name}")


def upgrade() -> None:
    bind = op.get_bind()
    citus = citus_installed(bind)
    with op.get_context().autocommit_block():
        bind.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATE_LOCK})")
        if bind.scalar(sa.text(f"SELECT to_regclass('{FILLED}')")) is None:
            _in_transaction(bind, lambda: _build(bind, citus))
        if not citus:
            _fill(bind, lambda step: _in_transaction(bind, step))
    # Back in Alembic's transaction, which also records the revision: the swap is atomic with it.
    if citus:
        # Offline on Citus: capture stays locked for writes from the fill to the swap.
        op.execute("LOCK TABLE capture IN SHARE MODE")
        _fill(bind, lambda step: step())
    started = time.monotonic()
    _swap(bind, citus)
    log.info("0009: swapped in %.2f s, committed with the revision", time.monotonic() - started)


def downgrade() -> None:
    """Offline, one transaction: right-closed pieces keyed by their end (`bucket`), rebuilt from
    the raw captures by frozen copies of the 0007-era statements; 0004's bucket function."""
    bind = op.get_bind()
    citus = citus_installed(bind)
    # Writers wait from here to the commit: a write after the rebuild's snapshot would be lost.
    op.execute("LOCK TABLE capture IN SHARE MODE")
    for name in PIECES:
        _create_pieces(name + SUFFIX, name, "bucket")
        if citus:
            op.execute(
                sa.text(
                    "SELECT create_distributed_table(:t, 'room_id', colocate_with => 'capture')"
                ).bindparams(t=name + SUFFIX)
            )
    bind.execute(
        sa.text(
            pieces_1h(
                "capture_rollup_1h" + SUFFIX, "capture c", "true", "bucket", "roomtemp_bucket"
            )
        )
    )
    bind.execute(
        sa.text(
            pieces_1d(
                "capture_rollup_1d" + SUFFIX,
                "capture_rollup_1h" + SUFFIX,
                "true",
                "bucket",
                "roomtemp_bucket",
            )
        )
    )
    _drop_and_rename("bucket")
    op.execute(END_FUNCTION_0004)
    op.execute("DROP FUNCTION roomtemp_bucket_start(timestamptz, interval)")
