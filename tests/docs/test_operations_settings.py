"""docs/operations.md's configuration table lists every setting with its real default."""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import PydanticUndefined

from roomtemp.settings import Settings
from tests.docs.docs_support import ROOT

OPERATIONS = ROOT / "docs" / "operations.md"


def documented_settings() -> dict[str, str]:
    """Rows of the configuration table: `NAME` → the first code span of its default cell."""
    section = OPERATIONS.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    rows: dict[str, str] = {}
    for line in section.split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0]) if len(cells) >= 3 else None
        if name:
            default = re.match(r"`([^`]*)`", cells[1])
            rows[name.group(1)] = default.group(1) if default else cells[1]
    return rows


def rendered_default(field: Any) -> str:
    value = field.default_factory() if field.default is PydanticUndefined else field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[]" if not value else ",".join(map(str, value))
    return str(value)


def test_every_setting_is_documented_with_its_default() -> None:
    documented = documented_settings()
    expected = {name.upper(): rendered_default(f) for name, f in Settings.model_fields.items()}
    assert sorted(set(expected) - set(documented)) == [], "settings missing from the table"
    assert sorted(set(documented) - set(expected)) == [], "rows for settings that do not exist"
    wrong = {k: (documented[k], v) for k, v in expected.items() if documented[k] != v}
    assert wrong == {}, "(documented, real) defaults"
