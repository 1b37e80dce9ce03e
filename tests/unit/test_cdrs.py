"""A session as OCPI 2.2.1 CDRs, on plain data: which CDRs each verdict and resolution gives, and
that each loads in `ocpi-types`, an OCPI 2.2.1 model library nobody here wrote, and comes back
out unchanged (so no field is missing, mistyped, of an unknown value, or extra)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ocpi_types.v2_2_1 import Cdr

from api.ocpi import CdrWindow, OcpiRequestError, cdr_window, envelope, token_accepted
from evsessions.cdrs import CREDIT_SUFFIX, REISSUE_SUFFIX, Party, Snapshot, cdr_id, session_cdrs
from evsessions.contract import ChargingSession, SessionKey, TransactionDetails
from evsessions.dynamodb.tariffs import TariffVersion
from evsessions.integrity import Billed, Resolution, finding
from evsessions.registry import record_from_json
from evsessions.tariffs import flat_rate, tariff_from_json

ENDED = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)
ISSUED = datetime(2026, 11, 27, 18, 31, tzinfo=UTC)
PARTY = Party("NO", "EVS")
RECORD = record_from_json(
    "CP-1",
    {
        "name": "Storgata",
        "location": {
            "address": "Storgata 1",
            "city": "Oslo",
            "postal_code": "0155",
            "country": "NOR",
            "coordinates": {"latitude": 59.9127, "longitude": 10.7461},
            "time_zone": "Europe/Oslo",
        },
        "connectors": [
            {
                "connector_id": 2,
                "standard": "IEC_62196_T2_COMBO",
                "format": "CABLE",
                "power_type": "DC",
                "max_electric_power_w": 150_000,
            }
        ],
        "tariff_id": "DC-FAST",
    },
)
VERSION = TariffVersion(
    "DC-FAST",
    datetime(2026, 11, 1, tzinfo=UTC),
    tariff_from_json(
        {
            "currency": "NOK",
            "elements": [
                {
                    "price_components": [
                        {"type": "ENERGY", "price": 4.0, "vat": 25, "step_size": 1},
                        {"type": "FLAT", "price": 10, "vat": 25, "step_size": 1},
                    ]
                }
            ],
        }
    )[0],
    "2026-10-30T00:00:00.000Z",
)
SNAPSHOT = Snapshot(RECORD, VERSION, flat_rate(39, 50, "EUR"))


def session(cents: int = 6250, tag: str | None = "CARD-1", **changes: Any) -> ChargingSession:
    """20 kWh on CP-1 connector 2: 20 x 4.00 + 10 = 90.00 NOK excl, 112.50 incl... unless the
    cents say otherwise."""
    base = ChargingSession(
        key=SessionKey("CP-1", "2", "77"),
        session_id=77,
        energy_delivered_in_kWh=Decimal("20"),
        duration_in_seconds=1800,
        session_cost_in_cents=cents,
        ended_at=ENDED,
        ended_at_source="payload",
        received_at=ENDED,
        transaction=TransactionDetails(started_at=ENDED - timedelta(minutes=30), id_tag=tag),
    )
    return replace(base, **changes)


def loads(cdr: dict[str, Any]) -> None:
    assert Cdr.from_dict(cdr).to_dict() == cdr


def test_a_clean_session_is_one_cdr_priced_by_its_tariff() -> None:
    [cdr] = session_cdrs(session(11_250), SNAPSHOT, PARTY, ISSUED)
    loads(cdr)
    assert cdr["id"] == cdr_id(SessionKey("CP-1", "2", "77"), 1)
    assert cdr["total_cost"] == {"excl_vat": 90, "incl_vat": 112.5}
    assert cdr["total_energy_cost"] == {"excl_vat": 80, "incl_vat": 100}
    assert cdr["total_fixed_cost"] == {"excl_vat": 10, "incl_vat": 12.5}
    assert (cdr["total_energy"], cdr["total_time"]) == (20, 0.5)
    assert cdr["cdr_token"]["uid"] == "CARD-1" and cdr["auth_method"] == "AUTH_REQUEST"
    location = cdr["cdr_location"]
    assert (location["connector_standard"], location["connector_power_type"]) == (
        "IEC_62196_T2_COMBO",
        "DC",
    )
    assert location["coordinates"] == {"latitude": "59.912700", "longitude": "10.746100"}
    assert location["evse_id"] == "NO*EVS*ECP1*2"  # eMI3: letters, digits and '*' only
    assert cdr["tariffs"][0]["id"] == "DC-FAST"
    assert cdr["start_date_time"] == "2026-11-27T18:00:00.000Z"
    assert cdr["last_updated"] == "2026-11-27T18:31:00.000Z"


def test_a_cost_the_tariff_does_not_give_is_served_as_billed_and_said_so() -> None:
    [cdr] = session_cdrs(session(10_000), SNAPSHOT, PARTY, ISSUED)
    loads(cdr)
    assert cdr["total_cost"] == {"excl_vat": 80, "incl_vat": 100}
    assert "total_energy_cost" not in cdr
    assert "as billed" in cdr["remark"]


def test_a_charger_without_record_or_tag_still_gives_a_valid_cdr() -> None:
    bare = Snapshot(None, None, flat_rate(39, 50, "EUR"))
    [cdr] = session_cdrs(session(830, tag=None), bare, PARTY, ISSUED)
    loads(cdr)
    assert cdr["currency"] == "EUR" and "tariffs" not in cdr
    assert cdr["cdr_token"]["type"] == "OTHER" and cdr["auth_method"] == "WHITELIST"
    assert "no registry record" in cdr["remark"]


SUSPECT = session(11_250, findings=(finding("power_implausible", "too much"),))


def test_an_open_suspect_session_has_no_cdr_and_an_accepted_one_has_one() -> None:
    assert session_cdrs(SUSPECT, SNAPSHOT, PARTY, ISSUED) == []
    accepted = replace(SUSPECT, resolution=Resolution("accept", ISSUED, "ok", "operator"))
    [cdr] = session_cdrs(accepted, SNAPSHOT, PARTY, ISSUED)
    loads(cdr)


def test_a_voided_session_is_its_cdr_and_a_credit_cdr() -> None:
    voided = replace(SUSPECT, resolution=Resolution("void", ISSUED, "test", "operator"))
    first, credit = session_cdrs(voided, SNAPSHOT, PARTY, ISSUED)
    loads(first)
    loads(credit)
    assert credit["id"] == first["id"] + CREDIT_SUFFIX
    assert (credit["credit"], credit["credit_reference_id"]) == (True, first["id"])
    for name in ("total_cost", "total_energy_cost", "total_fixed_cost"):
        assert credit[name] == {k: -v for k, v in first[name].items()}


def test_a_corrected_session_is_the_reported_cdr_its_credit_and_a_corrected_cdr() -> None:
    corrected = replace(
        SUSPECT,
        energy_delivered_in_kWh=Decimal("10"),
        session_cost_in_cents=6250,
        resolution=Resolution(
            "correct", ISSUED, "meter read twice", "operator", Billed(Decimal("20"), 1800, 11_250)
        ),
    )
    first, credit, again = session_cdrs(corrected, SNAPSHOT, PARTY, ISSUED)
    for cdr in (first, credit, again):
        loads(cdr)
    assert first["total_energy"] == 20 and first["total_cost"]["incl_vat"] == 112.5
    assert credit["credit_reference_id"] == first["id"]
    assert again["id"] == first["id"] + REISSUE_SUFFIX
    assert again["total_energy"] == 10 and again["total_cost"] == {"excl_vat": 50, "incl_vat": 62.5}


def test_ids_fit_ocpi_and_tell_occurrences_apart() -> None:
    key = SessionKey("C" * 64, "9" * 64, "s" * 64)
    assert len(cdr_id(key, 1) + CREDIT_SUFFIX) <= 39
    assert cdr_id(key, 1) != cdr_id(key, 2)


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("Token secret-1", True),
        ("Token c2VjcmV0LTE=", True),  # base64("secret-1"), as OCPI 2.2.1 sends it
        ("token secret-1", True),
        ("Token secret-2", False),
        ("Bearer secret-1", False),
        ("Token", False),
        (None, False),
    ],
)
def test_the_ocpi_token(header: str | None, accepted: bool) -> None:
    assert token_accepted(header, "secret-1") is accepted
    assert token_accepted(header, None) is False


def test_the_window_and_its_next_link() -> None:
    window = cdr_window({"date_from": "2026-11-01T00:00:00Z", "offset": "10", "limit": "5"})
    assert window.link("https://x/ocpi/2.2.1/cdrs", 16) == (
        "<https://x/ocpi/2.2.1/cdrs?offset=15&limit=5&date_from=2026-11-01T00%3A00%3A00.000Z>;"
        ' rel="next"'
    )
    assert window.link("https://x/ocpi/2.2.1/cdrs", 15) is None
    assert cdr_window({}) == CdrWindow(None, None, 0, 50)
    with pytest.raises(OcpiRequestError, match="limit"):
        cdr_window({"limit": "101"})
    assert envelope([], ISSUED)["status_code"] == 1000
