"""Migration files loaded as modules, for the tests of their own functions (alembic loads them
by path, so they are not importable by name)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from roomtemp.db import migrate


def migration_file(name: str) -> Path:
    """The file of revision `name`: "0015_citus_tables" is versions/*_rev0015_citus_tables.py."""
    return next(migrate.MIGRATIONS_DIR.glob(f"versions/*_rev{name}.py"))


def load_migration(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
