"""SQL for API tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db.tables import api_token

_COLUMNS = (
    api_token.c.public_id,
    api_token.c.name,
    api_token.c.scopes,
    api_token.c.created_at,
    api_token.c.revoked_at,
)


async def insert_token(
    conn: AsyncConnection, public_id: str, name: str, scopes: Sequence[str], token_hash: bytes
) -> Row[tuple[str, str, list[str], datetime, datetime | None]]:
    stmt = (
        insert(api_token)
        .values(public_id=public_id, name=name, scopes=list(scopes), token_hash=token_hash)
        .returning(*_COLUMNS)
    )
    return (await conn.execute(stmt)).one()


async def select_token_for_auth(
    conn: AsyncConnection, public_id: str
) -> Row[tuple[bytes, list[str], datetime | None, str]] | None:
    stmt = select(
        api_token.c.token_hash, api_token.c.scopes, api_token.c.revoked_at, api_token.c.name
    ).where(api_token.c.public_id == public_id)
    return (await conn.execute(stmt.execution_options(query_name="select api_token"))).first()


async def select_tokens(
    conn: AsyncConnection, *, include_revoked: bool
) -> Sequence[Row[tuple[str, str, list[str], datetime, datetime | None]]]:
    stmt = select(*_COLUMNS).order_by(api_token.c.created_at, api_token.c.id)
    if not include_revoked:
        stmt = stmt.where(api_token.c.revoked_at.is_(None))
    return (await conn.execute(stmt)).all()


async def revoke_token(
    conn: AsyncConnection, public_id: str
) -> Row[tuple[str, str, list[str], datetime, datetime | None]] | None:
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
