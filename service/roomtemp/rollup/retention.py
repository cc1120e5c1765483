"""What is kept where: the horizons before which raw captures and each rollup level were dropped
(`roomtemp maintain`, partitions/), and what resolution a range of buckets can be answered at.

Before the raw horizon only the rollups are left. A bucket series or report period there is
exact when it is a union of whole pieces: its edges on whole UTC hours (1-hour pieces), or on UTC
midnights where only the 1-day pieces are kept. Anything finer is refused with the finest step
that is kept, never answered from part of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from roomtemp.errors import ErrorDetail, InvalidInput

#: The resolution of an answer: from raw captures, or from 1-hour or 1-day pieces only.
RAW, HOURS, DAYS = "raw", "1h", "1d"


@dataclass(frozen=True)
class Horizons:
    """Per level, the instant before which its data was dropped (None: nothing dropped)."""

    raw: datetime | None = None
    m15: datetime | None = None
    h1: datetime | None = None
    d1: datetime | None = None

    @classmethod
    def of(cls, stored: dict[str, datetime]) -> Horizons:
        return cls(stored.get("raw"), stored.get("15m"), stored.get("1h"), stored.get("1d"))

    def raw_gone(self, start: datetime) -> bool:
        """Whether raw captures from `start` on are partly gone."""
        return self.raw is not None and start < self.raw


def _on_hour(t: datetime) -> bool:
    return t.minute == 0 and t.second == 0 and t.microsecond == 0 and t.utcoffset() is not None


def _on_utc_midnight(t: datetime) -> bool:
    return _on_hour(t) and t.astimezone(UTC).hour == 0


def refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"invalid parameter {field!r}: {message}",
        [ErrorDetail(message, field, code="resolution_unavailable")],
    )


def resolution(edges: list[datetime], horizons: Horizons, *, field: str = "step") -> str:
    """The resolution the buckets between `edges` (UTC, ascending) can be answered at exactly:
    RAW when raw captures are kept over all of them, else HOURS or DAYS (pieces only before the
    raw horizon). Refuses (InvalidInput on `field`, code resolution_unavailable) a range
    reaching before the 1-day horizon and edges finer than the pieces kept where they lie."""
    start = edges[0]
    if not horizons.raw_gone(start):
        return RAW
    raw = horizons.raw
    assert raw is not None
    if horizons.d1 is not None and start < horizons.d1:
        raise refuse(
            "from",
            f"no data is kept before {horizons.d1.isoformat()} (retention); start at or after it",
        )
    hours_from = horizons.h1
    if hours_from is not None and start < hours_from:
        if any(not _on_utc_midnight(e) for e in edges if e <= hours_from):
            raise refuse(
                field,
                f"raw captures are kept from {raw.isoformat()} and 1-hour rollups from "
                f"{hours_from.isoformat()}; before that the finest step is 1 day, on UTC days: "
                "use step=1d with tz=UTC (or a start at or after "
                f"{hours_from.isoformat()})",
            )
        return DAYS
    if any(not _on_hour(e) for e in edges if e <= raw):
        raise refuse(
            field,
            f"raw captures are kept from {raw.isoformat()}; before that the finest step is "
            "1 hour, on whole UTC hours: use step=1h or coarser (in a zone whose offset is a "
            f"whole number of hours), or a start at or after {raw.isoformat()}",
        )
    return HOURS


def require_raw(start: datetime, horizons: Horizons, *, what: str, field: str = "from") -> None:
    """Refuse (InvalidInput on `field`) a computation that needs raw captures from `start` on."""
    if horizons.raw_gone(start):
        assert horizons.raw is not None
        raise refuse(
            field,
            f"{what} needs raw captures, kept from {horizons.raw.isoformat()} (retention); "
            "for earlier ranges ask bucket mode (step=1h or coarser), answered from the rollups",
        )
