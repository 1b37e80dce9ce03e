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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from evsessions.settings import RunnerSettings, SettingsError
from local_runner.events import sample_iot_event, scheduled_event
from local_runner.template import TemplateError, load_template


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


def _invoke(runner: RunnerSettings, function: str, event_path: str) -> int:
    from local_runner.invoker import FunctionInvoker

    template = load_template(runner.template_path)
    if function not in template.functions:
        raise TemplateError(
            f"no function {function!r}; the template has {', '.join(template.functions)}"
        )
    event = json.loads(Path(event_path).read_text() if event_path != "-" else sys.stdin.read())
    result: Any = FunctionInvoker(template.functions[function])(event)
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
        return _generate(args.kind)
    except (SettingsError, TemplateError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
