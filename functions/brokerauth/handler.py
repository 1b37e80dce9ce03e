"""AWS IoT Core custom authorizer: a charger connects over MQTT with its own password while the
charger registry has it ACTIVE, so adding or retiring one is a registry write on AWS too.

The rule is every door's (`evsessions.charger_admission`); the local broker applies it through
its password and ACL files. A charger connects with username `{its id}` (followed by
`?x-amz-customauthorizer-name={ChargerAuthorizerName}` unless the account's default authorizer
is this one), client id = its id, and its password; IoT Core hands this function the MQTT
username, client id and the password in base64. An admitted charger gets what `ChargerPolicy`
gives a certificate: connect as itself, publish under `charger/{its id}/connector/*/session/*`,
nothing else. IoT Core asks again every REFRESH_SECONDS, so a retired charger loses its rights
within that, and is refused at its next CONNECT within REGISTRY_CACHE_SECONDS.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from evsessions.charger_admission import admitted
from evsessions.settings import Settings

log = logging.getLogger(__name__)

REFRESH_SECONDS = 300
"""IoT Core's shortest policy refresh (300 to 86,400 s): a retirement's bound on a connection."""
DISCONNECT_SECONDS = 86_400
"""IoT Core's longest connection before the authorizer is asked afresh (300 to 86,400 s)."""
REFUSED = {"isAuthenticated": False}


def mqtt_credentials(event: dict[str, Any]) -> tuple[str, str, str] | None:
    """(charger id, client id, password) from the event's MQTT protocol data, or None."""
    mqtt = (event.get("protocolData") or {}).get("mqtt") or {}
    username, client_id, encoded = mqtt.get("username"), mqtt.get("clientId"), mqtt.get("password")
    if not (isinstance(username, str) and isinstance(client_id, str) and isinstance(encoded, str)):
        return None
    try:
        password = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return username.split("?", 1)[0], client_id, password


def principal(charger_id: str) -> str:
    """IoT Core wants an alphanumeric principal id; a charger id may hold '.', '_' or '-'."""
    return "charger" + charger_id.encode().hex()


def charger_policy(arn_prefix: str, charger_id: str) -> str:
    """`ChargerPolicy`'s statements with the charger's id in place of its thing name."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": f"{arn_prefix}:client/{charger_id}",
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": f"{arn_prefix}:topic/charger/{charger_id}/connector/*/session/*",
                },
            ],
        },
        separators=(",", ":"),
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    if not settings.iot_arn_prefix:
        log.error("IOT_ARN_PREFIX is not set: every charger is refused")
        return REFUSED
    credentials = mqtt_credentials(event)
    if credentials is None:
        log.warning("an MQTT connection without a username, client id and password was refused")
        return REFUSED
    charger_id, client_id, password = credentials
    if client_id != charger_id:
        log.warning("charger %s tried to connect with another client id: refused", charger_id)
        return REFUSED
    if not admitted(settings, charger_id, password):
        return REFUSED
    return {
        "isAuthenticated": True,
        "principalId": principal(charger_id),
        "disconnectAfterInSeconds": DISCONNECT_SECONDS,
        "refreshAfterInSeconds": REFRESH_SECONDS,
        "policyDocuments": [charger_policy(settings.iot_arn_prefix, charger_id)],
    }
