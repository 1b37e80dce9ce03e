"""Broker identities and permissions, and the mosquitto files made from them."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest

from evsessions.mqtt.identity import (
    charger_identity,
    charger_of_topic,
    charger_password,
)
from evsessions.registry import RETIRED, MemoryChargerRegistry
from evsessions.registry_seed import listed_record, seed_records
from evsessions.settings import Settings
from local_runner.infra.broker import mosquitto_config
from local_runner.infra.broker_access import (
    BrokerAccess,
    broker_access,
    local_secret,
    mosquitto_hash,
)
from local_runner.infra.certificates import tls_files
from local_runner.infra.registry_identities import RegistryIdentities, broker_chargers

RULE = {"SessionMessagesRule": "charger/+/connector/+/session/+"}


def access(chargers: tuple[str, ...] = ("1", "2")) -> BrokerAccess:
    return BrokerAccess("fleet-secret", "bridge-password", chargers, RULE)


def test_charger_passwords_are_stable_and_independent() -> None:
    assert charger_password("s", "1") == charger_password("s", "1")
    assert charger_password("s", "1") != charger_password("s", "2")
    assert charger_password("s", "1") != charger_password("t", "1")
    identity = charger_identity("s", "7")
    assert (identity.client_id, identity.username) == ("7", "7")
    assert identity.password is not None and identity.password not in repr(identity)


def test_charger_of_topic() -> None:
    assert charger_of_topic("charger/a-1/connector/2/session/3") == "a-1"
    for bad in ("chargers/1/x", "charger//connector", "charger"):
        with pytest.raises(ValueError, match="not a charger topic"):
            charger_of_topic(bad)


def test_mosquitto_hash_matches_what_mosquitto_passwd_writes() -> None:
    # GIVEN a line `mosquitto_passwd -b` (2.0.11) wrote for alice:secret
    written = (
        "$7$101$pY5/DuYqCOuIXoNM$4kXi8ZiZmak+mg8W2EnBbxn8q9F+p4lLsAYVSYTsQa507Zee5Z48PYCqeB7E9qEPn"
        "mDbSQ5AHJ77Mb1pjo0ySg=="
    )
    salt = base64.b64decode(written.split("$")[3])
    # THEN the same password and salt hash to the same line
    assert mosquitto_hash("secret", salt) == written


def test_password_file_has_every_identity_hashed() -> None:
    lines = access().password_file().splitlines()
    assert [line.split(":")[0] for line in lines] == ["1", "2", "iot-rule-SessionMessagesRule"]
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in lines)
    assert "bridge-password" not in "\n".join(lines)


def test_acl_lets_a_charger_write_its_own_topics_and_a_bridge_read_its_rule_only() -> None:
    assert access().acl_file() == (
        "user 1\ntopic write charger/1/#\n"
        "user 2\ntopic write charger/2/#\n"
        "user iot-rule-SessionMessagesRule\ntopic read charger/+/connector/+/session/+\n"
    )
    assert "pattern" not in access().acl_file()  # a pattern would also cover the bridge's name


def test_embedded_broker_predicates() -> None:
    rules = access()
    charger_1 = rules.charger("1")
    assert rules.authenticates("1", charger_1.password)
    assert not rules.authenticates("1", "wrong")
    assert not rules.authenticates(None, None)
    assert not rules.authenticates("3", charger_password("fleet-secret", "3"))  # not registered
    assert rules.authenticates("iot-rule-SessionMessagesRule", "bridge-password")
    assert rules.may_publish("1", "charger/1/connector/1/session/1")
    assert not rules.may_publish("1", "charger/2/connector/1/session/1")
    assert not rules.may_publish("1", "charger/10/connector/1/session/1")
    assert not rules.may_publish("iot-rule-SessionMessagesRule", "charger/1/connector/1/session/1")
    assert rules.may_subscribe("iot-rule-SessionMessagesRule", RULE["SessionMessagesRule"])
    assert not rules.may_subscribe("iot-rule-SessionMessagesRule", "#")
    assert not rules.may_subscribe("1", "charger/1/#")


def test_charger_ids_must_be_identifiers_and_not_a_bridge_name() -> None:
    with pytest.raises(ValueError, match="charger id"):
        access(("bad id",))
    with pytest.raises(ValueError, match="rule bridge"):
        access(("iot-rule-SessionMessagesRule",))


def test_secrets_are_generated_once_readable_by_the_owner_only(tmp_path: Path) -> None:
    first = local_secret(tmp_path, "mqtt-fleet-secret", None)
    assert local_secret(tmp_path, "mqtt-fleet-secret", None) == first
    assert len(first) >= 40
    assert (tmp_path / "secrets" / "mqtt-fleet-secret").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700


def test_a_secret_set_in_env_wins_and_nothing_is_written(tmp_path: Path) -> None:
    made = broker_access(
        tmp_path,
        fleet_chargers=2,
        extra_chargers=("x",),
        rule_filters=RULE,
        fleet_secret="from-env-fleet",
        bridge_password="from-env-bridge",
    )
    assert (made.fleet_secret, made.bridge_password) == ("from-env-fleet", "from-env-bridge")
    assert made.charger_ids == ("1", "2", "x")
    assert not (tmp_path / "secrets").exists()


def test_mosquitto_config_is_closed_by_default(tmp_path: Path) -> None:
    config = mosquitto_config(1883, tmp_path, 8883, "0.0.0.0", tls_files(tmp_path)).splitlines()
    assert "allow_anonymous false" in config
    plain_at = config.index("listener 1883 127.0.0.1")  # plain MQTT: loopback only
    tls_at = config.index("listener 8883 0.0.0.0")
    assert "tls_version tlsv1.2" in config[tls_at:]
    # listener settings come after a listener line, each listener has them
    for setting in ("max_qos 1", "use_username_as_clientid true"):
        assert config.count(setting) == 2
        assert config.index(setting) > plain_at


def test_the_broker_knows_exactly_the_registrys_active_chargers() -> None:
    # GIVEN a registry seeded with 3 simulated chargers and x and CP-7, CP-7 since retired,
    # and a charger named like a rule bridge
    settings = Settings.from_env({"FLEET_CHARGERS": "3", "MQTT_CHARGER_IDS": "x,CP-7"})
    registry = MemoryChargerRegistry(seed_records(settings))
    registry.put(replace(listed_record("CP-7"), status=RETIRED))
    registry.put(listed_record("iot-rule-x"))
    said: list[str] = []
    # THEN the broker's chargers are the ACTIVE ones, the bridge's namesake left out with a word
    assert broker_chargers(registry.records(), said.append) == ("1", "2", "3", "x")
    assert "iot-rule-x" in said[0]


def test_identities_follow_the_registry_and_are_applied_only_on_a_change() -> None:
    # GIVEN a broker that knows charger 1, watching a registry
    registry = MemoryChargerRegistry([listed_record("1")])
    applied: list[BrokerAccess] = []
    identities = RegistryIdentities(access(("1",)), registry.records, applied.append, 30, print)
    # WHEN nothing changed THEN nothing is applied
    assert not identities.refresh() and applied == []
    # WHEN depot-7 is added and charger 1 retired
    registry.put(listed_record("depot-7"))
    registry.put(replace(listed_record("1"), status=RETIRED))
    # THEN the broker gets exactly depot-7, in its files as in its predicate
    assert identities.refresh()
    assert [a.charger_ids for a in applied] == [("depot-7",)]
    assert "user depot-7\n" in applied[0].acl_file() and "user 1\n" not in applied[0].acl_file()
    password = applied[0].charger("depot-7").password
    assert applied[0].authenticates("depot-7", password)
    assert not applied[0].authenticates("1", access().charger("1").password)
