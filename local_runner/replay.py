"""Replays dead letters through their rule and handler, once the cause is fixed.

A letter is evaluated by the rule that dead-lettered it (its SELECT, with the original topic and
client id) and handed to the rule's function. What succeeds leaves the dead letters; what fails
again stays, with the new reason shown. The listener's idempotent write makes a replay safe to
repeat.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_runner.bridge import invocation_event, record_outcome, reported_failures
from local_runner.dead_letters import DeadLetter, DeadLetterStore
from local_runner.iot_sql import MessageContext
from local_runner.template import RuleTrigger, Template


@dataclass(frozen=True)
class ReplayResult:
    letter: DeadLetter
    outcome: str
    replayed: bool


def _rules(template: Template) -> dict[str, tuple[str, RuleTrigger]]:
    """Rule name -> (function logical id, the rule's trigger of it)."""
    return {
        trigger.name: (function_id, trigger)
        for function_id, spec in template.functions.items()
        for trigger in spec.rules
    }


def replay(
    letters: list[DeadLetter],
    template: Template,
    invoke: Callable[[str, dict[str, Any]], Any],
    store: DeadLetterStore,
    clock: Callable[[], float] = time.time,
) -> list[ReplayResult]:
    """Replay each letter; remove the ones that went through from the store."""
    rules = _rules(template)
    results = []
    for letter in letters:
        if letter.rule_name not in rules:
            results.append(
                ReplayResult(letter, f"no rule {letter.rule_name} in the template", False)
            )
            continue
        function_id, trigger = rules[letter.rule_name]
        now_ms = int(clock() * 1000)
        context = MessageContext(letter.topic, letter.client_id, now_ms)
        try:
            event = trigger.rule.evaluate(base64.b64decode(letter.payload_base64), context)
            if event is None:
                outcome = "filtered out by WHERE"
            else:
                delivery = (letter.id, event, now_ms, 1)
                result = invoke(function_id, invocation_event(trigger.batching, [delivery]))
                failure = reported_failures(trigger.batching, result, [letter.id]).get(letter.id)
                if failure is not None:
                    raise failure
                outcome = record_outcome(result, letter.id)
        except Exception as error:
            results.append(
                ReplayResult(letter, f"failed again: {type(error).__name__}: {error}", False)
            )
            continue
        results.append(ReplayResult(letter, outcome, True))
    store.remove({r.letter.id for r in results if r.replayed})
    return results
