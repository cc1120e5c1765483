"""Live updates: the sequence that numbers the events every write announces (issue 17).

Each transaction that stores captures sends `pg_notify('roomtemp_captures', …)` with a number
from this sequence; the API replicas LISTEN and push Server-Sent Events whose ids are these
numbers, so a client that reconnects to another replica resumes with the same `Last-Event-ID`.
A sequence, not a counter row: nextval never waits for another transaction and is not rolled
back (a number of a rolled-back write is simply never seen; ids have gaps, they only grow).

Online: creating a sequence takes no lock on any table, and pods of the previous version never
touch it (they write without announcing; their captures reach streams at the next refresh).
Reversible: the downgrade drops it (pods of this version then fail their writes, so downgrade
after rolling back the pods).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # bigint and no cycle: at a million events per second it lasts 290,000 years.
    op.execute("CREATE SEQUENCE live_event_seq AS bigint NO CYCLE")


def downgrade() -> None:
    op.execute("DROP SEQUENCE live_event_seq")
