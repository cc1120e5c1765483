"""SQL that finds the sensor (and through its assignment the room) each capture belongs to, and
the side records ingest keeps about sensors: their latest status and the keys nobody registered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import arrays, driver, room_sensors

_SELECT_DEFAULTS = text(
    "SELECT s.default_room_id, s.sensor_type_id, s.id"
    " FROM unnest(CAST(:room_ids AS integer[]), CAST(:type_ids AS smallint[])) AS i(r, t)"
    " JOIN sensor s ON s.default_room_id = i.r AND s.sensor_type_id = i.t"
)
# Inserted in key order (one lock order across batches); a concurrent batch that created the same
# default sensor first makes ON CONFLICT skip it, and the select that follows sees its row (and
# its assignment, made in the same transaction) once that batch committed.
_INSERT_DEFAULTS = text(
    """
    WITH new AS (
        INSERT INTO sensor (sensor_type_id, default_room_id)
        SELECT i.t, i.r
        FROM unnest(CAST(:room_ids AS integer[]), CAST(:type_ids AS smallint[])) AS i(r, t)
        ORDER BY i.r, i.t
        ON CONFLICT (default_room_id, sensor_type_id) DO NOTHING
        RETURNING id, default_room_id
    )
    INSERT INTO sensor_assignment (sensor_id, valid_from, room_id)
    SELECT id, '-infinity', default_room_id FROM new
    """
)


# The single captures' common case in one round trip: rooms that exist, each with its default
# sensor of the type already made (reference tables only). Anything missing takes the general
# path (registry.resolve_rooms, then default_sensor_ids).
_DEFAULTS_BY_KEYS = text(
    "SELECT i.bkey, i.rkey, i.t, r.id, s.id"
    " FROM unnest(CAST(:bkeys AS text[]), CAST(:rkeys AS text[]), CAST(:type_ids AS smallint[]))"
    " AS i(bkey, rkey, t)"
    " JOIN building b ON b.key = i.bkey"
    " JOIN room r ON r.building_id = b.id AND r.key = i.rkey"
    " JOIN sensor s ON s.default_room_id = r.id AND s.sensor_type_id = i.t"
)


async def default_sensors_by_keys(
    conn: AsyncConnection, keys: Sequence[tuple[str, str, int]]
) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(room id, default sensor id) of the (building key, room key, sensor type id) triples
    whose room and default sensor exist; the others are left out."""
    unique = sorted(set(keys))
    if not unique:
        return {}
    rows = await driver.fetch_all(
        conn,
        _DEFAULTS_BY_KEYS,
        {
            "bkeys": [k[0] for k in unique],
            "rkeys": [k[1] for k in unique],
            "type_ids": arrays.int_literal(k[2] for k in unique),
        },
        name="select default sensors by keys",
    )
    return {(b, r, t): (room_id, sensor_id) for b, r, t, room_id, sensor_id in rows}


def _pair_params(pairs: Sequence[tuple[int, int]]) -> dict[str, str]:
    return {
        "room_ids": arrays.int_literal(p[0] for p in pairs),
        "type_ids": arrays.int_literal(p[1] for p in pairs),
    }


async def default_sensor_ids(
    conn: AsyncConnection, pairs: Sequence[tuple[int, int]], *, create: bool = True
) -> dict[tuple[int, int], int]:
    """Ids of the default sensors of these (room id, sensor type id) pairs; with `create`, the
    missing ones are created first, each with its ('-infinity', room) assignment."""
    unique = sorted(set(pairs))
    if not unique:
        return {}
    rows = await driver.fetch_all(
        conn, _SELECT_DEFAULTS, _pair_params(unique), name="select default sensors"
    )
    found = {(r, t): s for r, t, s in rows}
    missing = [p for p in unique if p not in found]
    if create and missing:
        await conn.execute(_INSERT_DEFAULTS, _pair_params(missing))
        made = {
            (r, t): s for r, t, s in await conn.execute(_SELECT_DEFAULTS, _pair_params(missing))
        }
        await room_sensors.record(conn, ((r, s) for (r, _), s in made.items()))
        found.update(made)
    return found


@dataclass(frozen=True)
class SensorRow:
    id: int
    sensor_type_key: str
    retired: bool


_SELECT_BY_KEY = text(
    "SELECT s.key, s.id, t.key, s.retired_at IS NOT NULL"
    " FROM sensor s JOIN sensor_type t ON t.id = s.sensor_type_id"
    " WHERE s.key = ANY(CAST(:keys AS text[]))"
)
# A default sensor's computed key "{building}/{room}/{sensor type}" (current keys).
_SELECT_DEFAULT_BY_PATH = text(
    "SELECT i.k, s.id, t.key, s.retired_at IS NOT NULL"
    " FROM unnest(CAST(:keys AS text[]), CAST(:bkeys AS text[]), CAST(:rkeys AS text[]),"
    "             CAST(:tkeys AS text[])) AS i(k, b, r, t)"
    " JOIN building b ON b.key = i.b"
    " JOIN room r ON r.building_id = b.id AND r.key = i.r"
    " JOIN sensor_type t ON t.key = i.t"
    " JOIN sensor s ON s.default_room_id = r.id AND s.sensor_type_id = t.id"
)


async def sensors_by_key(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, SensorRow]:
    """The sensors these keys name (registered keys, or default sensors' computed keys)."""
    found: dict[str, SensorRow] = {}
    plain = sorted({k for k in keys if "/" not in k})
    if plain:
        for key, sid, type_key, retired in await conn.execute(_SELECT_BY_KEY, {"keys": plain}):
            found[key] = SensorRow(sid, type_key, retired)
    paths = sorted({k for k in keys if k.count("/") == 2})
    if paths:
        parts = [p.split("/") for p in paths]
        rows = await conn.execute(
            _SELECT_DEFAULT_BY_PATH,
            {
                "keys": paths,
                "bkeys": [p[0] for p in parts],
                "rkeys": [p[1] for p in parts],
                "tkeys": [p[2] for p in parts],
            },
        )
        for key, sid, type_key, retired in rows:
            found[key] = SensorRow(sid, type_key, retired)
    return found


# The room each (sensor, ts) is assigned to: the assignment with the greatest valid_from <= ts.
_SELECT_ROOMS_AT = text(
    f"""
    SELECT i.n, a.room_id
    FROM unnest(CAST(:sensor_ids AS integer[]), CAST(:ts AS bigint[]))
         WITH ORDINALITY AS i(sensor_id, us, n)
    CROSS JOIN LATERAL (
        SELECT sa.room_id FROM sensor_assignment sa
        WHERE sa.sensor_id = i.sensor_id AND sa.valid_from <= {arrays.timestamptz_of_micros("i.us")}
        ORDER BY sa.valid_from DESC LIMIT 1
    ) AS a
    """  # noqa: S608 - fixed fragments; values are bound
)


async def rooms_at(
    conn: AsyncConnection, sensor_ids: Sequence[int], ts: Sequence[datetime]
) -> list[int | None]:
    """For each (sensor, ts) the room the sensor was assigned to at ts (None: not assigned)."""
    result: list[int | None] = [None] * len(sensor_ids)
    if sensor_ids:
        rows = await conn.execute(
            _SELECT_ROOMS_AT,
            {"sensor_ids": arrays.int_literal(sensor_ids), "ts": arrays.micros_literal(ts)},
        )
        for n, room_id in rows:
            result[n - 1] = room_id
    return result


# Only a newer report replaces the stored one (captures may arrive out of order).
_UPSERT_STATUS = text(
    f"""
    INSERT INTO sensor_status (sensor_id, reported_at, battery, signal)
    SELECT i.sensor_id, {arrays.timestamptz_of_micros("i.us")}, i.battery, i.signal
    FROM unnest(CAST(:sensor_ids AS integer[]), CAST(:ts AS bigint[]),
                CAST(:battery AS double precision[]), CAST(:signal AS double precision[]))
         AS i(sensor_id, us, battery, signal)
    ORDER BY i.sensor_id
    ON CONFLICT (sensor_id) DO UPDATE
    SET reported_at = EXCLUDED.reported_at, battery = EXCLUDED.battery, signal = EXCLUDED.signal
    WHERE sensor_status.reported_at < EXCLUDED.reported_at
    """  # noqa: S608 - fixed fragments; values are bound
)

StatusReport = tuple[int, datetime, float | None, float | None]  # sensor id, ts, battery, signal


async def building_keys_of_rooms(conn: AsyncConnection, room_ids: Sequence[int]) -> set[str]:
    """The keys of the buildings these rooms are in."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT b.key FROM room r JOIN building b ON b.id = r.building_id"
            " WHERE r.id = ANY(CAST(:ids AS integer[]))"
        ),
        {"ids": sorted(set(room_ids))},
    )
    return {k for (k,) in rows}


def _nullable_floats(values: Sequence[float | None]) -> str:
    return "{" + ",".join("NULL" if v is None else repr(v) for v in values) + "}"


async def upsert_status(conn: AsyncConnection, reports: Sequence[StatusReport]) -> None:
    """Keep each sensor's newest (by capture ts) battery and signal; one report per sensor."""
    if reports:
        await conn.execute(
            _UPSERT_STATUS,
            {
                "sensor_ids": arrays.int_literal(r[0] for r in reports),
                "ts": arrays.micros_literal(r[1] for r in reports),
                "battery": _nullable_floats([r[2] for r in reports]),
                "signal": _nullable_floats([r[3] for r in reports]),
            },
        )


_UPSERT_UNKNOWN = text(
    "INSERT INTO unknown_sensor AS u (key, first_seen, last_seen, refused)"
    " SELECT i.k, :now, :now, i.n"
    " FROM unnest(CAST(:keys AS text[]), CAST(:counts AS bigint[])) AS i(k, n) ORDER BY i.k"
    " ON CONFLICT (key) DO UPDATE"
    " SET last_seen = GREATEST(u.last_seen, EXCLUDED.last_seen),"
    "     refused = u.refused + EXCLUDED.refused"
)


async def record_unknown(conn: AsyncConnection, refused: dict[str, int], now: datetime) -> None:
    """Count captures refused per unknown key (first and last seen at `now`)."""
    keys = sorted(refused)
    if keys:
        await conn.execute(
            _UPSERT_UNKNOWN,
            {"keys": keys, "counts": arrays.int_literal(refused[k] for k in keys), "now": now},
        )
