"""Who may use the local broker, and for what: the emulator's counterpart of AWS IoT policies.

- every charger of the simulated fleet (and any id listed in MQTT_CHARGER_IDS) has its own
  identity (see evsessions.mqtt.identity) and may publish under `charger/{its id}/#` only;
- each rule bridge, `iot-rule-{rule}`, may subscribe to what its rule selects and publish nothing;
- nobody else gets in: anonymous clients are refused.

The fleet secret and the bridges' password are generated on first run into the data folder
(mode 0600) unless .env sets MQTT_FLEET_SECRET / MQTT_BRIDGE_PASSWORD. Per-user ACL entries are
written rather than mosquitto's `pattern write charger/%u/#`, which would also let a bridge's
identity publish under `charger/{bridge name}/#`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from evsessions.contract import identifier
from evsessions.errors import InvalidSession
from evsessions.mqtt.identity import MqttIdentity, charger_identity
from local_runner.infra.certificates import write_private

BRIDGE_PREFIX = "iot-rule-"
RECORDER = BRIDGE_PREFIX + "-recorder"
"""Read-only like a bridge; no rule can have this name (logical ids have no '-')."""
MOSQUITTO_PBKDF2_ITERATIONS = 101
"""What mosquitto_passwd 2.0 writes in its `$7$` (PBKDF2-SHA512) entries."""


def local_secret(data_dir: Path, name: str, given: str | None) -> str:
    """`given` (from .env or the environment) when set, else a random secret kept in
    `{data_dir}/secrets/{name}`, created readable by its owner only."""
    if given:
        return given
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / name
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32).encode())
    return path.read_text().strip()


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """mosquitto's `$7$` password hash, the format `mosquitto_passwd` writes."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, MOSQUITTO_PBKDF2_ITERATIONS)
    encoded_salt, encoded_digest = (
        base64.b64encode(salt).decode(),
        base64.b64encode(digest).decode(),
    )
    return f"$7${MOSQUITTO_PBKDF2_ITERATIONS}${encoded_salt}${encoded_digest}"


def bridge_username(rule_name: str) -> str:
    return f"{BRIDGE_PREFIX}{rule_name}"


@dataclass(frozen=True)
class BrokerAccess:
    fleet_secret: str = field(repr=False)
    bridge_password: str = field(repr=False)
    charger_ids: tuple[str, ...]
    rule_filters: dict[str, str]
    """Rule name -> the topic filter its bridge subscribes to."""
    recorder_filters: tuple[str, ...] = ()
    """What `up --record` may read: every rule's filter, under one read-only identity."""

    _chargers: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_chargers", frozenset(self.charger_ids))
        for charger in self.charger_ids:
            try:
                identifier(charger, "charger id")
            except InvalidSession as error:
                raise ValueError(str(error)) from None
            if charger.startswith(BRIDGE_PREFIX):
                raise ValueError(f"charger id {charger!r} would share a rule bridge's name")

    def charger(self, charger_id: str) -> MqttIdentity:
        return charger_identity(self.fleet_secret, charger_id)

    def bridge(self, rule_name: str) -> MqttIdentity:
        name = bridge_username(rule_name)
        return MqttIdentity(name, name, self.bridge_password)

    def recorder(self) -> MqttIdentity:
        return MqttIdentity(RECORDER, RECORDER, self.bridge_password)

    def identities(self) -> Iterable[MqttIdentity]:
        yield from (self.charger(c) for c in self.charger_ids)
        yield from (self.bridge(r) for r in self.rule_filters)
        if self.recorder_filters:
            yield self.recorder()

    def password_file(self) -> str:
        return "".join(
            f"{i.username}:{mosquitto_hash(i.password or '')}\n" for i in self.identities()
        )

    def acl_file(self) -> str:
        lines = [f"user {c}\ntopic write charger/{c}/#\n" for c in self.charger_ids]
        lines += [
            f"user {bridge_username(rule)}\ntopic read {topic_filter}\n"
            for rule, topic_filter in self.rule_filters.items()
        ]
        if self.recorder_filters:
            lines.append(f"user {RECORDER}\n")
            lines += [f"topic read {topic_filter}\n" for topic_filter in self.recorder_filters]
        return "".join(lines)

    def may_publish(self, username: str | None, topic: str) -> bool:
        """The ACL above as a predicate, for the embedded broker."""
        return username in self._chargers and topic.startswith(f"charger/{username}/")

    def may_subscribe(self, username: str | None, topic_filter: str) -> bool:
        if username == RECORDER:
            return topic_filter in self.recorder_filters
        return any(
            username == bridge_username(rule) and topic_filter == allowed
            for rule, allowed in self.rule_filters.items()
        )

    def authenticates(self, username: str | None, password: str | None) -> bool:
        if not username or password is None:
            return False
        if username in self._chargers:
            expected = self.charger(username).password or ""
        elif username in {bridge_username(r) for r in self.rule_filters} or (
            username == RECORDER and self.recorder_filters
        ):
            expected = self.bridge_password
        else:
            return False
        return secrets.compare_digest(password.encode(), expected.encode())


@dataclass
class LiveAccess:
    """The identities the embedded broker's plugins enforce now; its `reload` replaces them."""

    current: BrokerAccess


def broker_access(
    data_dir: Path,
    *,
    fleet_chargers: int,
    extra_chargers: tuple[str, ...],
    rule_filters: dict[str, str],
    fleet_secret: str | None,
    bridge_password: str | None,
) -> BrokerAccess:
    """The rules' filters are also what the recorder of `up --record` may read."""
    fleet = tuple(str(c) for c in range(1, fleet_chargers + 1))
    return BrokerAccess(
        fleet_secret=local_secret(data_dir, "mqtt-fleet-secret", fleet_secret),
        bridge_password=local_secret(data_dir, "mqtt-bridge-password", bridge_password),
        charger_ids=tuple(dict.fromkeys((*fleet, *extra_chargers))),
        rule_filters=rule_filters,
        recorder_filters=tuple(sorted(set(rule_filters.values()))),
    )
