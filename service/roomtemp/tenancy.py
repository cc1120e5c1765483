"""The buildings a caller may reach (a token scoped to buildings, issue 23), as a plain value.

Features take a `BuildingScope` and filter by it; they never see tokens. Outside its buildings
a read answers exactly as for a building that does not exist (404, the registry's message), so
a scoped token cannot learn which other buildings exist; a write is refused (403).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from roomtemp.errors import Forbidden, NotFound


def unknown_building(key: str) -> NotFound:
    """The one answer for a building that does not exist (registry, averages, reports, …)."""
    return NotFound(f"building {key!r} does not exist")


@dataclass(frozen=True)
class BuildingScope:
    """`keys`: the building keys reachable; None: every building (an unscoped token, or
    authentication off)."""

    keys: frozenset[str] | None = None

    @property
    def unlimited(self) -> bool:
        return self.keys is None

    def allows(self, building: str) -> bool:
        return self.keys is None or building in self.keys

    def check_read(self, building: str) -> None:
        """NotFound, as for a building that does not exist, when `building` is outside."""
        if not self.allows(building):
            raise unknown_building(building)

    def check_write(self, buildings: Iterable[str]) -> None:
        """Forbidden when any of `buildings` is outside."""
        outside = sorted({b for b in buildings if not self.allows(b)})
        if outside:
            raise Forbidden(
                "this token is not allowed to write to building(s) " + ", ".join(map(repr, outside))
            )

    def check_unlimited(self, what: str) -> None:
        """Forbidden for a scoped token: `what` concerns every building."""
        if self.keys is not None:
            raise Forbidden(f"{what} needs a token that is not limited to buildings")

    def sql_keys(self) -> list[str] | None:
        """The keys as a bound list for a WHERE … IN / = ANY filter; None: no filter."""
        return None if self.keys is None else sorted(self.keys)


EVERY_BUILDING = BuildingScope()
