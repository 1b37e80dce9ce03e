"""Starts and stops the whole local system that template.yaml describes, in dependency order.

database -> tables -> charger registry seeds -> broker (its identities kept in step with the
registry) -> functions' environments -> API -> rule bridges -> recorder -> schedules. Each
part says when it is ready and where; `stop()` ends everything that was started. Schedules and
rules run on one clock: the real one, or a faster one for `up --speed K`. Each
function gets its own environment (`local_runner.environments`); nothing here writes os.environ,
so two systems can run in one process.
"""

from __future__ import annotations

import resource
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evsessions import alarm_states, metrics
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.dynamodb.store import cached_store
from evsessions.errors import StorageUnavailable
from evsessions.invocation import invoked_with
from evsessions.mqtt.connections import close_shared_pools
from evsessions.registry_seed import seed_missing, seed_records
from evsessions.settings import Settings
from evsessions.storage import FleetCounts
from local_runner.environments import (
    broker_endpoint,
    cursor_secret,
    function_environments,
    operator_environment,
)
from local_runner.infra.broker import Broker, mosquitto_path, start_embedded, start_mosquitto
from local_runner.infra.broker_access import BrokerAccess, broker_access, local_secret
from local_runner.infra.certificates import ensure_tls_files
from local_runner.infra.database import (
    Database,
    create_tables,
    dynamodb_local_available,
    start_dynamodb_local,
    start_moto_server,
)
from local_runner.infra.database import client as dynamodb_client
from local_runner.infra.key_migration import migrate_to_shards
from local_runner.infra.listening import THIS_MACHINE_ONLY, listeners, reach
from local_runner.infra.registry_identities import RegistryIdentities, broker_chargers
from local_runner.observers.alarm_board import MetricsBoard, as_documents, evaluate
from local_runner.observers.recorder import Recorder
from local_runner.observers.status import Component, StatusBoard, snapshot
from local_runner.runner_settings import RunnerSettings
from local_runner.services.alarms import AlarmSpec, dead_letter_queues, load_alarms
from local_runner.services.api_server import ApiServer
from local_runner.services.bridge import RuleBridge
from local_runner.services.clock import Clock, real_clock
from local_runner.services.dead_letter_queue import LocalDeadLetterQueue
from local_runner.services.dead_letters import DeadLetterStore, dead_letter_store
from local_runner.services.invoker import FunctionInvoker
from local_runner.services.outcomes import Outcome, OutcomeFile, Subscriber, console_lines
from local_runner.services.scheduler import ScheduledTarget, Scheduler
from local_runner.services.template import Template, TemplateError, load_template
from local_runner.services.websocket_api import websocket_apis
from local_runner.services.websocket_gateway import WebSocketGateway

MANAGEMENT = "OCPP_MANAGEMENT_ENDPOINT_URL"
"""Where functions reach a WebSocket API's management API (POST/DELETE @connections/{id})."""

Say = Callable[[str], None]


@dataclass
class LocalSystem:
    template: Template
    runner: RunnerSettings
    say: Say
    database: Database | None = None
    broker: Broker | None = None
    api: ApiServer | None = None
    scheduler: Scheduler | None = None
    bridges: list[RuleBridge] = field(default_factory=list)
    invokers: dict[str, FunctionInvoker] = field(default_factory=dict)
    dead_letters: DeadLetterStore | None = None
    dead_letter_queue: LocalDeadLetterQueue | None = None
    outcome_file: OutcomeFile | None = None
    clock: Clock = field(default_factory=real_clock)
    board: StatusBoard = field(default_factory=StatusBoard)
    recorder: Recorder | None = None
    access: BrokerAccess | None = None
    identities: RegistryIdentities | None = None
    """Keeps the local broker's identities equal to the registry's ACTIVE chargers."""
    gateways: list[WebSocketGateway] = field(default_factory=list)
    metrics: MetricsBoard | None = None
    """The functions' metrics, as data, for the template's alarms."""
    alarms: list[AlarmSpec] = field(default_factory=list)
    dead_letter_queue_ids: set[str] = field(default_factory=set)

    def local_ports(self) -> dict[str, int | None]:
        """The ports this system listens on itself (external parts excluded), by part."""
        database, broker = self.database, self.broker
        ports: dict[str, int | None] = {}
        if database is not None and self.runner.database != "external":
            ports[database.kind] = urlsplit(database.endpoint_url).port
        if broker is not None and self.runner.broker != "external":
            ports[broker.kind] = broker.port
            ports[f"{broker.kind} (TLS)"] = broker.tls_port
        if self.api is not None:
            ports["API"] = self.api.port
        for gateway in self.gateways:
            ports[f"WebSocket API {gateway.spec.logical_id}"] = gateway.port
            ports[f"WebSocket API {gateway.spec.logical_id} (TLS)"] = gateway.tls_port
        return ports

    def status_snapshot(self) -> dict[str, Any]:
        """What `status` reads: the parts and their addresses, and the counts so far."""
        parts = [
            (self.database.kind, self.database.endpoint_url) if self.database else None,
            (self.broker.kind, f"mqtt://{self.broker.host}:{self.broker.port}")
            if self.broker
            else None,
            (f"{self.broker.kind} (TLS)", f"mqtts://{self.broker.host}:{self.broker.tls_port}")
            if self.broker and self.broker.tls_port
            else None,
            ("API", self.api.url) if self.api else None,
            *((f"WebSocket API {g.spec.logical_id}", g.url) for g in self.gateways),
            *(
                (f"WebSocket API {g.spec.logical_id} (TLS)", g.tls_url)
                for g in self.gateways
                if g.tls_url
            ),
        ]
        counts = self._fleet_counts()
        return snapshot(
            self.board,
            [Component(name, address) for name, address in filter(None, parts)],
            in_flight=sum(bridge.in_flight for bridge in self.bridges),
            dead_letters=self.dead_letters.count() if self.dead_letters else None,
            reused_session_ids=None if counts is None else counts.reused_session_ids,
            open_suspects=None if counts is None else counts.open_suspects,
            clock_now=self.clock.now(),
            speed=float(getattr(self.clock, "speed", 1.0)),
            alarms=as_documents(self.alarm_states()),
        )

    def alarm_states(self) -> list[Any]:
        """The template's alarms the emulator measures, evaluated now."""
        if self.metrics is None:
            return []
        dead_letters = self.dead_letters
        return evaluate(
            self.alarms,
            self.metrics,
            (lambda: dead_letters.count()) if dead_letters is not None else (lambda: None),
            self.dead_letter_queue_ids,
        )

    @contextmanager
    def invoked_as(self, function: str) -> Iterator[Settings]:
        """Run the block in the function's environment, with its settings: what a test or the
        status board needs to reach this system's parts as that function does."""
        with invoked_with(self.invokers[function].environment):
            yield Settings.from_env()

    def _fleet_counts(self) -> FleetCounts | None:
        """The counts the store keeps (reused session ids, open suspects), read as the API reads
        them (None: unreachable)."""
        readers = [name for name, spec in self.template.functions.items() if spec.routes]
        if self.database is None or not readers or readers[0] not in self.invokers:
            return None
        try:
            with self.invoked_as(readers[0]) as settings:
                return cached_store(settings).fleet_counts()
        except StorageUnavailable:
            return None

    def _close_publisher_connections(self) -> None:
        """This system's broker's: another system in the process keeps its own."""
        if self.broker is not None:
            ports = {self.broker.port, self.broker.tls_port}
            close_shared_pools(lambda endpoint: endpoint.port in ports)

    def _stop_functions(self) -> None:
        for invoker in self.invokers.values():
            invoker.stop()

    def stop(self) -> None:
        """Stop what was started, newest first; never raises, so everything gets its turn."""
        steps: list[tuple[str, Callable[[], None] | None]] = [
            ("schedules", self.scheduler.shutdown if self.scheduler else None),
            ("recorder", self.recorder.shutdown if self.recorder else None),
            *((f"rule {b.rule_name}", b.shutdown) for b in self.bridges),
            *((f"WebSocket API {g.spec.logical_id}", g.shutdown) for g in self.gateways),
            ("API", self.api.shutdown if self.api else None),
            ("functions", self._stop_functions),
            (
                "dead-letter queue",
                self.dead_letter_queue.shutdown if self.dead_letter_queue else None,
            ),
            ("outcome file", self.outcome_file.close if self.outcome_file else None),
            ("publisher connections", self._close_publisher_connections),
            ("broker identities", self.identities.shutdown if self.identities else None),
            (self.broker.kind if self.broker else "", self.broker.stop if self.broker else None),
            (
                self.database.kind if self.database else "",
                self.database.stop if self.database else None,
            ),
        ]
        for name, stop in steps:
            if stop is None:
                continue
            try:
                stop()
            except Exception as error:  # keep stopping the rest
                self.say(f"stopping {name} failed: {error}")
        self.say("stopped")


def _start_database(system: LocalSystem, settings: Settings) -> Database:
    return start_database(system.runner, settings, system.say)


def start_database(runner: RunnerSettings, settings: Settings, say: Say) -> Database:
    """The database the settings choose, with a plain word when it falls back to moto."""
    mode = runner.database
    if mode == "external":
        if not settings.dynamodb_endpoint_url:
            raise TemplateError("DATABASE=external needs DYNAMODB_ENDPOINT_URL")
        return Database("external DynamoDB", settings.dynamodb_endpoint_url, lambda: None)
    problem = dynamodb_local_available(runner.local_data_dir)
    if mode == "dynamodb-local" and problem:
        raise RuntimeError(f"DATABASE=dynamodb-local but {problem}")
    if mode == "moto" or problem:
        if problem:
            say(f"DynamoDB Local cannot run: {problem}. FALLING BACK to moto's server:")
            say("  data lives in memory only and is lost when the runner stops")
        return start_moto_server(runner.dynamodb_local_port, runner.database_bind)
    say("starting DynamoDB Local (Java) ...")
    database = start_dynamodb_local(
        runner.local_data_dir, runner.dynamodb_local_port, settings.aws_region, runner.database_bind
    )
    if database.unbound:
        say(
            f"WARNING: DynamoDB Local could not be bound to {runner.database_bind}: "
            f"{database.unbound}. It LISTENS ON EVERY INTERFACE and checks no credentials: anyone "
            "who can reach this machine can read and delete the sessions. Use DATABASE=moto on a "
            "shared network."
        )
    return database


def registry_settings(template: Template, operator: Mapping[str, str]) -> Settings:
    """The settings the functions read the registry and its seeds with: the template's
    variables of every function (the publisher's FLEET_CHARGERS among them), the operator's over
    them."""
    variables = {k: v for name in template.functions for k, v in template.environment(name).items()}
    return Settings.from_env({**variables, **operator})


def _seed_registry(system: LocalSystem, settings: Settings) -> DynamoDBChargerRegistry:
    """FLEET_CHARGERS' and MQTT_CHARGER_IDS' chargers get a registry record unless they have
    one (an operator's edit or retirement stays)."""
    assert system.database is not None
    registry = DynamoDBChargerRegistry(
        settings.sessions_table,
        dynamodb_client(system.database.endpoint_url, settings.aws_region),
    )
    seeded = seed_missing(
        registry, seed_records(settings), (r.charger_id for r in registry.records())
    )
    if seeded:
        shown = ", ".join(seeded[:5]) + (f" and {len(seeded) - 5} more" if len(seeded) > 5 else "")
        system.say(f"charger registry: seeded {shown} (FLEET_CHARGERS, MQTT_CHARGER_IDS)")
    return registry


def _broker_access(
    system: LocalSystem, settings: Settings, chargers: tuple[str, ...]
) -> BrokerAccess:
    """Every ACTIVE charger of the registry and every rule bridge gets its identity (secrets
    generated on first run into the data folder unless .env sets them)."""
    return broker_access(
        system.runner.local_data_dir,
        fleet_chargers=0,
        extra_chargers=chargers,
        rule_filters={
            trigger.name: trigger.rule.topic_filter
            for spec in system.template.functions.values()
            for trigger in spec.rules
        },
        fleet_secret=settings.mqtt_fleet_secret,
        bridge_password=system.runner.mqtt_bridge_password,
    )


def _start_broker(system: LocalSystem, settings: Settings, access: BrokerAccess) -> Broker:
    runner = system.runner
    mode = runner.broker
    if mode == "external":
        return Broker("external broker", settings.mqtt_host, settings.mqtt_port, lambda: None)
    tls, made = ensure_tls_files(runner.local_data_dir / "tls")
    if made:
        system.say(f"made a local CA and the broker's TLS certificate in {tls.ca_cert.parent}")
    if mode == "mosquitto" or (mode == "auto" and mosquitto_path()):
        return start_mosquitto(
            runner.local_data_dir,
            settings.mqtt_port,
            runner.mqtt_tls_port,
            runner.mqtt_tls_bind,
            tls,
            access,
        )
    if mode == "auto":
        system.say("mosquitto is not installed: FALLING BACK to the embedded amqtt broker")
    return start_embedded(
        settings.mqtt_port, runner.mqtt_tls_port, runner.mqtt_tls_bind, tls, access
    )


def bridge_tls(broker: Broker, settings: Settings) -> tuple[int, ssl.SSLContext | None]:
    """Where a rule bridge connects: the local broker's TLS listener, verified against the local
    CA; an external broker as MQTT_PORT / MQTT_TLS / MQTT_CA_FILE say."""
    if broker.tls_port and broker.ca_file:
        return broker.tls_port, ssl.create_default_context(cafile=str(broker.ca_file))
    if settings.mqtt_tls:
        return broker.port, ssl.create_default_context(cafile=settings.mqtt_ca_file)
    return broker.port, None


def raise_open_file_limit() -> None:
    """A fleet of thousands of chargers is thousands of connections: allow as many files as the
    system lets this user open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard != resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _check_routes(template: Template, function_id: str, app: Any) -> None:
    """The template's Api events and the Chalice app's routes must be the same set (an ANY
    event stands for whatever methods the app serves on that path)."""
    declared = {(r.path, r.method) for r in template.functions[function_id].routes}
    any_paths = {path for path, method in declared if method == "ANY"}
    served = {(path, method) for path, methods in app.routes.items() for method in methods}
    declared = {(p, m) for p, m in declared if m != "ANY"} | {
        (p, m) for p, m in served if p in any_paths
    }
    if declared != served:
        raise TemplateError(
            f"{function_id}: template.yaml Api events {sorted(declared - served)} have no Chalice "
            f"route, and Chalice routes {sorted(served - declared)} have no Api event"
        )


def local_dead_letter_queue(data_dir: Path) -> LocalDeadLetterQueue:
    """The dead-letter queue's local endpoint over the data folder's dead letters; its
    `environment()` points a handler at it as at SQS."""
    return LocalDeadLetterQueue(dead_letter_store(data_dir)).start()


def _report_tick(
    say: Say, board: StatusBoard
) -> Callable[[str, datetime, Any, BaseException | None], None]:
    def report(name: str, moment: datetime, result: Any, error: BaseException | None) -> None:
        tick = moment.strftime("%H:%M:%SZ")
        say(f"{name} tick {tick}: " + (f"FAILED {error}" if error else f"{result}"))
        board.tick(result)

    return report


def _migrate_keys(system: LocalSystem, settings: Settings, created: list[str]) -> None:
    """Data written before the sharded keys is moved to them once (see key_migration)."""
    assert system.database is not None
    dynamodb = dynamodb_client(system.database.endpoint_url, settings.aws_region)
    for table in system.template.tables.values():
        if table.name in created:
            continue
        migrated = migrate_to_shards(dynamodb, table.name)
        if migrated:
            system.say(
                f"{table.name}: moved data of the older key design to the sharded keys "
                f"({migrated.chargers} chargers, {migrated.totals} fleet totals, "
                f"{migrated.sessions} sessions' month index, {migrated.months} month counters "
                "made month markers)"
            )


def start_system(
    runner: RunnerSettings,
    say: Say = print,
    *,
    clock: Clock | None = None,
    record: Path | None = None,
    outcomes: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> LocalSystem:
    """Bring the local system up; on any failure stop what had started and re-raise.
    `clock` drives schedules and receipt times; `record` records the rules' traffic to a file;
    `outcomes` appends each message's outcome to a JSON-lines file; `environ` is the operator's
    environment (default: the process's), read once, here."""
    template = load_template(runner.template_path)
    operator = operator_environment(environ=environ)
    settings = Settings.from_env(operator)
    system = LocalSystem(template, runner, say, clock=clock or real_clock())
    runner.local_data_dir.mkdir(parents=True, exist_ok=True)
    raise_open_file_limit()
    try:
        system.database = _start_database(system, settings)
        created = create_tables(
            system.database.endpoint_url, settings.aws_region, list(template.tables.values())
        )
        say(
            f"{system.database.kind} ready at {system.database.endpoint_url}"
            + (f" (created tables: {', '.join(created)})" if created else "")
        )
        _migrate_keys(system, settings, created)
        registry_config = registry_settings(template, operator)
        registry = _seed_registry(system, registry_config)
        chargers = broker_chargers(registry.records(), say)
        system.access = _broker_access(system, settings, chargers)
        system.broker = _start_broker(system, settings, system.access)
        say(f"{system.broker.kind} ready at {system.broker.address}")
        if system.broker.reload is not None:
            system.identities = RegistryIdentities(
                system.access,
                registry.records,
                system.broker.reload,
                registry_config.registry_cache_seconds,
                say,
            ).start()
        say(
            f"broker identities: {len(system.access.charger_ids)} charger(s), "
            f"{len(system.access.rule_filters)} rule bridge(s); anonymous clients refused; "
            f"secrets in {runner.local_data_dir / 'secrets'}"
        )
        say(
            "operators resolve suspect sessions with x-operator-key: "
            f"{runner.local_data_dir / 'secrets' / 'operator-key'}"
        )
        say(
            "OCPI partners read CDRs with Authorization: Token "
            f"{runner.local_data_dir / 'secrets' / 'ocpi-token'}"
        )
        system.dead_letters = dead_letter_store(runner.local_data_dir)
        system.dead_letter_queue = local_dead_letter_queue(runner.local_data_dir)
        environments = function_environments(
            template,
            operator,
            defaults={
                "CURSOR_SECRET": cursor_secret(runner.local_data_dir, settings.cursor_secret),
                "OPERATOR_KEY": local_secret(
                    runner.local_data_dir, "operator-key", settings.operator_key
                ),
                "OCPI_TOKEN": local_secret(
                    runner.local_data_dir, "ocpi-token", settings.ocpi_token
                ),
            },
            endpoints={
                "DYNAMODB_ENDPOINT_URL": system.database.endpoint_url,
                **broker_endpoint(system.broker, settings.mqtt_tls, system.access.fleet_secret),
                **system.dead_letter_queue.environment(),
            },
        )
        if outcomes is not None:
            system.outcome_file = OutcomeFile(outcomes)
        system.invokers = {
            name: FunctionInvoker(spec, environments[name])
            for name, spec in template.functions.items()
        }
        _observe_metrics(system)
        _start_api(system, runner)
        _start_websocket_apis(system)
        _say_network_reach(system)
        _start_bridges(system, settings)
        if record is not None:
            _start_recorder(system, record)
        _start_schedules(system)
    except BaseException:
        system.stop()
        raise
    return system


def _observe_metrics(system: LocalSystem) -> None:
    """The functions' metrics reach the system's board as data, for the template's alarms."""
    system.alarms = load_alarms(system.runner.template_path)
    system.dead_letter_queue_ids = dead_letter_queues(system.runner.template_path)
    system.metrics = MetricsBoard(
        clock=lambda: system.clock.now().timestamp(),
        keep_seconds=max([3600, *(alarm.window_seconds for alarm in system.alarms)]),
    )
    for invoker in system.invokers.values():
        invoker.metrics = system.metrics.emission
        invoker.on_error = system.metrics.error


def _api_observers(system: LocalSystem, function: str) -> Callable[[], Any]:
    """Around each API request: its metrics to the board, as one invocation of `function` (the
    Chalice app has no decorator to open one), and the alarms' states for the health route."""

    @contextmanager
    def around() -> Iterator[None]:
        assert system.metrics is not None
        with (
            metrics.publishing_to(system.metrics.emission),
            metrics.invocation(function),
            alarm_states.providing(lambda: as_documents(system.alarm_states())),
        ):
            yield

    return around


def _start_api(system: LocalSystem, runner: RunnerSettings) -> None:
    for name, spec in system.template.functions.items():
        if spec.routes:
            app = system.invokers[name].load()
            _check_routes(system.template, name, app)
            system.api = ApiServer(
                app,
                runner.api_host,
                runner.api_port,
                name,
                environment=system.invokers[name].environment,
                around=_api_observers(system, name),
            )
            system.api.start()
            system.say(f"API ({name}) ready at {system.api.url}  dashboard: {system.api.url}/")
            return


def _start_websocket_apis(system: LocalSystem) -> None:
    """The template's WebSocket APIs, on loopback and over TLS with the local CA; the functions
    reply through the local management API (OCPP_MANAGEMENT_ENDPOINT_URL)."""
    runner = system.runner
    for spec in websocket_apis(runner.template_path):
        tls, _ = ensure_tls_files(runner.local_data_dir / "tls")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.server_cert, tls.server_key)
        gateway = WebSocketGateway(
            spec,
            system.invokers,
            port=runner.ocpp_port,
            tls_host=runner.ocpp_tls_bind,
            tls_port=runner.ocpp_tls_port,
            tls_context=context,
        )
        gateway.start()
        system.gateways.append(gateway)
        # its route functions reply through it; a function the template gives its endpoint
        # (the API, which sends operators' commands) reaches the same stand-in
        for function, found in system.template.functions.items():
            if function in spec.routes.values() or MANAGEMENT in found.left_to_emulator:
                system.invokers[function].environment[MANAGEMENT] = gateway.management_url
        system.say(
            f"WebSocket API {spec.logical_id} ready: a charger connects to {gateway.url}{{id}} "
            f"or {gateway.tls_url}{{id}} (TLS, CA {tls.ca_cert}) with subprotocol ocpp1.6 and "
            "HTTP Basic (its id and its own password: scripts/charger_credentials.py ID)"
        )


def _say_network_reach(system: LocalSystem) -> None:
    """One line for each port the system opened that more than this machine can reach (the
    kernel's socket table is read, not the settings), or one line saying none is."""
    found = listeners()
    ports = {name: port for name, port in system.local_ports().items() if port}
    reaches = {name: reach(port, found) for name, port in ports.items()}
    open_ = {name: words for name, words in reaches.items() if words != THIS_MACHINE_ONLY}
    if found is not None and not open_:
        system.say(f"network: {', '.join(ports)} reachable from this machine only")
    for name, words in open_.items():
        system.say(f"network: {name} on port {ports[name]}: {words}")


def _start_bridges(system: LocalSystem, settings: Settings) -> None:
    assert system.broker is not None and system.access is not None
    assert system.dead_letters is not None and system.dead_letter_queue is not None
    port, tls = bridge_tls(system.broker, settings)
    report = _report_outcomes(system)
    for name, spec in system.template.functions.items():
        for trigger in spec.rules:
            identity = system.access.bridge(trigger.name)
            bridge = RuleBridge(
                rule_name=trigger.name,
                rule=trigger.rule,
                invoke=system.invokers[name],
                host=system.broker.host,
                port=port,
                tls_context=tls,
                dead_letters=system.dead_letters,
                client_id=identity.client_id,
                username=identity.username,
                password=identity.password,
                max_retries=spec.max_retry_attempts,
                batching=trigger.batching,
                on_outcomes=report,
                letters=system.dead_letter_queue.claim,
                function_name=name,
                clock=lambda: system.clock.now().timestamp(),
            )
            bridge.start()
            system.bridges.append(bridge)
            via = (
                f" via queue {trigger.batching.queue_name} (batches of up to "
                f"{trigger.batching.size}, {trigger.batching.in_flight} in flight)"
                if trigger.batching
                else ""
            )
            system.say(
                f"rule {trigger.name} -> {name}{via} subscribed to "
                f"'{trigger.rule.topic_filter}' (QoS 1)"
            )


def _report_outcomes(system: LocalSystem) -> Subscriber:
    """The bridges' outcomes go to the console, the status board and the outcome file."""

    def report(outcomes: Sequence[Outcome]) -> None:
        for line in console_lines(outcomes):
            system.say(line)
        system.board.outcomes(outcomes)
        if system.outcome_file is not None:
            system.outcome_file(outcomes)

    return report


def _start_recorder(system: LocalSystem, path: Path) -> None:
    """Records what the rules select, under the broker's read-only recorder identity."""
    assert system.broker is not None and system.access is not None
    identity = system.access.recorder()
    system.recorder = Recorder(
        path,
        list(system.access.recorder_filters),
        host=system.broker.host,
        port=system.broker.port,
        clock=system.clock.now,
        client_id=identity.client_id,
        username=identity.username,
        password=identity.password,
    )
    system.recorder.start()
    system.say(f"recording {', '.join(system.recorder.topic_filters)} to {path}")


def _start_schedules(system: LocalSystem) -> None:
    targets = [
        ScheduledTarget(
            trigger.name, trigger.schedule, system.invokers[name], spec.max_retry_attempts
        )
        for name, spec in system.template.functions.items()
        for trigger in spec.schedules
    ]
    system.scheduler = Scheduler(
        targets, clock=system.clock, on_result=_report_tick(system.say, system.board)
    )
    for target in targets:
        system.say(f"schedule {target.name}: {target.schedule.expression}")
    if system.runner.publish_on_start:
        now = system.clock.now().replace(second=0, microsecond=0)
        for target in targets:
            system.scheduler.fire(target, now)
    system.scheduler.start()
