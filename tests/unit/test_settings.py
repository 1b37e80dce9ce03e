"""One settings module: defaults < environment < explicit arguments, and .env.example in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evsessions.settings import Settings, SettingsError
from evsessions.settings import setting_names as names_of
from local_runner.runner_settings import RunnerSettings


def setting_names() -> list[str]:
    return names_of(Settings, RunnerSettings)


ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
AWS_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}


def test_defaults_without_any_environment() -> None:
    # GIVEN an empty environment
    settings = Settings.from_env({})
    # THEN the original challenge's fleet and the local broker are used
    assert settings == Settings()
    assert settings.sessions_table == "ChargingSessions"
    assert settings.aws_region == "eu-north-1"
    assert settings.dynamodb_endpoint_url is None
    assert settings.publish_transport == "mqtt"
    assert (settings.mqtt_host, settings.mqtt_port) == ("127.0.0.1", 1883)
    assert settings.publish_ack_timeout_seconds == 10.0
    assert (settings.fleet_chargers, settings.fleet_connectors_per_charger) == (1, 1)


def test_empty_values_mean_the_default() -> None:
    # GIVEN a copied .env.example with blank values
    settings = Settings.from_env({"SESSIONS_TABLE": "", "MQTT_PORT": "  ", "MQTT_USERNAME": ""})
    # THEN blanks fall back to the defaults
    assert settings.sessions_table == "ChargingSessions"
    assert settings.mqtt_port == 1883
    assert settings.mqtt_username is None


def test_environment_is_read_and_converted() -> None:
    env = {
        "SESSIONS_TABLE": "Sessions",
        "AWS_REGION": "eu-west-1",
        "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:8001",
        "PUBLISH_TRANSPORT": "IOT-DATA",
        "MQTT_HOST": "broker.local",
        "MQTT_PORT": "8883",
        "MQTT_USERNAME": "publisher",
        "MQTT_PASSWORD": "secret",
        "PUBLISH_ACK_TIMEOUT_SECONDS": "2.5",
        "FLEET_CHARGERS": "100",
        "FLEET_CONNECTORS_PER_CHARGER": "4",
        "TARIFF_AC_CENTS_PER_KWH": "40",
        "TARIFF_DC_CENTS_PER_KWH": "60",
        "SESSION_FEE_CENTS": "0",
    }
    settings = Settings.from_env(env)
    assert settings == Settings(
        sessions_table="Sessions",
        aws_region="eu-west-1",
        dynamodb_endpoint_url="http://127.0.0.1:8001",
        publish_transport="iot-data",
        mqtt_host="broker.local",
        mqtt_port=8883,
        mqtt_username="publisher",
        mqtt_password="secret",
        publish_ack_timeout_seconds=2.5,
        fleet_chargers=100,
        fleet_connectors_per_charger=4,
        tariff_ac_cents_per_kwh=40,
        tariff_dc_cents_per_kwh=60,
        session_fee_cents=0,
    )


def test_aws_default_region_is_the_fallback_for_aws_region() -> None:
    assert Settings.from_env({"AWS_DEFAULT_REGION": "us-east-1"}).aws_region == "us-east-1"
    both = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "eu-central-1"}
    assert Settings.from_env(both).aws_region == "eu-central-1"


def test_explicit_arguments_beat_the_environment() -> None:
    # GIVEN a port and table in the environment
    env = {"MQTT_PORT": "1884", "SESSIONS_TABLE": "FromEnv", "FLEET_CHARGERS": "5"}
    # WHEN the caller passes its own values
    settings = Settings.from_env(env, mqtt_port=2000, sessions_table="FromArgument")
    # THEN the arguments win and the rest still comes from the environment
    assert settings.mqtt_port == 2000
    assert settings.sessions_table == "FromArgument"
    assert settings.fleet_chargers == 5


def test_settings_are_hashable_for_caching_adapters() -> None:
    assert hash(Settings.from_env({})) == hash(Settings())
    assert Settings.from_env({"MQTT_PORT": "1"}) != Settings()


def test_from_env_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSIONS_TABLE", "FromProcess")
    assert Settings.from_env().sessions_table == "FromProcess"


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("MQTT_PORT", "abc", "not a number"),
        ("MQTT_PORT", "0", "between 1 and 65535"),
        ("MQTT_PORT", "65536", "between 1 and 65535"),
        ("MQTT_PORT", "1883.5", "whole number"),
        ("PUBLISH_ACK_TIMEOUT_SECONDS", "0", "between"),
        ("PUBLISH_ACK_TIMEOUT_SECONDS", "nan", "between"),
        ("PUBLISH_ACK_TIMEOUT_SECONDS", "inf", "between"),
        ("FLEET_CHARGERS", "0", "between"),
        ("FLEET_CHARGERS", "100001", "between"),
        ("FLEET_CONNECTORS_PER_CHARGER", "17", "between"),
        ("TARIFF_AC_CENTS_PER_KWH", "-1", "between"),
        ("TARIFF_DC_CENTS_PER_KWH", "ten", "not a number"),
        ("SESSION_FEE_CENTS", "0.5", "whole number"),
        ("PUBLISH_TRANSPORT", "carrier-pigeon", "one of mqtt, iot-data"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str, problem: str) -> None:
    # GIVEN an unusable value
    # WHEN the settings are read
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({name: value})
    # THEN the error names the variable and what is wrong
    assert str(excinfo.value).startswith(f"{name}=")
    assert problem in str(excinfo.value)


def test_settings_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="MQTT_PORT"):
        Settings.from_env({"MQTT_PORT": "x"})


# --- RunnerSettings -----------------------------------------------------------------------------


def test_runner_defaults() -> None:
    runner = RunnerSettings.from_env({})
    assert runner == RunnerSettings()
    assert runner.local_data_dir == Path(".local")
    assert runner.template_path == Path("template.yaml")
    assert (runner.api_host, runner.api_port) == ("127.0.0.1", 8000)
    assert (runner.broker, runner.database) == ("auto", "auto")
    assert runner.dynamodb_local_port == 8001
    assert runner.publish_on_start is True


def test_runner_environment_and_overrides() -> None:
    # GIVEN runner variables in the environment
    env = {
        "LOCAL_DATA_DIR": "/tmp/data",
        "TEMPLATE_PATH": "other.yaml",
        "API_HOST": "0.0.0.0",
        "API_PORT": "9000",
        "BROKER": "Embedded",
        "DATABASE": "moto",
        "DYNAMODB_LOCAL_PORT": "0",
        "PUBLISH_ON_START": "off",
    }
    # WHEN read with one explicit override
    runner = RunnerSettings.from_env(env, api_port=0)
    # THEN the environment is used and the argument wins
    assert runner.local_data_dir == Path("/tmp/data")
    assert runner.template_path == Path("other.yaml")
    assert runner.api_host == "0.0.0.0"
    assert runner.api_port == 0
    assert (runner.broker, runner.database) == ("embedded", "moto")
    assert runner.dynamodb_local_port == 0
    assert runner.publish_on_start is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("on", True), ("0", False), ("No", False)],
)
def test_publish_on_start_flag_values(raw: str, expected: bool) -> None:
    assert RunnerSettings.from_env({"PUBLISH_ON_START": raw}).publish_on_start is expected


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("PUBLISH_ON_START", "maybe", "true or false"),
        ("BROKER", "rabbitmq", "one of auto, mosquitto, embedded, external"),
        ("DATABASE", "postgres", "one of auto, dynamodb-local, moto, external"),
        ("API_PORT", "70000", "between 0 and 65535"),
        ("DYNAMODB_LOCAL_PORT", "eight", "not a number"),
    ],
)
def test_bad_runner_value_names_the_variable(name: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        RunnerSettings.from_env({name: value})
    assert str(excinfo.value).startswith(f"{name}=")
    assert problem in str(excinfo.value)


# --- .env.example -------------------------------------------------------------------------------


def env_example_keys() -> list[str]:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def test_every_setting_is_documented_in_env_example() -> None:
    # GIVEN every variable the settings read
    documented = set(env_example_keys())
    # THEN .env.example lists each of them
    missing = [name for name in setting_names() if name not in documented]
    assert missing == []


def test_env_example_lists_only_settings_and_aws_credentials() -> None:
    # GIVEN every KEY= line of .env.example
    keys = env_example_keys()
    # THEN each is read by the settings or is one of boto3's own variables
    unknown = [k for k in keys if k not in setting_names() and k not in AWS_NAMES]
    assert unknown == []
    assert len(keys) == len(set(keys)), "a variable is listed twice"


def test_setting_names_cover_both_settings_classes() -> None:
    names = setting_names()
    assert "SESSIONS_TABLE" in names
    assert "PUBLISH_ON_START" in names
    assert len(names) == len(set(names))
