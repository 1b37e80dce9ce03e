"""The six scenarios, each a fault injected into its own Lab, and the table that names them."""

from __future__ import annotations

from collections.abc import Callable

from harness.faults.judging import FaultResult
from harness.faults.lab import Lab
from harness.faults.messages import POISON_KINDS, good_messages, interleave, poison_messages
from harness.faults.options import Options
from harness.faults.publisher import Publisher


def _spread_rate(size: int, seconds: float, options: Options) -> float:
    """A rate that spreads `size` messages over about `seconds`, so the chargers keep publishing
    through a fault: never faster than `options.rate`, never slower than 10 a second."""
    return min(options.rate or 1e9, max(10.0, size / seconds))


def _await_pubacks(publisher: Publisher, options: Options, problems: list[str]) -> None:
    """Until everything sent was PUBACKed; running out of time is noted, not raised."""
    if not publisher.finish(options.timeout_seconds):
        problems.append("the publisher did not get every PUBACK in time")


def bridge_sigkill(size: int, options: Options) -> FaultResult:
    """The runner (bridge and listener) SIGKILLed `kills` times at random points of the stream and
    restarted each time; the broker keeps its persistent session and redelivers what was unacked."""
    with Lab("bridge-sigkill", options) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            publisher.send(messages, options.rate)
            points = sorted(lab.rng.sample(range(size // 10, size * 9 // 10), options.kills))
            for number, point in enumerate(points, 1):
                lab.wait_for_stored(point, problems, f"kill {number}")
                lab.sleep(lab.rng.uniform(0, 0.5))
                lab.kill_runner()
                lab.note(f"SIGKILLed the runner after {len(lab.outcomes().delivered)} delivered")
                lab.start_runner()
            _await_pubacks(publisher, options, problems)
            return lab.result(messages, publisher, problems)


def dynamodb_outage(size: int, options: Options) -> FaultResult:
    """DynamoDB Local stopped (SIGTERM) for `outage_seconds` mid-stream, then restarted on the same
    port and data: the bridge must retry unacknowledged, and lose nothing."""
    with Lab("dynamodb-outage", options) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            # slow enough that chargers keep publishing through the outage
            publisher.send(messages, _spread_rate(size, options.outage_seconds + 10, options))
            lab.wait_for_stored(size // 4, problems, "outage")
            lab.stop_database()
            lab.note(f"stopped DynamoDB Local after {len(lab.outcomes().delivered)} delivered")
            lab.sleep(options.outage_seconds)
            lab.start_database()
            lab.note(f"restarted DynamoDB Local; {publisher.sent} sent so far")
            _await_pubacks(publisher, options, problems)
            return lab.result(messages, publisher, problems)


def broker_restart(size: int, options: Options) -> FaultResult:
    """mosquitto stopped gracefully (SIGTERM) mid-stream and started again with the same
    configuration and persistence: both clients reconnect to their persistent sessions.

    The chargers publish through the restart (a third sent before it, the rest over ~10 s after),
    and their reconnect backoff (1, 2, 2 s) beats the bridge's (1, 2, 4 s): for a couple of seconds
    the broker takes messages for a bridge that is not back yet. Only the bridge's persisted
    session (its subscription and queue) carries them."""
    with Lab("broker-restart", options) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            publisher.send(messages, _spread_rate(size, 15, options))
            if not lab.wait(lambda: publisher.sent >= size // 3, options.timeout_seconds):
                problems.append("restart: the publisher stalled; the fault came late")
            lab.stop_broker()
            lab.note(f"stopped mosquitto after {len(lab.outcomes().delivered)} delivered")
            lab.sleep(options.broker_down_seconds)
            lab.start_broker()
            lab.note(f"restarted mosquitto; {publisher.sent} sent so far")
            _await_pubacks(publisher, options, problems)
            return lab.result(messages, publisher, problems)


def poison(size: int, options: Options) -> FaultResult:
    """`options.poison` bad messages among `size` good ones: bad JSON, non-UTF-8 and over 128 KB
    each dead-lettered with its reason; wrong types and negative values stored suspect with the
    values they bill; the good ones stored; the runner alive throughout."""
    with Lab("poison", options) as lab:
        good = good_messages(lab.charger, size, lab.rng)
        messages = interleave(good, poison_messages(lab.charger, options.poison), lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            publisher.send(messages, options.rate)
            _await_pubacks(publisher, options, problems)
            result = lab.result(messages, publisher, problems)
            letters = lab.dead_letters()
            kinds = {m.topic: m.kind for m in messages if m.expected is None}
            for kind in POISON_KINDS:
                result.details[f"dead_lettered_{kind}"] = len(
                    {x["topic"] for x in letters if kinds.get(x["topic"]) == kind}
                )
            return result


def dynamodb_sigkill(size: int, options: Options) -> FaultResult:
    """DynamoDB Local SIGKILLed after some writes were acknowledged, restarted on the same data:
    every acknowledged row must still be there, unchanged, and then everything must arrive."""
    with Lab("dynamodb-sigkill", options) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            publisher.send(messages, options.rate)
            lab.wait_for_stored(size // 3, problems, "kill")
            before = lab.rows()
            lab.kill_database()
            # A `stored` line means DynamoDB acknowledged that write, and it is dead now: every
            # such line, read after the kill, is an acknowledged write from before it.
            acknowledged = set(before) | set(lab.outcomes().delivered)
            lab.note(f"SIGKILLed DynamoDB Local with {len(acknowledged)} acknowledged rows")
            lab.sleep(2)
            lab.start_database()
            after = lab.rows()
            missing = sorted(acknowledged - set(after))
            changed = sorted(t for t, row in before.items() if t in after and after[t] != row)
            if missing:
                problems.append(
                    f"{len(missing)} acknowledged rows gone after the restart: {missing[:5]}"
                )
            if changed:
                problems.append(f"{len(changed)} rows changed across the restart: {changed[:5]}")
            _await_pubacks(publisher, options, problems)
            result = lab.result(messages, publisher, problems)
            result.details["acknowledged_before_kill"] = len(acknowledged)
            result.details["missing_after_restart"] = len(missing)
            return result


def lossy_control(size: int, options: Options) -> FaultResult:
    """The negative control: mosquitto queues only `lossy_queue` messages for the offline bridge
    (and drops the rest while still sending PUBACKs). The harness must report the loss."""
    with Lab("lossy-control", options, lossy_broker=True) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)  # the bridge's persistent session now exists
        lab.stop_runner()
        lab.note("runner stopped; publishing to its offline session")
        with lab.publisher() as publisher:
            publisher.send(messages, None)  # nobody is consuming: no point in pacing
            _await_pubacks(publisher, options, problems)
            lab.start_runner()
            return lab.result(messages, publisher, problems)


Scenario = Callable[[int, Options], FaultResult]

SCENARIOS: dict[str, Scenario] = {
    "bridge-sigkill": bridge_sigkill,
    "dynamodb-outage": dynamodb_outage,
    "broker-restart": broker_restart,
    "poison": poison,
    "dynamodb-sigkill": dynamodb_sigkill,
    "lossy-control": lossy_control,
}
LOSSY = frozenset({"lossy-control"})
"""Scenarios that must show loss."""


def run_scenario(name: str, size: int, options: Options | None = None) -> FaultResult:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name](size, options or Options())
