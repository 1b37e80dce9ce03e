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

from local_runner.services.bridge import (
    invocation_event,
    no_letters,
    record_outcome,
    reported_failures,
)
from local_runner.services.dead_letter_queue import SentLetter
from local_runner.services.dead_letters import DeadLetter, DeadLetterStore
from local_runner.services.iot_sql import MessageContext
from local_runner.services.template import RuleTrigger, Template


@dataclass(frozen=True)
class ReplayResult:
    letter: DeadLetter
    outcome: str
    replayed: bool


def rules(template: Template) -> dict[str, tuple[str, RuleTrigger]]:
    """Rule name -> (function logical id, the rule's trigger of it)."""
    return {
        trigger.name: (function_id, trigger)
        for function_id, spec in template.functions.items()
        for trigger in spec.rules
    }


def through_rule(
    trigger: RuleTrigger,
    function_id: str,
    invoke: Callable[[str, dict[str, Any]], Any],
    payload: bytes,
    context: MessageContext,
    message_id: str,
    letters: Callable[[list[str]], dict[str, SentLetter]] = no_letters,
) -> str:
    """One message through the rule's SELECT/WHERE and its function, as the bridge delivers it
    (alone, or as a batch of one record): the outcome (delivered, filtered, ...); raises what
    the handler raised, or why it dead-lettered or reported the record failed."""
    event = trigger.rule.evaluate(payload, context)
    if event is None:
        return "filtered"
    delivery = (message_id, event, context.received_at_ms, 1)
    result = invoke(function_id, invocation_event(trigger.batching, [delivery]))
    sent = letters([message_id])
    failure = reported_failures(trigger.batching, result, [message_id], sent).get(message_id)
    if failure is not None:
        raise failure
    return record_outcome(result)


def replay(
    letters: list[DeadLetter],
    template: Template,
    invoke: Callable[[str, dict[str, Any]], Any],
    store: DeadLetterStore,
    clock: Callable[[], float] = time.time,
    progress: Callable[[int], None] = lambda done: None,
    claim: Callable[[list[str]], dict[str, SentLetter]] = no_letters,
) -> list[ReplayResult]:
    """Replay each letter; remove the ones that went through from the store (one the handler
    dead-letters again stays, once). `progress(done)` after each letter."""
    by_name = rules(template)
    results: list[ReplayResult] = []
    for letter in letters:
        progress(len(results))
        if letter.rule_name not in by_name:
            results.append(
                ReplayResult(letter, f"no rule {letter.rule_name} in the template", False)
            )
            continue
        function_id, trigger = by_name[letter.rule_name]
        context = MessageContext(letter.topic, letter.client_id, int(clock() * 1000))
        try:
            payload = base64.b64decode(letter.payload_base64)
            outcome = through_rule(trigger, function_id, invoke, payload, context, letter.id, claim)
        except Exception as error:
            results.append(
                ReplayResult(letter, f"failed again: {type(error).__name__}: {error}", False)
            )
            continue
        results.append(ReplayResult(letter, outcome, True))
    progress(len(results))
    store.remove({r.letter.id for r in results if r.replayed})
    return results
