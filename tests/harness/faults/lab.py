"""One scenario's world: mosquitto, DynamoDB Local and the runner on free ports in a temporary
folder, each startable, stoppable and killable on its own, and the waits and counts read from
them."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from evsessions.dynamodb.keys import BY_CONNECTOR_TIME, charger_partition, connector_partition
from harness.faults.judging import FaultResult, Outcomes, judge, row_topic
from harness.faults.messages import Message, session_topic
from harness.faults.options import Options
from harness.faults.publisher import FaultSetupError, Publisher, publish_one
from local_runner.infra.broker import Broker, mosquitto_path, start_mosquitto
from local_runner.infra.broker_access import BrokerAccess, broker_access
from local_runner.infra.certificates import ensure_tls_files
from local_runner.infra.database import (
    LOCAL_CREDENTIALS,
    Database,
    client,
    create_tables,
    start_dynamodb_local,
)
from local_runner.infra.processes import ManagedProcess, die_with_parent, free_port, port_open
from local_runner.observers.status import status_path
from local_runner.services.outcomes import read_outcomes
from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[3]
JARS = ROOT / ".local" / "dynamodb-local"
TABLE = "SessionsTable"
_deserialize = TypeDeserializer().deserialize


LOSSY_MOSQUITTO = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages {queue}
log_dest stdout
log_type error
log_type warning
"""


class Lab:
    """One scenario's private world, and the knobs to break it: mosquitto, DynamoDB Local and the
    runner, each startable, stoppable and killable on its own. Leaving the `with` block stops all
    of them, whatever happened inside."""

    def __init__(self, scenario: str, options: Options, *, lossy_broker: bool = False) -> None:
        self.scenario = scenario
        self.charger = scenario
        self.options = options
        self.rng = random.Random(f"{options.seed}:{scenario}")
        self.lossy_broker = lossy_broker
        self.say = options.say
        self.clock, self.sleep = options.clock, options.sleep
        self.dir = Path()
        self.data_dir = Path()
        self.db_port = self.mqtt_port = 0
        self.database: Database | None = None
        self.broker: Broker | None = None
        self.runner: subprocess.Popen[bytes] | None = None
        self.runner_logs: list[Path] = []
        self._outcomes = Outcomes()
        self._outcomes_read_up_to = 0
        self.started = self.clock()
        self._db_client: Any = None
        self._probes = 0
        self.access: BrokerAccess | None = None

    # context ------------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self.started = self.clock()
        self.dir = Path(
            tempfile.mkdtemp(prefix=f"faults-{self.scenario}-", dir=self.options.work_dir)
        )
        # mosquitto started as root runs as user `mosquitto`: let it reach its state folder, so
        # a failure to persist is the broker configuration's, never this folder's (mkdtemp: 0700)
        self.dir.chmod(0o755)
        try:
            if not (JARS / "DynamoDBLocal.jar").exists():
                raise FaultSetupError(f"DynamoDB Local is not installed in {JARS}: ./dev setup")
            if mosquitto_path() is None:
                raise FaultSetupError("mosquitto is not installed: ./dev setup")
            self.data_dir = self.dir / "data"
            self.data_dir.mkdir()
            (self.data_dir / "dynamodb-local").symlink_to(JARS, target_is_directory=True)
            self.db_port, self.mqtt_port = free_port(), free_port()
            self.start_database()
            tables = list(load_template(ROOT / "template.yaml").tables.values())
            create_tables(self.endpoint, self.options.region, tables)
            self.access = self._broker_access()
            self.start_broker()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process this lab started; never raises, so each gets its turn."""
        for name, stop in (
            ("runner", self.kill_runner),
            ("broker", self.stop_broker),
            ("database", self.stop_database),
        ):
            try:
                stop()
            except Exception as error:
                self.say(f"{self.scenario}: stopping the {name} failed: {error}")
        if not self.options.keep and self.dir != Path():
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.db_port}"

    def elapsed(self) -> float:
        return self.clock() - self.started

    def note(self, line: str) -> None:
        self.say(f"{self.elapsed():6.1f}s {self.scenario}: {line}")

    # DynamoDB Local -------------------------------------------------------------------------

    def start_database(self) -> None:
        """On the lab's port and data folder, so a restart finds the same data."""
        self.database = start_dynamodb_local(self.data_dir, self.db_port, self.options.region)
        self._db_client = None

    def stop_database(self) -> None:
        """SIGTERM (a graceful stop)."""
        if self.database is not None:
            self.database.stop()
            self.database = None

    def kill_database(self) -> None:
        """SIGKILL, as a crash would."""
        if self.database is not None and self.database.process is not None:
            self.database.process.kill()
        self.stop_database()

    def _dynamodb(self) -> Any:
        if self._db_client is None:
            self._db_client = client(self.endpoint, self.options.region)
        return self._db_client

    def _query(self, **arguments: Any) -> Iterable[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": charger_partition(self.charger)}},
            **arguments,
        }
        while True:
            page = self._dynamodb().query(**request)
            yield page
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def rows(self) -> dict[str, dict[str, Any]]:
        """The scenario charger's stored sessions by identity (a consistent, paginated Query)."""
        rows: dict[str, dict[str, Any]] = {}
        for page in self._query(ConsistentRead=True):
            for raw in page["Items"]:
                row = {name: _deserialize(value) for name, value in raw.items()}
                rows[row_topic(row)] = row
        return rows

    def row_count(self, index: str | None = None) -> int:
        extra: dict[str, Any] = {"IndexName": index} if index else {"ConsistentRead": True}
        return sum(int(p["Count"]) for p in self._query(Select="COUNT", **extra))

    def connector_index_count(self, connector: str) -> int:
        partition = {":pk": {"S": connector_partition(self.charger, connector)}}
        pages = self._query(
            Select="COUNT",
            IndexName=BY_CONNECTOR_TIME,
            KeyConditionExpression="connector_pk = :pk",
            ExpressionAttributeValues=partition,
        )
        return sum(int(p["Count"]) for p in pages)

    # mosquitto ------------------------------------------------------------------------------

    def _broker_access(self) -> BrokerAccess:
        """The chargers of this scenario and the template's rule bridges, as the runner has them."""
        rules = {
            trigger.name: trigger.rule.topic_filter
            for spec in load_template(ROOT / "template.yaml").functions.values()
            for trigger in spec.rules
        }
        return broker_access(
            self.data_dir,
            fleet_chargers=0,
            extra_chargers=(self.charger, f"{self.charger}-probe"),
            rule_filters=rules,
            fleet_secret=None,
            bridge_password=None,
        )

    def start_broker(self) -> None:
        """The project's no-loss configuration, or the lossy one of the negative control."""
        assert self.access is not None
        if not self.lossy_broker:
            tls, _ = ensure_tls_files(self.data_dir / "tls")
            self.broker = start_mosquitto(
                self.data_dir, self.mqtt_port, 0, "127.0.0.1", tls, self.access
            )
            return
        binary = mosquitto_path()
        assert binary is not None
        config = self.data_dir / "mosquitto-lossy.conf"
        config.write_text(
            LOSSY_MOSQUITTO.format(port=self.mqtt_port, queue=self.options.lossy_queue)
        )
        process = ManagedProcess(
            "mosquitto (lossy)",
            [binary, "-c", str(config)],
            self.data_dir / "logs" / "mosquitto-lossy.log",
        )
        process.wait_until(lambda: port_open("127.0.0.1", self.mqtt_port), timeout=15)
        self.broker = Broker(
            "mosquitto (lossy)", "127.0.0.1", self.mqtt_port, process.stop, process
        )

    def stop_broker(self) -> None:
        """SIGTERM: mosquitto saves its persistence file and exits."""
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def publisher(self) -> Publisher:
        assert self.access is not None
        return Publisher(
            "127.0.0.1",
            self.mqtt_port,
            self.access.charger(self.charger),
            clock=self.clock,
            sleep=self.sleep,
        )

    # the runner -----------------------------------------------------------------------------

    def _runner_env(self) -> dict[str, str]:
        return {
            **os.environ,
            **LOCAL_CREDENTIALS,
            "PYTHONUNBUFFERED": "1",
            "AWS_REGION": self.options.region,
            "BROKER": "external",
            "MQTT_HOST": "127.0.0.1",
            "MQTT_PORT": str(self.mqtt_port),
            "MQTT_USERNAME": "",
            "MQTT_PASSWORD": "",
            "MQTT_TLS": "false",
            "MQTT_FLEET_SECRET": self.access.fleet_secret if self.access else "",
            "MQTT_BRIDGE_PASSWORD": self.access.bridge_password if self.access else "",
            "DATABASE": "external",
            "DYNAMODB_ENDPOINT_URL": self.endpoint,
            "SESSIONS_TABLE": TABLE,
            "LOCAL_DATA_DIR": str(self.data_dir),
            "TEMPLATE_PATH": str(ROOT / "template.yaml"),
            "API_HOST": "127.0.0.1",
            "API_PORT": str(free_port()),
            "OCPP_PORT": str(free_port()),
            "OCPP_TLS_PORT": str(free_port()),
            "PUBLISH_ON_START": "false",
            "FLEET_CHARGERS": "1",
        }

    def start_runner(self, *, probe: bool = False, timeout: float = 60) -> None:
        """`python -m local_runner up` with this lab's broker and database as external parts.

        `probe`: also wait until a message published now is handled, which proves the bridge's
        subscription exists (needed once: later lifetimes inherit the broker-side session)."""
        log_path = self.dir / f"runner-{len(self.runner_logs) + 1}.log"
        self.runner_logs.append(log_path)
        with log_path.open("wb") as log:
            self.runner = subprocess.Popen(
                [
                    self.options.python,
                    "-m",
                    "local_runner",
                    "up",
                    "--outcomes",
                    str(self.outcome_file),
                ],
                cwd=ROOT,
                env=self._runner_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the harness does not reach it
                preexec_fn=die_with_parent,
            )
        if not self.wait(self._runner_ready, timeout, self._runner_up):
            raise FaultSetupError(f"the runner did not subscribe: {self._tail(log_path)}")
        if probe:
            self._probes += 1
            topic = session_topic(f"{self.charger}-probe", self._probes)
            payload = json.dumps(
                {
                    "session_id": self._probes,
                    "energy_delivered_in_kWh": 1,
                    "duration_in_seconds": 1,
                    "session_cost_in_cents": 1,
                }
            ).encode()
            deadline = self.clock() + timeout
            while self.clock() < deadline:  # re-publish: the first may beat the subscription
                assert self.access is not None
                prober = self.access.charger(f"{self.charger}-probe")
                publish_one("127.0.0.1", self.mqtt_port, prober, topic, payload)
                if self.wait(lambda: self._handled(topic), 2, self._runner_up):
                    return
            raise FaultSetupError(f"the runner never handled a probe: {self._tail(log_path)}")

    def _runner_ready(self) -> bool:
        """The runner writes its status snapshot once everything it starts is up."""
        try:
            document = json.loads(status_path(self.data_dir).read_text())
        except (OSError, ValueError):
            return False
        return self.runner is not None and document.get("pid") == self.runner.pid

    def _runner_up(self) -> bool:
        return self.runner is not None and self.runner.poll() is None

    def kill_runner(self) -> None:
        """SIGKILL, as a crash would."""
        if self.runner is not None and self.runner.poll() is None:
            self.runner.kill()
            self.runner.wait(30)

    def stop_runner(self, grace: float = 30) -> int | None:
        """SIGTERM (the runner's Ctrl-C path), then SIGKILL after `grace`; the exit code."""
        if self.runner is None or self.runner.poll() is not None:
            return None if self.runner is None else self.runner.returncode
        self.runner.terminate()
        try:
            return self.runner.wait(grace)
        except subprocess.TimeoutExpired:
            self.runner.kill()
            self.runner.wait(30)
            return None

    def runner_output(self) -> str:
        return "\n".join(self._read(path) for path in self.runner_logs)

    @property
    def outcome_file(self) -> Path:
        """Where every lifetime of the runner appends its outcome records."""
        return self.dir / "outcomes.jsonl"

    def outcomes(self) -> Outcomes:
        """Read incrementally (complete lines only): polling stays cheap at 20,000 records."""
        records, self._outcomes_read_up_to = read_outcomes(
            self.outcome_file, self._outcomes_read_up_to
        )
        self._outcomes = self._outcomes.with_records(records, self.charger)
        return self._outcomes

    def _handled(self, topic: str) -> bool:
        """Whether the runner reported an outcome for this topic (any charger)."""
        records, _ = read_outcomes(self.outcome_file)
        return any(record.topic == topic for record in records)

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    def _tail(self, path: Path, lines: int = 15) -> str:
        return " | ".join(self._read(path).strip().splitlines()[-lines:]) or "(no output)"

    # waiting --------------------------------------------------------------------------------

    def wait(
        self,
        condition: Callable[[], bool],
        timeout: float,
        still: Callable[[], bool] = lambda: True,
        interval: float = 0.1,
    ) -> bool:
        """Poll until `condition` holds (True), time runs out or `still` stops holding (False)."""
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            if condition():
                return True
            if not still():
                return condition()
            self.sleep(interval)
        return condition()

    def wait_for_stored(self, count: int, problems: list[str], what: str) -> None:
        """Until the runner says it stored `count` messages. A stall (nothing stored for three
        quiet periods) or a timeout is noted, not raised: the scenario still ends in counts."""
        progress = [-1, self.clock()]

        def moving() -> bool:
            stored = len(self.outcomes().delivered)
            if stored != progress[0]:
                progress[:] = [stored, self.clock()]
            return self.clock() - progress[1] < 3 * self.options.quiet_seconds

        reached = self.wait(
            lambda: len(self.outcomes().delivered) >= count,
            self.options.timeout_seconds,
            moving,
            interval=0.25,
        )
        if not reached:
            problems.append(
                f"{what}: the runner stalled at {len(self.outcomes().delivered)} delivered, "
                f"short of {count}; the fault came late"
            )

    def dead_letters(self) -> list[dict[str, Any]]:
        """The scenario charger's dead letters (a half-written line of a crash is skipped)."""
        path = self.data_dir / "dead-letters.jsonl"
        letters = []
        for line in self._read(path).splitlines():
            try:
                letter = json.loads(line)
            except json.JSONDecodeError:
                continue
            if str(letter.get("topic", "")).startswith(f"charger/{self.charger}/"):
                letters.append(letter)
        return letters

    def _accounted_for(self, published: int) -> bool:
        """Rows + dead-lettered identities cover the published count (asks DynamoDB)."""
        try:
            rows = self.row_count()
        except (BotoCoreError, ClientError):
            return False
        return rows + len({x["topic"] for x in self.dead_letters()}) >= published

    def settle(self, published: int) -> None:
        """Until stored + dead-lettered stops moving. Movement is read from the runner's output
        and the dead letters (cheap); DynamoDB is asked only once the runner has gone quiet with
        every published identity handled (only duplicates can follow). While short of that, it
        waits `quiet_seconds` of silence, longer than the bridge's retry backoff."""
        last: tuple[int, int] | None = None
        changed = self.clock()
        deadline = changed + self.options.timeout_seconds
        while self.clock() < deadline:
            outcomes = self.outcomes()
            now = (outcomes.handled, len(self.dead_letters()))
            if now != last:
                last, changed = now, self.clock()
            quiet = self.clock() - changed
            if quiet >= self.options.quiet_seconds:
                return
            if (
                quiet >= 2
                and len(outcomes.handled_topics) >= published
                and self._accounted_for(published)
            ):
                return
            self.sleep(0.5)

    # the verdict ----------------------------------------------------------------------------

    def _log_excerpt(self) -> list[str]:
        """The runner's errors and the broker's, counted: where a loss's cause usually shows."""
        runner = [
            line
            for line in self.runner_output().splitlines()
            if "Traceback" in line or " ERROR " in line or "unexpected error" in line
        ][:10]
        broker: dict[str, int] = {}
        for path in sorted((self.data_dir / "logs").glob("mosquitto*.log")):
            for line in self._read(path).splitlines():
                _, _, text = line.partition(": ")
                if text.startswith("Error"):
                    broker[text] = broker.get(text, 0) + 1
        return runner + [f"mosquitto log: {text!r} x{n}" for text, n in broker.items()]

    def result(
        self, messages: Sequence[Message], publisher: Publisher, problems: list[str]
    ) -> FaultResult:
        """Settle, then count; the runner must still be alive unless the scenario killed it."""
        confirmed = publisher.confirmed()
        self.settle(len(confirmed))
        alive = self._runner_up()
        outcomes = self.outcomes()
        rows = self.rows()
        result = judge(self.scenario, messages, confirmed, rows, self.dead_letters(), outcomes)
        result.problems = problems + publisher.errors[:5] + result.problems
        connectors = {str(row["connector_id"]) for row in rows.values()}
        index_rows = sum(self.connector_index_count(c) for c in connectors)
        if index_rows != len(rows):
            result.problems.append(
                f"index {BY_CONNECTOR_TIME} lists {index_rows} of {len(rows)} rows"
            )
        if not alive:
            code = None if self.runner is None else self.runner.returncode
            result.problems.append(f"the runner died on its own (exit code {code})")
        result.details["runner_lifetimes"] = len(self.runner_logs)
        result.details["runner_alive_at_end"] = int(alive)
        result.details["runner_said_stored"] = len(outcomes.delivered)
        result.log_excerpt = self._log_excerpt()
        exit_code = self.stop_runner()
        result.details["runner_exit_code"] = -999 if exit_code is None else exit_code
        result.seconds = self.elapsed()
        self.note(
            f"published {result.published}, stored {result.stored}, dead-lettered "
            f"{result.dead_lettered}, lost {result.lost}, unexpected {result.unexpected}, "
            f"duplicates {result.duplicates_absorbed}, {result.seconds:.0f} s"
        )
        return result
