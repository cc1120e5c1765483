"""SQL for API tokens and the buildings of scoped tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import driver
from roomtemp.db.tables import api_token, api_token_building, building

#: A scoped token's building keys, sorted; an empty array for an unscoped token.
_BUILDING_KEYS = (
    func.array(
        select(building.c.key)
        .join(api_token_building, api_token_building.c.building_id == building.c.id)
        .where(api_token_building.c.token_id == api_token.c.id)
        .order_by(building.c.key)
        .scalar_subquery()
    )
).label("buildings")

_COLUMNS = (
    api_token.c.public_id,
    api_token.c.name,
    api_token.c.scopes,
    api_token.c.created_at,
    api_token.c.revoked_at,
    api_token.c.building_scoped,
    _BUILDING_KEYS,
)
TokenRow = Row[tuple[str, str, list[str], datetime, datetime | None, bool, list[str]]]


async def select_building_ids(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, int]:
    """The ids of the buildings among `keys` that exist."""
    stmt = select(building.c.key, building.c.id).where(building.c.key.in_(list(keys)))
    return {k: i for k, i in (await conn.execute(stmt)).all()}


async def insert_token(
    conn: AsyncConnection,
    public_id: str,
    name: str,
    scopes: Sequence[str],
    token_hash: bytes,
    building_ids: Sequence[int] | None,
) -> TokenRow:
    """A new token; `building_ids` None: it reaches every building."""
    values: dict[str, Any] = {
        "public_id": public_id,
        "name": name,
        "scopes": list(scopes),
        "token_hash": token_hash,
        "building_scoped": building_ids is not None,
    }
    token_id = (
        await conn.execute(insert(api_token).values(**values).returning(api_token.c.id))
    ).scalar_one()
    if building_ids:
        await conn.execute(
            insert(api_token_building),
            [{"token_id": token_id, "building_id": b} for b in building_ids],
        )
    stmt = select(*_COLUMNS).where(api_token.c.id == token_id)
    return (await conn.execute(stmt)).one()


# Run before every authenticated request: text on the driver (db/driver.py says why).
_TOKEN_FOR_AUTH = text(
    """
    SELECT t.token_hash, t.scopes, t.revoked_at, t.name, t.building_scoped,
           ARRAY(SELECT b.key FROM api_token_building tb JOIN building b ON b.id = tb.building_id
                 WHERE tb.token_id = t.id ORDER BY b.key)
    FROM api_token t WHERE t.public_id = :public_id
    """
)


async def select_token_for_auth(
    conn: AsyncConnection, public_id: str
) -> tuple[bytes, list[str], datetime | None, str, bool, list[str]] | None:
    """A token's hash, scopes, revocation, name and (scoped tokens) sorted building keys."""
    row = await driver.fetch_one(
        conn, _TOKEN_FOR_AUTH, {"public_id": public_id}, name="select api_token"
    )
    return None if row is None else (row[0], row[1], row[2], row[3], row[4], row[5])


async def select_tokens(conn: AsyncConnection, *, include_revoked: bool) -> Sequence[TokenRow]:
    stmt = select(*_COLUMNS).order_by(api_token.c.created_at, api_token.c.id)
    if not include_revoked:
        stmt = stmt.where(api_token.c.revoked_at.is_(None))
    return (await conn.execute(stmt)).all()


async def revoke_token(conn: AsyncConnection, public_id: str) -> TokenRow | None:
    """Set revoked_at (kept if already revoked); None when there is no such token."""
    # Only an unrevoked token is updated; an already revoked one is read as it is. Not one
    # UPDATE with coalesce(revoked_at, now()): on Citus (api_token is a reference table) a
    # modification refuses non-immutable functions inside COALESCE.
    stmt = (
        update(api_token)
        .where(api_token.c.public_id == public_id, api_token.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(*_COLUMNS)
    )
    row = (await conn.execute(stmt)).first()
    if row is None:
        row = (
            await conn.execute(select(*_COLUMNS).where(api_token.c.public_id == public_id))
        ).first()
    return row
