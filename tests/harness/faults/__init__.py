"""Fault injection: the pipeline's delivery promise (nothing lost, nothing counted twice), proved
with counts while its parts crash, stop and restart.

Each scenario gets a world of its own: mosquitto and DynamoDB Local on free ports in a temporary
folder, and the runner (`python -m local_runner up`) as a subprocess that uses them as external
parts, so the harness can kill or restart each part on its own. The harness publishes QoS 1
messages in the original challenge's format from its own persistent-session paho client and counts
a message as published only when its PUBACK arrived. It judges from what DynamoDB and the dead
letters hold, never from what the runner says it did: a message is lost when it was published but
neither stored nor dead-lettered; a row is unexpected when it was never published or differs from
what was. The runner's output only tells how many duplicates were absorbed. A negative control runs
a deliberately lossy broker: a harness that cannot see loss would prove nothing.

Every process a scenario starts is stopped when the scenario ends, however it ends.

The package, in the order a scenario uses it: `messages` (what the chargers publish), `publisher`
(the chargers), `options` (the knobs), `lab` (one scenario's world), `judging` (the counts) and
`scenarios` (the faults themselves).
"""

from __future__ import annotations

from harness.faults.judging import FaultResult, Outcomes, judge, markdown_table
from harness.faults.messages import POISON_KINDS, good_messages
from harness.faults.options import Options
from harness.faults.scenarios import LOSSY, SCENARIOS, run_scenario

__all__ = [
    "LOSSY",
    "POISON_KINDS",
    "SCENARIOS",
    "FaultResult",
    "Options",
    "Outcomes",
    "good_messages",
    "judge",
    "markdown_table",
    "run_scenario",
]
