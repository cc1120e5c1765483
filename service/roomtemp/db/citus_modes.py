"""Citus' sequential modify mode, for transactions that modify a reference table after a
multi-shard statement (a read or a write).

Citus refuses such a write ("cannot modify table ... because there was a parallel operation on a
distributed table", or ends in a distributed deadlock) unless the transaction uses one connection
per node, as its own hint says: `SET LOCAL citus.multi_shard_modify_mode TO 'sequential'`, before
the transaction's first multi-shard statement. On plain PostgreSQL `citus.*` is an unknown custom
setting, which SET LOCAL accepts as a placeholder and ignores: one text for both engines.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_SEQUENTIAL = text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")


async def one_connection_per_node(conn: AsyncConnection) -> None:
    """Until the transaction ends, run multi-shard statements over one connection per node."""
    await conn.execute(_SEQUENTIAL)
