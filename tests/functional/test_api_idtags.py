"""The id-tag list through the API: anyone with the API key reads it, only the operator's key
writes it, and what is written is what the central system answers (GIVEN / WHEN / THEN)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from api.app import app
from centralsystem.actions import CentralSystem
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.store import create_client
from evsessions.mqtt.publishing import PublishReport
from evsessions.ocpp.transactions import Tariff
from evsessions.settings import Settings
from tests.functional.conftest import API_DIR, OPERATOR


@pytest.fixture
def client(operator_client: Client) -> Client:
    return operator_client


def _put(client: Client, tag: str, body: Any, headers: dict[str, str] = OPERATOR) -> Any:
    return client.http.put(f"/idtags/{tag}", headers=headers, body=json.dumps(body))


def test_an_operator_sets_reads_lists_and_removes_a_tag(client: Client) -> None:
    # WHEN the operator blocks a card and gives another an expiry date
    assert _put(client, "CARD-1", {"status": "Blocked"}).status_code == 200
    expiring = {"status": "Accepted", "expiry_date": "2026-01-01T00:00:00Z", "parent_id_tag": "F"}
    reply = _put(client, "CARD-2", expiring)
    # THEN both are read back, the expired one answering Expired now
    assert reply.status_code == 200
    body = json.loads(client.http.get("/idtags/CARD-2").body)
    assert body["status"] == "Accepted" and body["status_now"] == "Expired"
    assert (body["expiry_date"], body["parent_id_tag"]) == ("2026-01-01T00:00:00.000Z", "F")
    listed = json.loads(client.http.get("/idtags").body)
    assert [t["id_tag"] for t in listed["id_tags"]] == ["CARD-1", "CARD-2"]
    # AND a removed tag is gone
    assert client.http.delete("/idtags/CARD-1", headers=OPERATOR).status_code == 204
    assert client.http.get("/idtags/CARD-1").status_code == 404
    assert client.http.delete("/idtags/CARD-1", headers=OPERATOR).status_code == 404


def test_what_the_operator_sets_is_what_the_central_system_answers(
    client: Client, sessions_table: str
) -> None:
    _put(client, "STOLEN", {"status": "Blocked"})
    store = CentralSystemStore(sessions_table, create_client(Settings.from_env()))
    system = CentralSystem(store, lambda: _NoPublish(), Tariff(39, 50), heartbeat_interval=300)
    assert system.answer("CP1", "Authorize", {"idTag": "STOLEN"}) == {
        "idTagInfo": {"status": "Blocked"}
    }


class _NoPublish:
    def publish_all(self, messages: Any) -> PublishReport:  # pragma: no cover - not reached
        return PublishReport(published=len(messages))


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "application/json"}, 401),
        ({"x-operator-key": "wrong", "content-type": "application/json"}, 401),
    ],
)
def test_a_write_without_the_operator_key_is_refused(
    client: Client, headers: dict[str, str], status: int
) -> None:
    assert _put(client, "CARD-1", {"status": "Accepted"}, headers).status_code == status
    assert client.http.delete("/idtags/CARD-1", headers=headers).status_code == status
    assert client.http.get("/idtags/CARD-1").status_code == 404


def test_without_an_operator_key_the_api_takes_no_writes(
    sessions_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPERATOR_KEY", raising=False)
    with Client(app, stage_name="dev", project_dir=str(API_DIR)) as client:
        reply = _put(client, "CARD-1", {"status": "Accepted"}, {**OPERATOR, "x-operator-key": ""})
        assert reply.status_code == 403
        assert json.loads(reply.body)["error"] == "forbidden"


@pytest.mark.parametrize(
    "body",
    [{"status": "Maybe"}, {"status": "Accepted", "expiry_date": "soon"}, ["Accepted"], {}],
)
def test_a_bad_entry_is_a_400_that_says_why(client: Client, body: Any) -> None:
    reply = _put(client, "CARD-1", body)
    assert reply.status_code == 400
    assert json.loads(reply.body)["error"] == "bad_request"


def test_a_tag_that_is_no_id_token_is_a_400(client: Client) -> None:
    assert client.http.get("/idtags/" + "x" * 21).status_code == 400
