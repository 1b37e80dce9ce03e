"""Field chargers' doubtful sessions through the real pipeline: a message the broker acknowledged
is stored and served, suspect with its reason, counted apart, and an operator resolves it once
over real HTTP (mosquitto -> bridge -> listener -> DynamoDB Local -> the API)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from local_runner.system import LocalSystem
from tests.integration.helpers import eventually, get_json, publish, served

pytestmark = pytest.mark.integration

CHARGER = "CP-field"
PLAUSIBLE = {"energy_delivered_in_kWh": 10, "duration_in_seconds": 3600}
CASES: dict[str, dict[str, Any]] = {
    "clock_ahead": {**PLAUSIBLE, "ended_at": "2099-01-01T00:00:00Z"},
    "end_before_start": {
        **PLAUSIBLE,
        "ended_at": "2026-11-27T10:00:00Z",
        "started_at": "2026-11-27T11:00:00Z",
    },
    "meter_regression": {**PLAUSIBLE, "energy_delivered_in_kWh": -5.0},
    "duration_above_limit": {**PLAUSIBLE, "duration_in_seconds": 691_200},
    "energy_above_limit": {"energy_delivered_in_kWh": 1200, "duration_in_seconds": 36_000},
}
"""The issue's cases, each once: before, each was acknowledged and then dead-lettered."""


def _post(url: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-operator-key": key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_acknowledged_doubtful_sessions_are_stored_suspect_and_resolved_once(
    local_system: LocalSystem,
) -> None:
    assert local_system.api is not None
    api = local_system.api.url
    open_before = get_json(f"{api}/health")[1]["suspect_sessions_open"]
    # GIVEN each case published with QoS 1 (the broker acknowledges it)
    for number, values in enumerate(CASES.values(), start=1):
        payload = {"session_id": number, "session_cost_in_cents": 500, **values}
        publish(
            local_system, f"charger/{CHARGER}/connector/1/session/{number}", json.dumps(payload)
        )
    # WHEN the pipeline has taken them THEN each is served, suspect for its own reason
    for number, code in enumerate(CASES, start=1):
        body = eventually(lambda n=number: served(f"{api}/sessions/{CHARGER}/1/{n}"))
        assert body["verdict"] == "suspect"
        assert [f["code"] for f in body["findings"]] == [code]
    # AND none is a dead letter
    assert local_system.dead_letters is not None
    assert not [d for d in local_system.dead_letters.all() if f"/{CHARGER}/" in d.topic]
    # AND health counts them open, the charger's totals keep them apart from revenue
    assert get_json(f"{api}/health")[1]["suspect_sessions_open"] == open_before + 5
    [charger] = [
        c
        for c in get_json(f"{api}/chargers?limit=500")[1]["chargers"]
        if c["charger_id"] == CHARGER
    ]
    assert (charger["sessions"], charger["suspect"]["sessions"]) == (0, 5)
    # AND DynamoDB Local takes every read that filters or sums them (its expression parser
    # refuses reserved words and unused names, which moto lets through)
    days = f"{api}/totals?charger={CHARGER}&from=2026-11-01&to=2026-12-31"
    assert get_json(days)[1]["totals"]["sessions"] == 0
    for query in ("verdict=suspect", "verdict=clean", "review=open", "connector=1&review=open"):
        status, body = get_json(f"{api}/sessions?charger={CHARGER}&{query}")
        assert status == 200, body
        assert len(body["sessions"]) == (0 if "clean" in query else 5), query
    assert len(get_json(f"{api}/sessions?review=open&limit=500")[1]["sessions"]) >= 5
    assert len(get_json(f"{api}/sessions?verdict=suspect&limit=500")[1]["sessions"]) >= 5
    # WHEN an operator accepts the depot session with the local operator key
    key = local_system.invokers["ApiFunction"].environment["OPERATOR_KEY"]
    url = f"{api}/sessions/{CHARGER}/1/5/resolution"
    status, body = _post(url, {"action": "accept", "reason": "depot bus"}, key)
    # THEN it joins revenue, once
    assert status == 200, body
    assert body["counts_as"] == "clean"
    assert _post(url, {"action": "void", "reason": "again"}, key)[0] == 409
    assert _post(url, {"action": "void", "reason": "no key"}, "wrong")[0] == 401
    [charger] = [
        c
        for c in get_json(f"{api}/chargers?limit=500")[1]["chargers"]
        if c["charger_id"] == CHARGER
    ]
    assert (charger["sessions"], charger["suspect"]["sessions"]) == (1, 4)
    assert get_json(f"{api}/health")[1]["suspect_sessions_open"] == open_before + 4
