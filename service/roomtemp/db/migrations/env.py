"""Alembic environment: runs migrations on the URL handed over by roomtemp.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from roomtemp.db.tables import metadata

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the migrations")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            # One migration run at a time, even when several Jobs or pods start together.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274001)")
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
