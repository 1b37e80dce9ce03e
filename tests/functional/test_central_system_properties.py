"""Bad values never become server errors: every schema-valid CALL of every action the central
system knows, generated from the OCPP 1.6 JSON schemas the `ocpp` package ships, gets its
confirmation or the OCPP CALLERROR that names what is wrong, never InternalError; and every
session it publishes is JSON with known finding codes.

The payloads come from a small generator over the schemas (they use only object, array, string
with maxLength/enum/date-time, integer, number and boolean); each drawn payload is checked
against the same schema by the `ocpp` package's validator, so the generator cannot drift from
what a charger may send. The generator leans towards the values real chargers get wrong: times
of 1970 or far ahead or no time at all, meter readings of NaN, inf, 1e40, negative, ids of -1
and 2^63-1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import ValidationError
from ocpp.messages import get_validator

from centralsystem.actions import CentralSystem
from centralsystem.handler import _answer
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.store import create_client
from evsessions.integrity import RULES
from evsessions.mqtt.publishing import OutgoingMessage, PublishReport
from evsessions.ocpp.transactions import Tariff
from evsessions.settings import Settings

TIMES = st.sampled_from(
    [
        "2026-11-29T10:00:00Z",
        "2026-11-29T10:45:00.123+01:00",
        "1970-01-01T00:00:00Z",
        "2150-01-01T00:00:00Z",
        "2026-12-02T10:00:00Z",
        "0001-01-01T00:00:00Z",
        "2026-11-29T10:00:00",
        "not a time",
        "",
    ]
)
READINGS = st.sampled_from(
    ["0", "1000", "23500", "12.5", "NaN", "inf", "-Infinity", "1e40", "-5", "1,5", "", "0x10"]
)
INTEGERS = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, -(2**63), 10**30]),
    st.integers(-(2**70), 2**70),
)


def from_schema(schema: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Values of one (OCPP 1.6) JSON schema."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {key: from_schema(value, key) for key, value in properties.items() if key in required},
            optional={
                key: from_schema(value, key)
                for key, value in properties.items()
                if key not in required
            },
        )
    if kind == "array":
        return st.lists(
            from_schema(schema["items"]), min_size=schema.get("minItems", 0), max_size=4
        )
    if kind == "string":
        if schema.get("format") == "date-time":
            return TIMES
        text = st.text(max_size=schema.get("maxLength", 60))
        return st.one_of(READINGS, text) if name == "value" else text
    if kind == "integer":
        return INTEGERS
    if kind == "number":
        return st.one_of(st.floats(), st.integers(-(2**40), 2**40))
    if kind == "boolean":
        return st.booleans()
    raise NotImplementedError(f"schema {schema!r}")  # pragma: no cover - a new schema shape


@dataclass
class AcceptingPublisher:
    sent: list[OutgoingMessage] = field(default_factory=list)

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> PublishReport:
        self.sent.extend(messages)
        return PublishReport(published=len(messages))


@pytest.fixture
def publisher() -> AcceptingPublisher:
    return AcceptingPublisher()


@pytest.fixture
def system(sessions_table: str, publisher: AcceptingPublisher) -> CentralSystem:
    store = CentralSystemStore(sessions_table, create_client(Settings.from_env()))
    return CentralSystem(store, lambda: publisher, Tariff(39, 50), heartbeat_interval=300)


def _no_constant(name: str) -> Any:
    raise AssertionError(f"a published session carries {name}, which is no JSON")


ACTIONS = sorted(
    CentralSystem(None, lambda: AcceptingPublisher(), Tariff(0, 0), 300).actions()  # type: ignore[arg-type]
)


@pytest.mark.parametrize("action", ACTIONS)
def test_every_schema_valid_call_is_confirmed_or_refused_by_name_never_an_internal_error(
    system: CentralSystem, publisher: AcceptingPublisher, action: str
) -> None:
    validator = get_validator(2, action, "1.6")
    # transactions 1..5 open, so Stops and MeterValues reach known ones as well as unknown ones
    for meter in range(5):
        start = {"connectorId": 1, "idTag": "T", "meterStart": meter * 1_000}
        system.answer("CP1", "StartTransaction", {**start, "timestamp": "2026-11-29T10:00:00Z"})

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(payload=from_schema(validator.schema))
    def check(payload: dict[str, Any]) -> None:
        # GIVEN a payload the schema allows (the generator's own check)
        try:
            validator.validate(payload)
        except ValidationError:  # pragma: no cover - the generator strays from the schema
            raise AssertionError(f"generated an invalid {action}: {payload!r}") from None
        published = len(publisher.sent)
        # WHEN it is sent as a CALL
        reply = _answer(system, "CP1", json.dumps([2, "p1", action, payload]))
        # THEN it is confirmed, or refused with the error OCPP names; never an InternalError
        assert reply is not None
        frame = json.loads(reply)
        assert frame[0] in (3, 4) and frame[1] == "p1"
        if frame[0] == 4:
            assert frame[2] != "InternalError", (action, payload, frame)
            assert action not in ("StopTransaction", "MeterValues", "DataTransfer"), frame
        for message in publisher.sent[published:]:
            session = json.loads(message.payload, parse_constant=_no_constant)
            assert {f["code"] for f in session.get("findings", [])} <= set(RULES)
            assert len(message.payload) < 4096

    check()
