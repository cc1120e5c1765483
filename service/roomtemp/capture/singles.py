"""Single-capture requests stored many to a transaction (the batcher's path), each judged as if
posted alone."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.capture import queries, rules, sensor_queries, service
from roomtemp.capture.rules import IngestCounts, IngestPolicy
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.registry import service as registry


async def ingest_each(
    conn: AsyncConnection, requests: Sequence[service.SingleCapture], policy: IngestPolicy
) -> list[IngestCounts | InvalidInput]:
    """Store many single-capture requests in one transaction, each judged on its own.

    The answer for each request is what posting it alone, in this order, would have given: an
    invalid capture gets its own InvalidInput and stores nothing, the others are stored; a key
    posted twice counts against the earlier request's value.

    Only the building/room form comes here; the sensor form goes through `ingest`.
    """
    sensor_types = await registry.sensor_types_by_key(
        conn, sorted({r.item.sensor_type for r in requests})
    )
    outcome: list[IngestCounts | InvalidInput | None] = [None] * len(requests)
    values: list[float | None] = []
    for n, r in enumerate(requests):
        problems: list[ErrorDetail] = []
        value = rules.check_item(
            r.item,
            type_key=r.item.sensor_type,
            index=None,
            sensor_types=sensor_types,
            latest=r.now + policy.max_future_skew,
            policy=policy,
            problems=problems,
        )
        values.append(None if problems else value)
        if problems:
            outcome[n] = rules.rejected(problems, 1)
    wanted = [
        (r.item.building, r.item.room, sensor_types[r.item.sensor_type].id)
        for r, v in zip(requests, values, strict=True)
        if v is not None
    ]
    known = await sensor_queries.default_sensors_by_keys(conn, wanted)
    found: registry.RoomIds | None = None
    if len(known) == len(set(wanted)):  # the common case: every room and sensor exists
        rooms = {(b, r): ids[0] for (b, r, _), ids in known.items()}
        sensors = {(ids[0], t): ids[1] for (_, _, t), ids in known.items()}
    else:
        found = await registry.resolve_rooms(
            conn, [(b, r) for b, r, _ in wanted], auto_register=policy.auto_register
        )
        rooms = found.ids
        sensors = await sensor_queries.default_sensor_ids(
            conn, [(rooms[(b, r)], t) for b, r, t in wanted if (b, r) in rooms]
        )
    final: dict[queries.CaptureKey, float] = {}
    order: list[tuple[int, queries.CaptureKey, float]] = []
    for n, (r, value) in enumerate(zip(requests, values, strict=True)):
        if value is None:
            continue
        room_id = rooms.get((r.item.building, r.item.room))
        if room_id is None:
            assert found is not None  # only the general path leaves rooms out
            outcome[n] = rules.rejected([found.missing(r.item.building, r.item.room)], 1)
            continue
        key = (room_id, sensors[(room_id, sensor_types[r.item.sensor_type].id)], r.item.ts)
        final[key] = value
        order.append((n, key, value))
    before = dict(await service.store_final(conn, final)) if final else {}
    for n, key, value in order:
        old = before.get(key)
        if old is None:
            outcome[n] = IngestCounts(1, 0, 0)
        elif old == value:
            outcome[n] = IngestCounts(0, 1, 0)
        else:
            outcome[n] = IngestCounts(0, 0, 1)
        before[key] = value
    done = [o for o in outcome if o is not None]
    assert len(done) == len(requests)
    return done
