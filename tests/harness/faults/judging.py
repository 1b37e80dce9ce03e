"""Judging a scenario from what DynamoDB and the dead letters hold: lost, unexpected, totals, and
the duplicates absorbed (from the runner's outcome records); the counts as a markdown table."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from harness.faults.messages import Expected, Message, session_topic
from local_runner.services.outcomes import ACKNOWLEDGED, Outcome


@dataclass(frozen=True)
class Outcomes:
    """What the runner's outcome records say it did with a scenario's messages, across all its
    lifetimes. An identity delivered again after it was delivered once is a duplicate absorbed
    (the store's idempotent write made the second delivery change nothing)."""

    delivered: tuple[str, ...] = ()
    """Identities delivered, each once, in order."""
    duplicates: int = 0
    dead_lettered: int = 0
    handled_topics: frozenset[str] = frozenset()
    """Every identity the runner reported an outcome for."""

    @property
    def handled(self) -> int:
        return len(self.delivered) + self.duplicates + self.dead_lettered

    def with_records(self, records: Iterable[Outcome], charger: str) -> Outcomes:
        """These counts and those of one charger's records."""
        prefix = f"charger/{charger}/"
        delivered, seen = list(self.delivered), set(self.delivered)
        duplicates, dead, topics = self.duplicates, self.dead_lettered, set(self.handled_topics)
        for record in records:
            if not record.topic.startswith(prefix):
                continue
            topics.add(record.topic)
            if record.status == "dead-lettered":
                dead += 1
            elif record.status in ACKNOWLEDGED and record.topic in seen:
                duplicates += 1
            elif record.status in ACKNOWLEDGED:
                delivered.append(record.topic)
                seen.add(record.topic)
        return Outcomes(tuple(delivered), duplicates, dead, frozenset(topics))


def row_topic(row: dict[str, Any]) -> str:
    """A stored row's identity as the topic it came from (sk: `SESSION#{connector}#{session}`,
    and `#{occurrence}` after it from the second session under a reused id on)."""
    _, connector, session, *_ = str(row["sk"]).split("#")
    return session_topic(str(row["charger_id"]), session, connector)


def _row_matches(row: dict[str, Any], expected: Expected) -> bool:
    try:
        return (
            Decimal(row["session_id"]) == expected.session_id
            and Decimal(row["energy_delivered_in_kWh"]) == expected.energy
            and Decimal(row["duration_in_seconds"]) == expected.duration
            and Decimal(row["session_cost_in_cents"]) == expected.cost
        )
    except (KeyError, ArithmeticError, TypeError, ValueError):
        return False


@dataclass
class FaultResult:
    """One scenario's counts. `published` counts PUBACKed messages only."""

    scenario: str
    published: int
    stored: int
    dead_lettered: int
    lost: int
    unexpected: int
    duplicates_absorbed: int
    seconds: float = 0.0
    unconfirmed: int = 0
    """Sent but never PUBACKed: not promised to anyone, so never counted as lost."""
    problems: list[str] = field(default_factory=list)
    """Violations the counts alone do not show (totals, reasons, a dead runner, a late fault)."""
    details: dict[str, int] = field(default_factory=dict)
    lost_sample: list[str] = field(default_factory=list)
    unexpected_sample: list[str] = field(default_factory=list)
    log_excerpt: list[str] = field(default_factory=list)

    @property
    def lossless(self) -> bool:
        return self.lost == 0 and self.unexpected == 0 and not self.problems

    def summary(self) -> str:
        """Everything a failing assertion should show."""
        return json.dumps(
            {k: v for k, v in self.__dict__.items() if v or k in ("lost", "unexpected")},
            indent=1,
            default=str,
        )


def judge(
    scenario: str,
    messages: Sequence[Message],
    confirmed: set[str],
    rows: dict[str, dict[str, Any]],
    letters: Sequence[dict[str, Any]],
    outcomes: Outcomes,
) -> FaultResult:
    """Count from the stores: lost, unexpected, and whether the totals add up."""
    sent = {m.topic: m for m in messages}
    stored = set(rows)
    dead = {str(letter.get("topic")) for letter in letters}
    lost = sorted(confirmed - stored - dead)
    unexpected = sorted(
        topic
        for topic, row in rows.items()
        if (m := sent.get(topic)) is None or m.expected is None or not _row_matches(row, m.expected)
    )
    unexpected += sorted(dead - set(sent))
    problems = []
    row_energy = sum(
        (Decimal(r.get("energy_delivered_in_kWh", 0)) for r in rows.values()), Decimal()
    )
    row_cost = sum((Decimal(r.get("session_cost_in_cents", 0)) for r in rows.values()), Decimal())
    expected = [m.expected for t in stored if (m := sent.get(t)) and m.expected]
    sent_energy = sum((e.energy for e in expected), Decimal())
    sent_cost = sum((Decimal(e.cost) for e in expected), Decimal())
    if (row_energy, row_cost) != (sent_energy, sent_cost):
        problems.append(
            f"totals differ: stored {row_energy} kWh / {row_cost} cents, published for the stored "
            f"identities {sent_energy} kWh / {sent_cost} cents"
        )
    unexplained = [x for x in letters if not x.get("error_type") or not x.get("error_message")]
    if unexplained:
        problems.append(f"{len(unexplained)} dead letters without a reason")
    good_dead = sorted(t for t in dead if (m := sent.get(t)) and m.expected)
    return FaultResult(
        scenario=scenario,
        published=len(confirmed),
        stored=len(stored),
        dead_lettered=len(dead),
        lost=len(lost),
        unexpected=len(unexpected),
        duplicates_absorbed=outcomes.duplicates,
        unconfirmed=len(set(sent) - confirmed),
        problems=problems,
        details={
            "sent": len(sent),
            "dead_letter_records": len(letters),
            "good_dead_lettered": len(good_dead),
            "poison_sent": sum(1 for m in messages if m.expected is None),
        },
        lost_sample=lost[:10],
        unexpected_sample=unexpected[:10],
    )


def markdown_table(results: Iterable[FaultResult]) -> str:
    lines = [
        "| scenario | published | stored | dead-lettered | lost | duplicates absorbed | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.published:,} | {r.stored:,} | {r.dead_lettered:,} | {r.lost:,} "
            f"| {r.duplicates_absorbed:,} | {r.seconds:.0f} |"
        )
    return "\n".join(lines)
