"""DEFAULT_TIME_ZONE: an IANA name, checked when the settings are built (start-up)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.conftest import make_settings


def test_default_is_utc() -> None:
    assert make_settings().default_time_zone == "UTC"


def test_an_iana_name_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_TIME_ZONE", "Europe/Zurich")
    assert make_settings().default_time_zone == "Europe/Zurich"


@pytest.mark.parametrize("bad", ["Europe/Zurik", "CET-1CEST", "/etc/localtime", "", "utc"])
def test_anything_else_stops_start_up(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("DEFAULT_TIME_ZONE", bad)
    with pytest.raises(ValidationError, match="IANA time zone"):
        make_settings()
