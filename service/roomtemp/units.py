"""Units of measurement: spellings, and conversion between temperature units."""

from __future__ import annotations

KELVIN = "kelvin"
CELSIUS = "celsius"
FAHRENHEIT = "fahrenheit"
TEMPERATURE_UNITS = (KELVIN, CELSIUS, FAHRENHEIT)
_C_OFFSET = 273.15

_ALIASES = {
    "kelvin": KELVIN,
    "k": KELVIN,
    "celsius": CELSIUS,
    "°c": CELSIUS,
    "c": CELSIUS,
    "fahrenheit": FAHRENHEIT,
    "°f": FAHRENHEIT,
    "f": FAHRENHEIT,
}


class UnitError(ValueError):
    """A unit that does not exist or cannot be converted to the one asked for."""


def normalise(unit: str) -> str:
    """The canonical spelling: temperature aliases map to kelvin/celsius/fahrenheit, others stay."""
    stripped = unit.strip()
    return _ALIASES.get(stripped.casefold(), stripped)


def to_kelvin(value: float, unit: str) -> float:
    if unit == KELVIN:
        return value
    if unit == CELSIUS:
        return value + _C_OFFSET
    if unit == FAHRENHEIT:
        return (value - 32.0) * 5.0 / 9.0 + _C_OFFSET
    raise UnitError(f"{unit!r} is not a temperature unit")


def from_kelvin(value: float, unit: str) -> float:
    if unit == KELVIN:
        return value
    if unit == CELSIUS:
        return value - _C_OFFSET
    if unit == FAHRENHEIT:
        return (value - _C_OFFSET) * 9.0 / 5.0 + 32.0
    raise UnitError(f"{unit!r} is not a temperature unit")


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert between two canonical unit spellings; identical units always pass through."""
    if from_unit == to_unit:
        return value
    if from_unit in TEMPERATURE_UNITS and to_unit in TEMPERATURE_UNITS:
        return from_kelvin(to_kelvin(value, from_unit), to_unit)
    raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r}")


# Converting rounds: -60 °C is 213.14999999999998 K, not 213.15, and -459.67 °F is a hair below
# 0 K. Bounds (a sensor type's plausible range, absolute zero) are inclusive in every unit, so
# comparisons allow a few units in the last place of the bound; far below any sensor's resolution.
_RELATIVE_SLACK = 1e-12


def _slack(bound: float) -> float:
    return _RELATIVE_SLACK * max(1.0, abs(bound))


def within(value: float, low: float, high: float) -> bool:
    """low <= value <= high, both bounds inclusive up to the rounding of a unit conversion."""
    return low - _slack(low) <= value <= high + _slack(high)


def below_absolute_zero(value: float, unit: str) -> bool:
    """True for a temperature below 0 K (beyond conversion rounding); False for other units."""
    if unit not in TEMPERATURE_UNITS:
        return False
    return to_kelvin(value, unit) < -_slack(0.0)  # the bound is 0 K
