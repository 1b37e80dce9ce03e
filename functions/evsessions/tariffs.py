"""Tariffs as data: an OCPI 2.2.1 Tariff (currency, elements of price components), what an
operator's JSON must be to become one, and what a session costs under it.

Pure: no I/O. The DynamoDB adapter, which keeps a tariff as versions from a start time, is
`dynamodb.tariffs`. Prices are excluding VAT, in the currency's units (EUR, not cents), as OCPI
says; `vat` is a percentage per component. Supported: the four dimensions ENERGY (per kWh), TIME
(per hour charging), PARKING_TIME (per hour plugged in but not charging) and FLAT (per session),
VAT, and step sizes. Not supported: `restrictions` (time of day, day of week, kWh or power
bands): a tariff with them is refused, not priced wrongly; a change at a time is a new version
instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any, Literal

Dimension = Literal["ENERGY", "FLAT", "TIME", "PARKING_TIME"]
DIMENSIONS: tuple[Dimension, ...] = ("ENERGY", "FLAT", "TIME", "PARKING_TIME")
MAX_PRICE = Decimal(10_000)
"""The most one unit may cost (10,000 currency units a kWh, an hour, a session): above it the
number is a typo, not a price."""
MAX_STEP_SIZE = 86_400
"""The largest step: a day of seconds (or 86.4 kWh of Wh)."""
MAX_ELEMENTS = 20
CENT = Decimal("0.01")
_CURRENCY = re.compile(r"[A-Z]{3}")
_TARIFF_ID = re.compile(r"[A-Za-z0-9._-]{1,36}")
_TARIFF_FIELDS = {"currency", "elements", "start_date_time"}


class TariffError(ValueError):
    """A tariff an operator sent that is not one we can price (the message says what to fix)."""


def valid_tariff_id(tariff_id: object) -> bool:
    """OCPI's Tariff.id is a CiString(36); ours is also a DynamoDB key part and a URL segment."""
    return isinstance(tariff_id, str) and bool(_TARIFF_ID.fullmatch(tariff_id))


@dataclass(frozen=True)
class PriceComponent:
    type: Dimension
    price: Decimal
    """Excluding VAT, per unit: per kWh, per hour, per session."""
    step_size: int
    """Billed in blocks of this many Wh (ENERGY) or seconds (TIME, PARKING_TIME)."""
    vat: Decimal | None = None
    """Percent; None when the price carries no VAT information (OCPI: then VAT is unknown and
    incl_vat equals excl_vat)."""

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "type": self.type,
            "price": _number(self.price),
            "step_size": self.step_size,
        }
        if self.vat is not None:
            found["vat"] = _number(self.vat)
        return found


@dataclass(frozen=True)
class Tariff:
    currency: str
    elements: tuple[tuple[PriceComponent, ...], ...]
    """Each element's price components; the first element that prices a dimension prices it."""

    def component(self, dimension: Dimension) -> PriceComponent | None:
        for element in self.elements:
            for component in element:
                if component.type == dimension:
                    return component
        return None

    def elements_json(self) -> list[dict[str, Any]]:
        return [{"price_components": [c.as_json() for c in element]} for element in self.elements]


@dataclass(frozen=True)
class Usage:
    """What a session used, in the units a tariff's step sizes count."""

    energy_wh: Decimal
    charging_seconds: int
    parking_seconds: int = 0


@dataclass(frozen=True)
class Cost:
    excl_vat: Decimal
    incl_vat: Decimal

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.excl_vat + other.excl_vat, self.incl_vat + other.incl_vat)

    def negated(self) -> Cost:
        return Cost(-self.excl_vat, -self.incl_vat)

    def as_json(self) -> dict[str, Any]:
        """An OCPI Price object."""
        return {"excl_vat": _number(self.excl_vat), "incl_vat": _number(self.incl_vat)}

    @property
    def cents(self) -> int:
        """What the driver pays, in cents: the session contract's `session_cost_in_cents`."""
        return int((self.incl_vat * 100).quantize(Decimal(1), ROUND_HALF_UP))


ZERO = Cost(Decimal(0), Decimal(0))


@dataclass(frozen=True)
class Priced:
    """A session's cost by dimension and in total (the sum of the dimensions), each rounded to
    the cent, and the volumes billed once rounded up to the step sizes."""

    energy: Cost
    time: Cost
    parking: Cost
    fixed: Cost
    billed_energy_kwh: Decimal
    billed_charging_hours: Decimal
    billed_parking_hours: Decimal

    @property
    def total(self) -> Cost:
        return self.energy + self.time + self.parking + self.fixed


def _stepped(volume: Decimal, step: int) -> Decimal:
    """Rounded up to whole steps: 6 minutes at a 300 s step bill 10 minutes (OCPI 2.2.1)."""
    if volume <= 0:
        return Decimal(0)
    return (volume / step).to_integral_value(ROUND_CEILING) * step


def _cost(component: PriceComponent | None, volume: Decimal) -> Cost:
    if component is None or volume <= 0:
        return ZERO
    excl = component.price * volume
    incl = excl * (1 + (component.vat or 0) / Decimal(100))
    return Cost(excl.quantize(CENT, ROUND_HALF_UP), incl.quantize(CENT, ROUND_HALF_UP))


def price(tariff: Tariff, usage: Usage) -> Priced:
    """The cost of one session under one tariff version. Each dimension's volume is rounded up
    to its component's step size, priced, taxed, and rounded to the cent (half up)."""
    energy, time, parking = (
        tariff.component("ENERGY"),
        tariff.component("TIME"),
        tariff.component("PARKING_TIME"),
    )
    energy_wh = _stepped(usage.energy_wh, energy.step_size) if energy else usage.energy_wh
    charging = _stepped(Decimal(usage.charging_seconds), time.step_size if time else 1)
    parking_s = _stepped(Decimal(usage.parking_seconds), parking.step_size if parking else 1)
    kwh, hours, parking_hours = energy_wh / 1000, charging / 3600, parking_s / 3600
    return Priced(
        energy=_cost(energy, kwh),
        time=_cost(time, hours),
        parking=_cost(parking, parking_hours),
        fixed=_cost(tariff.component("FLAT"), Decimal(1)),
        billed_energy_kwh=kwh,
        billed_charging_hours=hours,
        billed_parking_hours=parking_hours,
    )


def flat_rate(cents_per_kwh: int, session_fee_cents: int, currency: str) -> Tariff:
    """Today's settings as a tariff (no VAT information, steps of 1): what a charger with no
    registry record or no tariff is billed with."""
    return Tariff(
        currency,
        (
            (
                PriceComponent("ENERGY", Decimal(cents_per_kwh) / 100, 1),
                PriceComponent("FLAT", Decimal(session_fee_cents) / 100, 1),
            ),
        ),
    )


# --- an operator's JSON -------------------------------------------------------------------------


def tariff_from_json(body: object) -> tuple[Tariff, object]:
    """(the tariff, the start_date_time as sent or None) from `{"currency": "EUR", "elements":
    [{"price_components": [...]}], "start_date_time": ...}`; a TariffError names the first
    field that is wrong."""
    if not isinstance(body, Mapping):
        raise TariffError("the body must be a JSON object")
    unknown = sorted(set(body) - _TARIFF_FIELDS)
    if unknown:
        raise TariffError(
            f"unknown field {unknown[0][:40]!r}; a tariff has {', '.join(sorted(_TARIFF_FIELDS))}"
        )
    currency = body.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise TariffError("currency: ISO 4217, three upper-case letters (EUR, NOK, ...)")
    elements = body.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ELEMENTS:
        raise TariffError(f"elements: a list of 1 to {MAX_ELEMENTS} tariff elements")
    parsed = tuple(_element(i, element) for i, element in enumerate(elements))
    return Tariff(currency, parsed), body.get("start_date_time")


def _element(index: int, value: object) -> tuple[PriceComponent, ...]:
    where = f"elements[{index}]"
    if not isinstance(value, Mapping):
        raise TariffError(f"{where}: an object with price_components")
    if "restrictions" in value:
        raise TariffError(
            f"{where}.restrictions: not supported yet; a price that changes at a time is a new "
            "version of the tariff (start_date_time)"
        )
    unknown = sorted(set(value) - {"price_components"})
    if unknown:
        raise TariffError(f"{where}: unknown field {unknown[0][:40]!r}")
    components = value.get("price_components")
    if not isinstance(components, list) or not 1 <= len(components) <= len(DIMENSIONS):
        raise TariffError(f"{where}.price_components: a list of 1 to {len(DIMENSIONS)} components")
    parsed = tuple(
        _component(f"{where}.price_components[{i}]", c) for i, c in enumerate(components)
    )
    types = [c.type for c in parsed]
    if len(set(types)) != len(types):
        raise TariffError(f"{where}.price_components: each type at most once")
    return parsed


def _decimal(value: object, where: str, high: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TariffError(f"{where}: a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise TariffError(f"{where}: a finite number")
    number = Decimal(str(value))
    if not 0 <= number <= high:
        raise TariffError(f"{where}: from 0 to {high}")
    if number != number.quantize(Decimal("0.0001")):
        raise TariffError(f"{where}: at most 4 decimals (OCPI's Number)")
    return number


def _component(where: str, value: object) -> PriceComponent:
    if not isinstance(value, Mapping):
        raise TariffError(f"{where}: an object with type, price, step_size and vat")
    unknown = sorted(set(value) - {"type", "price", "step_size", "vat"})
    if unknown:
        raise TariffError(f"{where}: unknown field {unknown[0][:40]!r}")
    kind = value.get("type")
    if kind not in DIMENSIONS:
        raise TariffError(f"{where}.type: one of {', '.join(DIMENSIONS)}")
    step = value.get("step_size")
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= MAX_STEP_SIZE:
        raise TariffError(f"{where}.step_size: a whole number from 1 to {MAX_STEP_SIZE}")
    vat = value.get("vat")
    return PriceComponent(
        type=kind,
        price=_decimal(value.get("price"), f"{where}.price", MAX_PRICE),
        step_size=step,
        vat=None if vat is None else _decimal(vat, f"{where}.vat", Decimal(100)),
    )


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def elements_of(stored: list[Any]) -> tuple[tuple[PriceComponent, ...], ...]:
    """The elements kept as JSON (by `Tariff.elements_json`), read back."""
    return tuple(_element(i, element) for i, element in enumerate(stored))
