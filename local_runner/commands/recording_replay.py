"""Replays a recording (`observers/recorder.py`) through the template's rules into the store.

Each message goes through every rule whose topic filter selects its topic, exactly as the rule
bridge delivers it (the same SELECT/WHERE, the rule's client id, the recorded receipt time as
`timestamp()`), to the rule's function. The listener's idempotent write makes a replay safe to
repeat: what is already stored comes back as `duplicate`. At `speed` K the recorded gaps between
messages are kept, K times shorter; without it, messages go as fast as the store takes them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from local_runner.commands.dead_letter_replay import rules, through_rule
from local_runner.observers.recorder import RecordedMessage
from local_runner.services.bridge import TRANSIENT, no_letters
from local_runner.services.dead_letter_queue import SentLetter
from local_runner.services.iot_sql import MessageContext
from local_runner.services.template import Template


class ReplayInterrupted(RuntimeError):
    """A transient failure (the store is unreachable) stopped the replay part-way."""


@dataclass
class PlaybackResult:
    outcomes: Counter[str] = field(default_factory=Counter)
    """Outcome (delivered, filtered, failed; stored or duplicate from a direct Lambda action)
    -> messages."""
    failures: list[tuple[RecordedMessage, str]] = field(default_factory=list)
    unselected: int = 0
    """Messages no rule's topic filter selects."""

    @property
    def failed(self) -> int:
        return len(self.failures)


def play(
    messages: list[RecordedMessage],
    template: Template,
    invoke: Callable[[str, dict[str, Any]], Any],
    *,
    speed: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    progress: Callable[[int], None] = lambda done: None,
    letters: Callable[[list[str]], dict[str, SentLetter]] = no_letters,
) -> PlaybackResult:
    """Replay `messages` in order; `progress(done)` after each one. `letters` claims what the
    function sent to the dead-letter queue: such a message counts as failed, with the reason."""
    if speed is not None and not speed > 0:
        raise ValueError(f"speed must be a positive number, got {speed}")
    by_name = rules(template)
    result = PlaybackResult()
    started = monotonic()
    for done, message in enumerate(messages, start=1):
        if speed is not None:
            due = (message.time - messages[0].time).total_seconds() / speed
            if (ahead := due - (monotonic() - started)) > 0:
                sleep(ahead)
        selecting = [
            (name, function_id, trigger)
            for name, (function_id, trigger) in by_name.items()
            if mqtt.topic_matches_sub(trigger.rule.topic_filter, message.topic)
        ]
        if not selecting:
            result.unselected += 1
        for name, function_id, trigger in selecting:
            context = MessageContext(
                message.topic, f"iot-rule-{name}", int(message.time.timestamp() * 1000)
            )
            try:
                outcome = through_rule(
                    trigger,
                    function_id,
                    invoke,
                    message.payload,
                    context,
                    f"line-{message.line}",
                    letters,
                )
            except TRANSIENT as error:
                raise ReplayInterrupted(
                    f"stopped at line {message.line} ({done - 1} of {len(messages)} replayed): "
                    f"{error}; replaying again is safe"
                ) from error
            except Exception as error:  # bad message: counted and shown, the replay goes on
                result.failures.append((message, f"{type(error).__name__}: {error}"))
                outcome = "failed"
            result.outcomes[outcome] += 1
        progress(done)
    return result
