"""`python -m local_runner`: the local emulator's command line.

up                               start everything template.yaml declares; Ctrl-C stops it all
invoke FUNCTION --event FILE     call one handler with one event, like `sam local invoke`
generate-event schedule|iot      print a sample event for a function
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from evsessions.settings import RunnerSettings, SettingsError
from local_runner.dead_letters import dead_letter_store
from local_runner.events import sample_iot_event, scheduled_event
from local_runner.template import Template, TemplateError, load_template


def _say(line: str) -> None:
    print(f"{datetime.now().strftime('%H:%M:%S')} {line}", flush=True)


def _up(runner: RunnerSettings) -> int:
    from local_runner.system import start_system

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _say(f"starting the local system from {runner.template_path}")
    system = start_system(runner, _say)
    _say("ready. Ctrl-C stops everything.")
    try:
        stop.wait()
    finally:
        _say("stopping ...")
        system.stop()
    return 0


@contextmanager
def _local_handlers(runner: RunnerSettings, template: Template) -> Iterator[dict[str, Any]]:
    """The template's handlers, wired to the local database and broker as `up` wires them.
    Uses the database of a running `up`; else starts DynamoDB Local for the duration."""
    from evsessions.settings import Settings
    from local_runner.broker import Broker
    from local_runner.database import answers, create_tables
    from local_runner.invoker import FunctionInvoker
    from local_runner.system import function_environment, start_database

    settings = Settings.from_env()
    endpoint = settings.dynamodb_endpoint_url or f"http://127.0.0.1:{runner.dynamodb_local_port}"
    database = None
    if not answers(endpoint, settings.aws_region):
        if runner.database in ("external", "moto"):
            raise RuntimeError(f"no database answers at {endpoint}; start ./dev up first")
        database = start_database(runner, settings, _say)
        endpoint = database.endpoint_url
        create_tables(endpoint, settings.aws_region, list(template.tables.values()))
    try:
        broker = Broker("configured broker", settings.mqtt_host, settings.mqtt_port, lambda: None)
        function_environment(template, endpoint, broker, data_dir=runner.local_data_dir)
        yield {name: FunctionInvoker(spec) for name, spec in template.functions.items()}
    finally:
        if database is not None:
            database.stop()


def _invoke(runner: RunnerSettings, function: str, event_path: str) -> int:
    template = load_template(runner.template_path)
    if function not in template.functions:
        raise TemplateError(
            f"no function {function!r}; the template has {', '.join(template.functions)}"
        )
    event = json.loads(Path(event_path).read_text() if event_path != "-" else sys.stdin.read())
    with _local_handlers(runner, template) as handlers:
        result: Any = handlers[function](event)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _generate(kind: str) -> int:
    now = datetime.now(UTC)
    event = (
        scheduled_event(now.replace(second=0, microsecond=0), "PublisherFunctionTick")
        if kind == "schedule"
        else sample_iot_event(now)
    )
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


def _dlq_replay(runner: RunnerSettings, ids: list[str], replay_all: bool) -> int:
    from local_runner.replay import replay

    store = dead_letter_store(runner.local_data_dir)
    letters = store.all()
    chosen = [d for d in letters if replay_all or any(d.id.startswith(i) for i in ids)]
    if not chosen:
        print("nothing to replay" + (f": no dead letter matches {' '.join(ids)}" if ids else ""))
        return 1 if ids else 0
    template = load_template(runner.template_path)
    with _local_handlers(runner, template) as handlers:
        results = replay(chosen, template, lambda name, event: handlers[name](event), store)
    for result in results:
        print(f"{result.letter.id[:12]}  {result.letter.topic}: {result.outcome}")
    replayed = sum(r.replayed for r in results)
    print(f"replayed {replayed} of {len(results)}; {len(results) - replayed} stay dead letters")
    return 0 if replayed == len(results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_runner", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the whole local system")
    invoke = commands.add_parser("invoke", help="call one function's handler with one event")
    invoke.add_argument("function", help="the function's logical id in template.yaml")
    invoke.add_argument("--event", required=True, help="a JSON event file, or - for standard input")
    generate = commands.add_parser("generate-event", help="print a sample event")
    generate.add_argument("kind", choices=["schedule", "iot"])
    dlq = commands.add_parser("dlq", help="list or replay dead letters")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_commands.add_parser("list", help="show the dead letters")
    dlq_list.add_argument("--json", action="store_true", help="every field, as JSON")
    dlq_replay = dlq_commands.add_parser("replay", help="replay dead letters")
    dlq_replay.add_argument("ids", nargs="*", help="dead letter ids (a unique prefix is enough)")
    dlq_replay.add_argument("--all", action="store_true", help="replay every dead letter")
    args = parser.parse_args(argv)
    load_dotenv(".env")
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        runner = RunnerSettings.from_env()
        if args.command == "up":
            return _up(runner)
        if args.command == "invoke":
            return _invoke(runner, args.function, args.event)
        if args.command == "dlq" and args.dlq_command == "list":
            return _dlq_list(runner, args.json)
        if args.command == "dlq":
            if not args.ids and not args.all:
                parser.error("dlq replay needs dead letter ids or --all")
            return _dlq_replay(runner, args.ids, args.all)
        return _generate(args.kind)
    except (SettingsError, TemplateError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
