"""BuildingScope: what a token limited to buildings reaches, and how it answers outside."""

from __future__ import annotations

import pytest

from roomtemp.errors import Forbidden, NotFound
from roomtemp.tenancy import EVERY_BUILDING, BuildingScope, unknown_building


def test_every_building_allows_all_and_filters_nothing() -> None:
    assert EVERY_BUILDING.unlimited
    assert EVERY_BUILDING.allows("anything")
    assert EVERY_BUILDING.sql_keys() is None
    EVERY_BUILDING.check_read("x")
    EVERY_BUILDING.check_write(["x", "y"])
    EVERY_BUILDING.check_unlimited("GET /v1/tokens")


def test_a_limited_scope_reads_as_unknown_and_refuses_writes_outside() -> None:
    scope = BuildingScope(frozenset({"hq", "annex"}))
    assert not scope.unlimited
    assert scope.sql_keys() == ["annex", "hq"]
    scope.check_read("hq")
    scope.check_write(["hq", "annex", "hq"])
    with pytest.raises(NotFound) as hidden:
        scope.check_read("lab")
    assert (
        hidden.value.message == unknown_building("lab").message == "building 'lab' does not exist"
    )
    with pytest.raises(Forbidden, match="'lab', 'z'") as refused:
        scope.check_write(["z", "hq", "lab"])
    assert refused.value.code == "forbidden"
    with pytest.raises(Forbidden, match="not limited to buildings"):
        scope.check_unlimited("GET /v1/tokens")


def test_a_scope_whose_buildings_are_all_gone_reaches_none() -> None:
    empty = BuildingScope(frozenset())
    assert not empty.unlimited
    assert not empty.allows("hq")
    assert empty.sql_keys() == []
