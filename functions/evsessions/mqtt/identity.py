"""Each charger's own MQTT identity, derived from one fleet secret.

A charger connects as username = client id = its charger id (on AWS IoT: its thing name) with the
password HMAC-SHA256(fleet secret, charger id). The broker's password file and the simulated
fleet's publisher derive the same passwords, so no per-charger file is shipped to the publisher,
and knowing one charger's password reveals nothing about another's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MqttIdentity:
    client_id: str
    username: str
    password: str | None = field(repr=False)  # secret: never in a log


def charger_password(fleet_secret: str, charger_id: str) -> str:
    digest = hmac.new(fleet_secret.encode(), f"charger:{charger_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def charger_identity(fleet_secret: str, charger_id: str) -> MqttIdentity:
    return MqttIdentity(charger_id, charger_id, charger_password(fleet_secret, charger_id))


def charger_of_topic(topic: str) -> str:
    """The charger a session topic belongs to: `charger/{id}/...` -> id."""
    parts = topic.split("/", 2)
    if len(parts) < 3 or parts[0] != "charger" or not parts[1]:
        raise ValueError(f"not a charger topic: {topic!r}")
    return parts[1]
