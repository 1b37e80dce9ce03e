"""What the chargers publish: good messages in the original challenge's format, each with what it
must become, and poison messages that must be dead-lettered for exactly one reason."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

MAX_PAYLOAD_BYTES = 128 * 1024
"""AWS IoT's payload limit: one byte more is a poison message."""

POISON_KINDS = ("bad-json", "non-utf8", "over-128kb")
"""What cannot be a session at all: dead-lettered."""
SUSPECT_KINDS = ("wrong-types", "negative-values")
"""Sessions with values no charger should send: stored suspect (billed 0 where unusable), never
dead-lettered, since the broker acknowledged them."""


@dataclass(frozen=True)
class Expected:
    """What a good message must become: one row with exactly these values."""

    session_id: int
    energy: Decimal
    duration: int
    cost: int


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    expected: Expected | None = None
    """None for a poison message: it must be dead-lettered, never stored."""
    kind: str = "good"


def session_topic(charger: str, session: int | str, connector: str = "1") -> str:
    return f"charger/{charger}/connector/{connector}/session/{session}"


def good_messages(charger: str, count: int, rng: random.Random) -> list[Message]:
    """Messages in the original challenge's format: exactly its four fields, nothing else."""
    messages = []
    for number in range(1, count + 1):
        energy = rng.randint(100, 80_000) / 1000
        duration = rng.randint(60, 12 * 3600)
        cost = rng.randint(50, 5_000)
        body = {
            "session_id": number,
            "energy_delivered_in_kWh": energy,
            "duration_in_seconds": duration,
            "session_cost_in_cents": cost,
        }
        messages.append(
            Message(
                session_topic(charger, number),
                json.dumps(body).encode(),
                Expected(number, Decimal(str(energy)), duration, cost),
            )
        )
    return messages


def poison_message(charger: str, number: int, kind: str) -> Message:
    """One message that must be dead-lettered for exactly one reason (`kind`), or for a suspect
    kind stored with the values it bills."""
    session = f"p{number}" if kind in POISON_KINDS else str(1_000_000 + number)
    valid = {
        "session_id": session,
        "energy_delivered_in_kWh": 10.5,
        "duration_in_seconds": 600,
        "session_cost_in_cents": 400,
    }
    if kind == "bad-json":
        payload = json.dumps(valid).encode()[:-20]
    elif kind == "wrong-types":
        wrong = {**valid, "energy_delivered_in_kWh": "ten", "duration_in_seconds": [1]}
        billed = Expected(int(session), Decimal(0), 0, 400)
        return Message(session_topic(charger, session), json.dumps(wrong).encode(), billed, kind)
    elif kind == "negative-values":
        negative = {**valid, "energy_delivered_in_kWh": -10.5}
        billed = Expected(int(session), Decimal(0), 600, 400)
        return Message(session_topic(charger, session), json.dumps(negative).encode(), billed, kind)
    elif kind == "non-utf8":
        payload = json.dumps(valid).encode("utf-16")  # a charger with the wrong encoding
    elif kind == "over-128kb":
        body = json.dumps(valid).encode()  # valid JSON: the size is its only fault
        payload = body + b" " * (MAX_PAYLOAD_BYTES + 1 - len(body))
    else:
        known = ", ".join((*POISON_KINDS, *SUSPECT_KINDS))
        raise ValueError(f"unknown poison kind {kind!r}; known: {known}")
    return Message(session_topic(charger, session), payload, None, kind)


def poison_messages(charger: str, count: int) -> list[Message]:
    kinds = (*POISON_KINDS, *SUSPECT_KINDS)
    return [poison_message(charger, n, kinds[n % len(kinds)]) for n in range(count)]


def interleave(
    good: Sequence[Message], bad: Iterable[Message], rng: random.Random
) -> list[Message]:
    """`bad` scattered among `good`, never last, so a good message after the last poison one shows
    the bridge survived it."""
    mixed = list(good)
    for message in bad:
        mixed.insert(rng.randrange(0, max(len(mixed), 1)), message)
    return mixed
