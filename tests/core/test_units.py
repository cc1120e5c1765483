import math

import pytest

from roomtemp import units


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("K", "kelvin"),
        ("kelvin", "kelvin"),
        ("°C", "celsius"),
        ("C", "celsius"),
        ("Celsius", "celsius"),
        ("°F", "fahrenheit"),
        ("F", "fahrenheit"),
        ("fahrenheit", "fahrenheit"),
        ("percent", "percent"),
    ],
)
def test_aliases(alias: str, canonical: str) -> None:
    assert units.normalise(alias) == canonical


@pytest.mark.parametrize(
    ("value", "unit", "kelvin"),
    [(0.0, "celsius", 273.15), (32.0, "fahrenheit", 273.15), (212.0, "fahrenheit", 373.15)],
)
def test_to_kelvin(value: float, unit: str, kelvin: float) -> None:
    assert math.isclose(units.to_kelvin(value, unit), kelvin)
    assert math.isclose(units.from_kelvin(kelvin, unit), value)


def test_round_trip_between_all_temperature_units() -> None:
    for a in units.TEMPERATURE_UNITS:
        for b in units.TEMPERATURE_UNITS:
            assert math.isclose(units.convert(units.convert(21.5, a, b), b, a), 21.5)


def test_non_temperature_units_do_not_convert() -> None:
    assert units.convert(40.0, "percent", "percent") == 40.0
    with pytest.raises(units.UnitError):
        units.convert(40.0, "percent", "kelvin")
    with pytest.raises(units.UnitError):
        units.convert(40.0, "celsius", "percent")
