"""Two connectors of one charge point starting at the same moment, against DynamoDB Local.

Each StartTransaction takes the charger's next transaction id from a counter in DynamoDB. Two
Lambda containers answering two connectors at once must get two ids, and both transactions must
be kept: a counter read and then written back gives both the same id, and the second
transaction's item then silently loses its conditional put to the first.

Whether two requests interleave is a matter of timing, so here they are made to: the store's
client runs the two Starts in lockstep, each DynamoDB call of one waiting for the same call of
the other, so both read before either writes whenever the code reads before it writes. The
counter itself must then be atomic in the database, which is why this runs against DynamoDB
Local (moto's in-process backend is no database to be atomic in).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from centralsystem.actions import CentralSystem
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.mqtt.publishing import MessagePublisher
from evsessions.ocpp.transactions import Tariff
from local_runner.infra.database import client, create_tables, start_dynamodb_local
from tests.functional.conftest import REGION, sessions_table_spec

ROOT = Path(__file__).resolve().parents[2]
JARS = ROOT / ".local" / "dynamodb-local"
STEP_SECONDS = 60.0
"""How long one Start waits for the other at each call before going on alone."""


@pytest.fixture(scope="module")
def dynamodb_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """DynamoDB Local with the template's sessions table: (a client, the table's name)."""
    if not (JARS / "DynamoDBLocal.jar").exists():
        pytest.fail(f"DynamoDB Local is not installed in {JARS}: run ./dev setup")
    data_dir = tmp_path_factory.mktemp("counter")
    (data_dir / "dynamodb-local").symlink_to(JARS, target_is_directory=True)
    database = start_dynamodb_local(data_dir, 0, REGION)
    try:
        spec = sessions_table_spec()
        create_tables(database.endpoint_url, REGION, [spec])
        yield client(database.endpoint_url, REGION), spec.name
    finally:
        database.stop()


class Lockstep:
    """A DynamoDB client shared by two threads, each of whose calls waits at a barrier for the
    other's: call n of one runs beside call n of the other. A thread that is done `leave`s, and
    the other goes on alone."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._step = threading.Barrier(2)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def in_step(*args: Any, **kwargs: Any) -> Any:
            # broken: the other one is done (or never came), nothing is left to step with
            with contextlib.suppress(threading.BrokenBarrierError):
                self._step.wait(STEP_SECONDS)
            return attribute(*args, **kwargs)

        return in_step

    def leave(self) -> None:
        self._step.abort()


def _no_publisher() -> MessagePublisher:
    raise AssertionError("a Start publishes nothing")


def _start(connector: int) -> dict[str, Any]:
    return {
        "connectorId": connector,
        "idTag": f"TAG-{connector}",
        "meterStart": 1_000 * connector,
        "timestamp": "2026-11-29T10:00:00Z",
    }


def test_concurrent_starts_on_two_connectors_get_distinct_ids_and_both_are_kept(
    dynamodb_local: tuple[Any, str],
) -> None:
    # GIVEN the central system of two Lambda containers, whose store calls run in lockstep
    dynamodb, table = dynamodb_local
    lockstep = Lockstep(dynamodb)
    system = CentralSystem(
        CentralSystemStore(table, lockstep), _no_publisher, Tariff(39, 50), heartbeat_interval=300
    )
    charger = "CP-concurrent"

    def start_on(connector: int) -> Callable[[], dict[str, Any]]:
        def start() -> dict[str, Any]:
            try:
                return system.answer(charger, "StartTransaction", _start(connector))
            finally:
                lockstep.leave()

        return start

    # WHEN connectors 1 and 2 send StartTransaction at the same moment
    with ThreadPoolExecutor(2) as pool:
        answers = [future.result() for future in [pool.submit(start_on(c)) for c in (1, 2)]]
    # THEN each got its own transaction id
    ids = [answer["transactionId"] for answer in answers]
    assert ids[0] != ids[1], ids
    assert sorted(ids) == [1, 2]
    # AND each transaction is kept under its id, with its own connector and meter
    store = CentralSystemStore(table, dynamodb)
    for connector, transaction_id in zip((1, 2), ids, strict=True):
        found = store.transaction(charger, transaction_id)
        assert found is not None, f"transaction {transaction_id} was not kept"
        opened, stopped = found
        assert (opened.connector_id, opened.meter_start_wh, stopped) == (
            connector,
            1_000 * connector,
            None,
        )
