"""The cost engine against hand-computed costs of the OCPI 2.2.1 spec's own tariff examples.

The independent engine named in issue 25, `ocpi-tariffs` 0.1.0 on PyPI, ships no code (its wheel
holds one empty `py.typed`), so each expected cost here is computed by hand from the spec's
text (mod_tariffs.asciidoc, 2.2.1): a price is excluding VAT per unit (kWh, hour, session), a
volume is billed rounded up to whole step sizes ("if type is TIME and step_size has a value of
300, then time will be billed in blocks of 5 minutes. If 6 minutes were used, 10 minutes (2
blocks of step_size) will be billed"), incl_vat = excl_vat x (1 + vat/100). Our rounding, to
the cent half up per dimension, is ours: the spec leaves it open.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpi_types.v2_2_1 import Tariff as OcpiTariff

from evsessions.ocpp.transactions import Tariff as SettingsTariff
from evsessions.tariffs import (
    TariffError,
    Usage,
    flat_rate,
    price,
    tariff_from_json,
)


def tariff(*components: dict[str, Any]) -> Any:
    return tariff_from_json(
        {"currency": "EUR", "elements": [{"price_components": list(components)}]}
    )[0]


ENERGY_025 = {"type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1}
"""The spec's "Simple Tariff example 0.25 euro per kWh"."""
START_FEE = {"type": "FLAT", "price": 0.50, "vat": 20.0, "step_size": 1}
HOURLY_2 = {"type": "TIME", "price": 2.00, "vat": 10.0, "step_size": 300}
"""The spec's "Tariff example 2.00 euro per hour", billed per 5 minutes."""
PARKING_5 = {"type": "PARKING_TIME", "price": 5.00, "vat": 20.0, "step_size": 300}

CASES = [
    # (what the case shows, components, usage (Wh, charging s, parking s), expected excl, incl)
    ("0.25/kWh, 10 kWh", [ENERGY_025], (10_000, 3600, 0), "2.50", "2.75"),
    ("0.25/kWh, 10.5 kWh: 2.625 rounds half up", [ENERGY_025], (10_500, 60, 0), "2.63", "2.89"),
    ("step 1 Wh: 1 Wh costs its share", [ENERGY_025], (1, 1, 0), "0.00", "0.00"),
    (
        "step 1,000 Wh: 10.2 kWh bills 11 kWh",
        [{**ENERGY_025, "step_size": 1000}],
        (10_200, 60, 0),
        "2.75",
        "3.03",
    ),
    ("2.00/h per 5 min: 6 min bills 10 min", [HOURLY_2], (0, 360, 0), "0.33", "0.37"),
    ("2.00/h per 5 min: exactly 5 min", [HOURLY_2], (0, 300, 0), "0.17", "0.18"),
    ("2.00/h per 5 min: 0 s bills nothing", [HOURLY_2], (0, 0, 0), "0.00", "0.00"),
    (
        "start fee + energy: VAT per component",
        [START_FEE, ENERGY_025],
        (20_000, 3600, 0),
        "5.50",
        "6.10",
    ),
    (
        "parking 5.00/h per 5 min: 30 min 1 s bills 35 min",
        [PARKING_5],
        (5_000, 3600, 1801),
        "2.92",
        "3.50",
    ),
    (
        "energy + time + parking + fee, all four dimensions",
        [START_FEE, ENERGY_025, HOURLY_2, PARKING_5],
        (12_345, 2700, 600),
        "5.92",
        "6.64",
    ),
    (
        "no VAT given: incl = excl",
        [{"type": "FLAT", "price": 1, "step_size": 1}],
        (0, 0, 0),
        "1",
        "1",
    ),
]


@pytest.mark.parametrize(
    ("components", "used", "excl", "incl"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_cost_agrees_with_the_hand_computed_spec_example(
    components: list[dict[str, Any]], used: tuple[int, int, int], excl: str, incl: str
) -> None:
    # GIVEN a tariff of these components, WHEN a session of this usage is priced
    priced = price(tariff(*components), Usage(Decimal(used[0]), used[1], used[2]))
    # THEN its total is what the spec's rules give, by hand
    assert (priced.total.excl_vat, priced.total.incl_vat) == (Decimal(excl), Decimal(incl))


def test_the_four_dimensions_are_kept_apart() -> None:
    priced = price(
        tariff(START_FEE, ENERGY_025, HOURLY_2, PARKING_5), Usage(Decimal(12_345), 2700, 600)
    )
    # 12.345 kWh x 0.25 = 3.08625; 45 min x 2.00/h = 1.50; 10 min x 5.00/h = 0.8333; fee 0.50
    assert priced.energy.excl_vat == Decimal("3.09")
    assert priced.time.excl_vat == Decimal("1.50")
    assert priced.parking.excl_vat == Decimal("0.83")
    assert priced.fixed.excl_vat == Decimal("0.50")
    assert priced.billed_parking_hours == Decimal(600) / 3600


def test_the_first_element_that_prices_a_dimension_prices_it() -> None:
    two = tariff_from_json(
        {
            "currency": "EUR",
            "elements": [
                {"price_components": [ENERGY_025]},
                {"price_components": [{**ENERGY_025, "price": 9}]},
            ],
        }
    )[0]
    assert price(two, Usage(Decimal(1000), 0)).energy.excl_vat == Decimal("0.25")


@given(
    cents=st.integers(0, 10_000),
    fee=st.integers(0, 100_000),
    wh=st.integers(0, 1_000_000),
)
def test_a_charger_without_tariff_costs_what_the_settings_cost_today(
    cents: int, fee: int, wh: int
) -> None:
    energy_kwh = Decimal(wh) / 1000
    today = SettingsTariff(cents, fee).cost_cents(energy_kwh)
    assert price(flat_rate(cents, fee, "EUR"), Usage(Decimal(wh), 60)).total.cents == today


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ([], "JSON object"),
        ({"currency": "eur", "elements": []}, "currency"),
        ({"currency": "EUR", "elements": []}, "elements"),
        ({"currency": "EUR", "elements": [{"price_components": []}]}, "price_components"),
        (
            {
                "currency": "EUR",
                "elements": [{"price_components": [{**ENERGY_025, "type": "KWH"}]}],
            },
            "type",
        ),
        (
            {"currency": "EUR", "elements": [{"price_components": [{**ENERGY_025, "price": -1}]}]},
            "price",
        ),
        (
            {
                "currency": "EUR",
                "elements": [{"price_components": [{**ENERGY_025, "price": 0.00001}]}],
            },
            "4 decimals",
        ),
        (
            {"currency": "EUR", "elements": [{"price_components": [{**ENERGY_025, "vat": 101}]}]},
            "vat",
        ),
        (
            {
                "currency": "EUR",
                "elements": [{"price_components": [{**ENERGY_025, "step_size": 0}]}],
            },
            "step_size",
        ),
        (
            {"currency": "EUR", "elements": [{"price_components": [ENERGY_025, ENERGY_025]}]},
            "at most once",
        ),
        (
            {
                "currency": "EUR",
                "elements": [
                    {"price_components": [ENERGY_025], "restrictions": {"start_time": "13:30"}}
                ],
            },
            "restrictions: not supported",
        ),
        (
            {"currency": "EUR", "elements": [{"price_components": [ENERGY_025]}], "id": "x"},
            "unknown",
        ),
    ],
)
def test_a_tariff_that_cannot_be_priced_is_refused_saying_what_to_fix(
    body: object, names: str
) -> None:
    with pytest.raises(TariffError, match=names):
        tariff_from_json(body)


def test_a_tariff_served_as_ocpi_loads_in_the_independent_model() -> None:
    from datetime import UTC, datetime

    from evsessions.dynamodb.tariffs import TariffVersion

    version = TariffVersion(
        "AC-STANDARD",
        datetime(2026, 12, 4, 12, tzinfo=UTC),
        tariff(START_FEE, ENERGY_025, HOURLY_2, PARKING_5),
        "2026-12-04T11:00:00.000Z",
    )
    served = version.ocpi_json("NO", "EVS")
    assert OcpiTariff.from_dict(served).to_dict() == served
