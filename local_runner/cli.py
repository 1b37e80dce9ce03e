"""`python -m local_runner`: the local emulator's command line.

up [--speed K] [--record FILE] [--outcomes FILE] [--json-logs]
                                 start everything template.yaml declares; Ctrl-C stops it all
status                           each part of the running system, up or down, and its counts
replay FILE [--speed K]          replay a recording through the rules into the store
invoke FUNCTION --event FILE     call one handler with one event, like `sam local invoke`
generate-event schedule|sqs|iot  print a sample event for a function
dlq list|replay                  the dead letters: what failed, and replaying them
idtags list|set|delete           the OCPP central system's id-tag list
chargers list|show|put|retire|activate
                                 the charger registry: who connects, where, with what
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evsessions.metrics import Emission, emf_document
from evsessions.settings import SettingsError
from local_runner.environments import operator_environment
from local_runner.observers import json_logs
from local_runner.observers.recorder import RecordingError
from local_runner.runner_settings import RunnerSettings
from local_runner.services.dead_letter_queue import LocalDeadLetterQueue
from local_runner.services.dead_letters import dead_letter_store
from local_runner.services.events import sample_iot_event, scheduled_event, sqs_event
from local_runner.services.template import Template, TemplateError, load_template


def _say(line: str) -> None:
    print(f"{datetime.now().strftime('%H:%M:%S')} {line}", flush=True)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{text} must be above 0 and at most 1000000")
    return value


def _up(
    runner: RunnerSettings,
    environ: Mapping[str, str],
    speed: float,
    record: str | None,
    outcomes: str | None,
) -> int:
    from local_runner.observers.console import Console
    from local_runner.observers.status import StatusWriter, counts_line, status_path
    from local_runner.services.clock import ScaledClock
    from local_runner.system import start_system

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    console = Console()
    console.say(f"starting the local system from {runner.template_path}")
    if speed != 1:
        console.say(f"time machine: x{speed:g}, a simulated minute every {60 / speed:g} s")
    system = start_system(
        runner,
        console.say,
        clock=ScaledClock(speed),
        record=Path(record) if record else None,
        outcomes=Path(outcomes) if outcomes else None,
        environ=environ,
    )

    def show(document: dict[str, Any]) -> None:
        if "error" in document:
            console.status(f"status unavailable: {document['error']}")
            return
        clock = document["clock"][11:16] + (f" x{speed:g}" if speed != 1 else "")
        firing = [a for a in document.get("alarms") or [] if a.get("state") == "ALARM"]
        alarms = "".join(f"; ALARM {a['label']}: {a['value']:g}" for a in firing)
        console.status(f"[{clock}] {counts_line(document, time.time())}{alarms}")

    writer = StatusWriter(status_path(runner.local_data_dir), system.status_snapshot, show)
    writer.start()
    console.say("ready. Ctrl-C stops everything.")
    try:
        stop.wait()
    finally:
        writer.shutdown()
        console.close()
        console.say("stopping ...")
        system.stop()
    return 0


def _status(runner: RunnerSettings) -> int:
    from local_runner.observers.status import report

    result = report(runner.local_data_dir)
    print("\n".join(result.lines))
    return 0 if result.running and result.all_up else 1


def _replay_recording(
    runner: RunnerSettings, environ: Mapping[str, str], path: str, speed: float | None
) -> int:
    from local_runner.commands.recording_replay import play
    from local_runner.observers.progress import Progress
    from local_runner.observers.recorder import read_recording

    messages = read_recording(Path(path))
    template = load_template(runner.template_path)
    with (
        _local_handlers(runner, environ, template) as local,
        Progress(len(messages), "replay") as bar,
    ):
        result = play(
            messages,
            template,
            lambda name, event: local.handlers[name](event),
            speed=speed,
            progress=bar.update,
            letters=local.dead_letter_queue.claim,
        )
    for message, reason in result.failures[:20]:
        print(f"line {message.line} {message.topic}: {reason}")
    if result.failed > 20:
        print(f"... and {result.failed - 20} more failures")
    outcomes = ", ".join(f"{word} {count}" for word, count in sorted(result.outcomes.items()))
    print(
        f"replayed {len(messages)} message(s) from {path}: {outcomes or 'nothing'}"
        + (f"; {result.unselected} selected by no rule" if result.unselected else "")
    )
    return 1 if result.failed else 0


@dataclass
class LocalHandlers:
    handlers: dict[str, Any]
    dead_letter_queue: LocalDeadLetterQueue


def _metrics_to_stderr(emission: Emission) -> None:
    """A one-off call's metrics as the EMF line the function would log, on stderr beside its
    logs (as `sam local invoke` shows them): standard output keeps the result alone."""
    print(json.dumps(emf_document(emission)), file=sys.stderr)


@contextmanager
def _local_handlers(
    runner: RunnerSettings, environ: Mapping[str, str], template: Template
) -> Iterator[LocalHandlers]:
    """The template's handlers, wired to the local database and broker as `up` wires them, and
    to a dead-letter queue of their own for the duration. Uses the database of a running `up`;
    else starts DynamoDB Local for the duration."""
    from evsessions.settings import Settings
    from local_runner.environments import broker_endpoint, function_environments
    from local_runner.infra.broker import Broker
    from local_runner.infra.broker_access import local_secret
    from local_runner.infra.database import answers, create_tables
    from local_runner.services.invoker import FunctionInvoker
    from local_runner.system import local_dead_letter_queue, start_database

    settings = Settings.from_env(environ)
    endpoint = settings.dynamodb_endpoint_url or f"http://127.0.0.1:{runner.dynamodb_local_port}"
    database = None
    if not answers(endpoint, settings.aws_region):
        if runner.database in ("external", "moto"):
            raise RuntimeError(f"no database answers at {endpoint}; start ./dev up first")
        database = start_database(runner, settings, _say)
        endpoint = database.endpoint_url
        create_tables(endpoint, settings.aws_region, list(template.tables.values()))
    queue = local_dead_letter_queue(runner.local_data_dir)
    try:
        broker = Broker("configured broker", settings.mqtt_host, settings.mqtt_port, lambda: None)
        fleet_secret = local_secret(
            runner.local_data_dir, "mqtt-fleet-secret", settings.mqtt_fleet_secret
        )
        environments = function_environments(
            template,
            environ,
            defaults={},
            endpoints={
                "DYNAMODB_ENDPOINT_URL": endpoint,
                **broker_endpoint(broker, False, fleet_secret),
                **queue.environment(),
            },
        )
        handlers = {
            name: FunctionInvoker(spec, environments[name])
            for name, spec in template.functions.items()
        }
        for invoker in handlers.values():
            invoker.metrics = _metrics_to_stderr
        yield LocalHandlers(handlers, queue)
    finally:
        queue.shutdown()
        if database is not None:
            database.stop()


def _invoke(
    runner: RunnerSettings, environ: Mapping[str, str], function: str, event_path: str
) -> int:
    template = load_template(runner.template_path)
    if function not in template.functions:
        raise TemplateError(
            f"no function {function!r}; the template has {', '.join(template.functions)}"
        )
    event = json.loads(Path(event_path).read_text() if event_path != "-" else sys.stdin.read())
    with _local_handlers(runner, environ, template) as local:
        result: Any = local.handlers[function](event)
        records = event.get("Records") if isinstance(event, dict) else None
        ids = [str(r.get("messageId")) for r in records or [] if isinstance(r, dict)]
        letters = local.dead_letter_queue.claim(ids)
    print(json.dumps(result, indent=2, default=str))
    for message_id, letter in letters.items():
        reason = letter.reason
        print(f"sent to the dead-letter queue: {message_id}: {reason.field}: {reason.problem}")
    return 0


def _generate(kind: str) -> int:
    now = datetime.now(UTC)
    if kind == "schedule":
        event = scheduled_event(now.replace(second=0, microsecond=0), "PublisherFunctionTick")
    elif kind == "sqs":  # what the listener gets from the rule's queue
        received_ms = int(now.timestamp() * 1000)
        event = sqs_event("SessionQueue", [("1", sample_iot_event(now), received_ms, 1)])
    else:
        event = sample_iot_event(now)
    print(json.dumps(event, indent=2))
    return 0


def _dlq_list(runner: RunnerSettings, as_json: bool) -> int:
    letters = dead_letter_store(runner.local_data_dir).all()
    if as_json:
        print(json.dumps([asdict(letter) for letter in letters], indent=2))
        return 0
    for letter in letters:
        print(
            f"{letter.id[:12]}  {letter.time}  {letter.rule_name}  {letter.topic}  "
            f"attempts={letter.attempts}  {letter.error_type}: {letter.error_message[:120]}"
        )
    print(f"{len(letters)} dead letter(s) in {dead_letter_store(runner.local_data_dir).path}")
    return 0


def _deployed_dlq(stack: str, ids: list[str], replay_all: bool, list_only: bool) -> int:
    """`dlq list|replay --stack NAME`: the deployed stack's dead-letter queue and archive."""
    import boto3

    from local_runner.commands.deployed_replay import StackQueues, archived, queued, replay

    cloudformation, sqs, dynamodb = (boto3.client(s) for s in ("cloudformation", "sqs", "dynamodb"))
    stack_queues = StackQueues.of_stack(cloudformation, stack)
    letters = [
        *queued(sqs, stack_queues.dead_letter_queue_url, 30 if list_only else 300),
        *archived(dynamodb, stack_queues.table),
    ]
    if list_only:
        for letter in letters:
            print(f"{letter.id[:40]}  {letter.where}  {letter.reason[:120]}")
        print(f"{len(letters)} dead letter(s) in {stack}'s queue and archive")
        return 0
    chosen = [d for d in letters if replay_all or any(d.id.startswith(i) for i in ids)]
    results = replay(chosen, sqs, dynamodb, stack_queues)
    for result in results:
        print(f"{result.letter.id[:40]}  {result.letter.where}: {result.outcome}")
    replayed = sum(r.replayed for r in results)
    print(
        f"sent {replayed} of {len(results)} to the session queue; the listener stores each once "
        "or dead-letters it again with its reason"
    )
    return 0 if replayed == len(results) else 1


def _dlq_replay(
    runner: RunnerSettings, environ: Mapping[str, str], ids: list[str], replay_all: bool
) -> int:
    from local_runner.commands.dead_letter_replay import replay
    from local_runner.observers.progress import Progress

    store = dead_letter_store(runner.local_data_dir)
    letters = store.all()
    chosen = [d for d in letters if replay_all or any(d.id.startswith(i) for i in ids)]
    if not chosen:
        print("nothing to replay" + (f": no dead letter matches {' '.join(ids)}" if ids else ""))
        return 1 if ids else 0
    template = load_template(runner.template_path)
    with (
        _local_handlers(runner, environ, template) as local,
        Progress(len(chosen), "replay") as bar,
    ):
        results = replay(
            chosen,
            template,
            lambda name, event: local.handlers[name](event),
            store,
            progress=bar.update,
            claim=local.dead_letter_queue.claim,
        )
    for result in results:
        print(f"{result.letter.id[:12]}  {result.letter.topic}: {result.outcome}")
    replayed = sum(r.replayed for r in results)
    print(f"replayed {replayed} of {len(results)}; {len(results) - replayed} stay dead letters")
    return 0 if replayed == len(results) else 1


@contextmanager
def _id_tag_store(runner: RunnerSettings, environ: Mapping[str, str]) -> Iterator[Any]:
    """The central system's store on the local database (a running `up`'s, or one started for
    the duration): the operator at this machine edits the list directly, as the API's
    operator-key routes do deployed."""
    from evsessions.dynamodb.charge_points import CentralSystemStore
    from evsessions.dynamodb.store import create_client
    from evsessions.invocation import invoked_with
    from evsessions.settings import Settings

    template = load_template(runner.template_path)
    with (
        _local_handlers(runner, environ, template) as local,
        invoked_with(local.handlers["OcppFunction"].environment),
    ):
        settings = Settings.from_env()
        yield CentralSystemStore(settings.sessions_table, create_client(settings))


def _idtags(runner: RunnerSettings, environ: Mapping[str, str], args: argparse.Namespace) -> int:
    from evsessions.contract import format_time
    from evsessions.ocpp.idtags import IdTagError, entry_json, parse_entry, valid_tag

    if args.idtags_command != "list" and not valid_tag(args.tag):
        print("error: an id tag is 1-20 printable ASCII characters", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    if args.idtags_command == "set":
        body = {"status": args.status, "expiry_date": args.expires, "parent_id_tag": args.parent}
        try:
            entry = parse_entry({k: v for k, v in body.items() if v is not None})
        except IdTagError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    with _id_tag_store(runner, environ) as store:
        if args.idtags_command == "list":
            items, more = store.id_tags(1000)
            tags = [entry_json(str(item["sk"]), item, now) for item in items]
            if args.json:
                print(json.dumps(tags, indent=2))
                return 0
            for tag in tags:
                extra = " ".join(
                    f"{k}={tag[k]}" for k in ("expiry_date", "parent_id_tag") if tag.get(k)
                )
                print(f"{tag['id_tag']:<20}  {tag['status_now']:<8}  {extra}".rstrip())
            print(f"{len(tags)} id tag(s)" + (" (first 1000)" if more else ""))
            return 0
        if args.idtags_command == "delete":
            if not store.delete_id_tag(args.tag):
                print(f"no id tag {args.tag!r}")
                return 1
            print(f"{args.tag}: removed (it answers as an unknown tag now)")
            return 0
        store.put_id_tag(args.tag, {**entry.as_item(), "updated_at": format_time(now)})
        print(f"{args.tag}: {entry_json(args.tag, entry.as_item(), now)['status_now']}")
        return 0


@contextmanager
def _registry(runner: RunnerSettings, environ: Mapping[str, str]) -> Iterator[Any]:
    """The charger registry on the local database (a running `up`'s, or one started for the
    duration), written directly as the API's operator-key routes write it; a running system's
    broker, OCPP endpoint and publisher see a change within REGISTRY_CACHE_SECONDS."""
    from evsessions.dynamodb.registry import DynamoDBChargerRegistry
    from evsessions.dynamodb.store import create_client
    from evsessions.invocation import invoked_with
    from evsessions.settings import Settings

    template = load_template(runner.template_path)
    with _local_handlers(runner, environ, template) as local:
        function = next(name for name, spec in template.functions.items() if spec.routes)
        with invoked_with(local.handlers[function].environment):
            settings = Settings.from_env()
            yield DynamoDBChargerRegistry(settings.sessions_table, create_client(settings))


def _record_body(path: str) -> Any:
    """A record's JSON from a file, or from standard input for `-`."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def _chargers(runner: RunnerSettings, environ: Mapping[str, str], args: argparse.Namespace) -> int:
    from dataclasses import replace

    from evsessions.registry import ACTIVE, RETIRED, record_from_json, valid_charger_id

    command = args.chargers_command
    if command != "list" and not valid_charger_id(args.charger_id):
        print("error: charger_id: 1-36 letters, digits, '.', '_' or '-'", file=sys.stderr)
        return 2
    if command == "put":
        try:
            record = record_from_json(args.charger_id, _record_body(args.file))
        except (OSError, ValueError) as error:  # RegistryError and JSONDecodeError are both
            print(f"error: {error}", file=sys.stderr)
            return 2
    with _registry(runner, environ) as registry:
        if command == "list":
            records = [r for r in registry.records() if args.status in (None, r.status)]
            if args.json:
                print(json.dumps([r.as_json() for r in records], indent=2))
                return 0
            for r in records:
                place = f"{r.location.address}, {r.location.city}"
                print(
                    f"{r.charger_id:<16}  {r.status:<7}  {r.tariff_id or '-':<14}  "
                    f"{len(r.connectors)} connector(s)  {place}"
                    + ("  (simulated)" if r.simulated else "")
                )
            print(f"{len(records)} charger(s)")
            return 0
        if command == "put":
            print(json.dumps(registry.put(record).as_json(), indent=2))
            return 0
        found = registry.get(args.charger_id)
        if found is None:
            print(f"no charger {args.charger_id!r} in the registry", file=sys.stderr)
            return 1
        if command == "show":
            print(json.dumps(found.as_json(), indent=2))
            return 0
        status = RETIRED if command == "retire" else ACTIVE
        registry.put(replace(found, status=status))
        print(f"{args.charger_id}: {status}")
        return 0


Commands = argparse._SubParsersAction  # the type add_subparsers() returns


def _command(
    commands: Commands[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    """A sub-command whose one-line text is both its entry in the list and its own --help."""
    return commands.add_parser(name, help=text, description=text)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (scripts/cli_reference.py renders its help into docs/pages/cli.md)."""
    parser = argparse.ArgumentParser(
        prog="python -m local_runner", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = _command(commands, "up", "start the whole local system")
    up.add_argument(
        "--speed",
        type=_positive,
        default=1.0,
        metavar="K",
        help="run schedules K times faster: a simulated minute every 60/K seconds (default 1)",
    )
    up.add_argument(
        "--record",
        metavar="FILE",
        help="record every message the rules select to FILE (JSON lines), for `replay`",
    )
    up.add_argument(
        "--json-logs",
        action="store_true",
        help="print the functions' log records as Lambda's JSON log format does (one JSON "
        "object each, with their charger, connector, session and message ids)",
    )
    up.add_argument(
        "--outcomes",
        metavar="FILE",
        help="append what became of each message to FILE (JSON lines), for harnesses",
    )
    _command(commands, "status", "each part of the running system, up or down, and its counts")
    replay = _command(
        commands, "replay", "replay a recording (up --record) through the rules into the store"
    )
    replay.add_argument("file", help="a recording made by up --record")
    replay.add_argument(
        "--speed",
        type=_positive,
        metavar="K",
        help="keep the recorded pace, K times faster (default: as fast as the store takes it)",
    )
    invoke = _command(commands, "invoke", "call one function's handler with one event")
    invoke.add_argument("function", help="the function's logical id in template.yaml")
    invoke.add_argument("--event", required=True, help="a JSON event file, or - for standard input")
    generate = _command(commands, "generate-event", "print a sample event")
    generate.add_argument(
        "kind",
        choices=["schedule", "sqs", "iot"],
        help="schedule: the publisher's tick; sqs: a batch from the rule's queue, as the listener "
        "gets it; iot: the rule's output for one message",
    )
    dlq = _command(commands, "dlq", "list or replay dead letters")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = _command(dlq_commands, "list", "show the dead letters")
    dlq_list.add_argument("--json", action="store_true", help="every field, as JSON")
    dlq_list.add_argument(
        "--stack", metavar="NAME", help="a deployed stack's dead-letter queue and archive instead"
    )
    dlq_replay = _command(dlq_commands, "replay", "replay dead letters")
    dlq_replay.add_argument("ids", nargs="*", help="dead letter ids (a unique prefix is enough)")
    dlq_replay.add_argument("--all", action="store_true", help="replay every dead letter")
    dlq_replay.add_argument(
        "--stack",
        metavar="NAME",
        help="a deployed stack's dead letters, from its queue and archive, sent to its session "
        "queue (AWS credentials from the environment)",
    )
    idtags = _command(commands, "idtags", "list or edit the OCPP central system's id tags")
    idtags_commands = idtags.add_subparsers(dest="idtags_command", required=True)
    idtags_list = _command(idtags_commands, "list", "show each id tag and the status it answers")
    idtags_list.add_argument("--json", action="store_true", help="every field, as JSON")
    idtags_set = _command(idtags_commands, "set", "add an id tag or change its status")
    idtags_set.add_argument("tag", help="the idTag, 1-20 printable ASCII characters")
    idtags_set.add_argument("status", choices=["Accepted", "Blocked", "Expired", "Invalid"])
    idtags_set.add_argument(
        "--expires", metavar="TIME", help="ISO 8601; after it an Accepted tag answers Expired"
    )
    idtags_set.add_argument("--parent", metavar="TAG", help="the parent idTag (a fleet card)")
    idtags_delete = _command(idtags_commands, "delete", "remove an id tag")
    idtags_delete.add_argument("tag", help="the idTag")
    chargers = _command(commands, "chargers", "list or edit the charger registry")
    chargers_commands = chargers.add_subparsers(dest="chargers_command", required=True)
    chargers_list = _command(
        chargers_commands, "list", "each charger: status, tariff, connectors, where"
    )
    chargers_list.add_argument("--json", action="store_true", help="every field, as JSON")
    chargers_list.add_argument("--status", choices=["ACTIVE", "RETIRED"], help="only these")
    chargers_show = _command(chargers_commands, "show", "one charger's record, as JSON")
    chargers_show.add_argument("charger_id", help="the charger")
    chargers_put = _command(
        chargers_commands, "put", "add or replace a charger's record from a JSON file"
    )
    chargers_put.add_argument("charger_id", help="the charger")
    chargers_put.add_argument(
        "file", help="the record as PUT /registry/chargers/{id} takes it; - for standard input"
    )
    chargers_retire = _command(
        chargers_commands, "retire", "retire a charger: refused from then on, record kept"
    )
    chargers_retire.add_argument("charger_id", help="the charger")
    chargers_activate = _command(chargers_commands, "activate", "let a retired charger back in")
    chargers_activate.add_argument("charger_id", help="the charger")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    json_logs.configure(args.command == "up" and args.json_logs)
    try:
        environ = operator_environment(Path(".env"))
        runner = RunnerSettings.from_env(environ)
        if args.command == "up":
            return _up(runner, environ, args.speed, args.record, args.outcomes)
        if args.command == "status":
            return _status(runner)
        if args.command == "replay":
            return _replay_recording(runner, environ, args.file, args.speed)
        if args.command == "invoke":
            return _invoke(runner, environ, args.function, args.event)
        if args.command == "dlq" and args.stack:
            if args.dlq_command == "replay" and not args.ids and not args.all:
                parser.error("dlq replay needs dead letter ids or --all")
            list_only = args.dlq_command == "list"
            return _deployed_dlq(
                args.stack,
                getattr(args, "ids", []),
                getattr(args, "all", False),
                list_only,
            )
        if args.command == "dlq" and args.dlq_command == "list":
            return _dlq_list(runner, args.json)
        if args.command == "dlq":
            if not args.ids and not args.all:
                parser.error("dlq replay needs dead letter ids or --all")
            return _dlq_replay(runner, environ, args.ids, args.all)
        if args.command == "idtags":
            return _idtags(runner, environ, args)
        if args.command == "chargers":
            return _chargers(runner, environ, args)
        return _generate(args.kind)
    except (SettingsError, TemplateError, RecordingError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
