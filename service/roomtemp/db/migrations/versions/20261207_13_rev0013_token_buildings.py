"""Tokens scoped to buildings (issue 23): `api_token.building_scoped` and `api_token_building`.

A scoped token reaches only the buildings listed for it in `api_token_building`; an unscoped
token (the default, every token before this revision) reaches all. The flag is separate from
the list so that deleting a building (which cascades its rows here) narrows a scoped token and
never widens it to every building: a scoped token whose buildings are all gone reaches none.

Online: a column with a constant default (no table rewrite) and a new table; the foreign key
takes a brief SHARE ROW EXCLUSIVE on building, which ingest does not write. Reversible: the
downgrade drops both (scoped tokens then reach every building, so revoke them first). On Citus
it is a local table on the coordinator, like api_token.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE api_token ADD COLUMN building_scoped boolean NOT NULL DEFAULT false")
    op.execute(
        """
        CREATE TABLE api_token_building (
            token_id integer NOT NULL,
            building_id integer NOT NULL,
            CONSTRAINT pk_api_token_building PRIMARY KEY (token_id, building_id),
            CONSTRAINT fk_api_token_building_token_id_api_token
                FOREIGN KEY (token_id) REFERENCES api_token (id) ON DELETE CASCADE,
            CONSTRAINT fk_api_token_building_building_id_building
                FOREIGN KEY (building_id) REFERENCES building (id) ON DELETE CASCADE
        )
        """
    )
    op.execute("CREATE INDEX ix_api_token_building_building_id ON api_token_building (building_id)")


def downgrade() -> None:
    op.execute("DROP TABLE api_token_building")
    op.execute("ALTER TABLE api_token DROP COLUMN building_scoped")
