"""$connect authorizer (REQUEST type): a charge point connects only as itself.

OCPP 1.6 security profiles 1 and 2: HTTP Basic, username = the charge point id, password = its
own password, which here is the one the broker also knows it by: HMAC-SHA256(fleet secret, id)
(see evsessions.mqtt.identity). Only a known charger connects: one of the fleet's
1..FLEET_CHARGERS or one listed in MQTT_CHARGER_IDS, the chargers the broker knows; any other id
is refused, whatever its password. The id in the URL (`chargePointId`, put there from the path's
last segment) must be the username. The vouched-for id goes to every route of the connection as
`requestContext.authorizer.chargerId`. Deployed, API Gateway serves only wss:// (profile 2).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from typing import Any

from evsessions.contract import identifier
from evsessions.errors import InvalidSession
from evsessions.mqtt.identity import charger_password, known_charger
from evsessions.settings import Settings

log = logging.getLogger(__name__)


class Unauthorized(Exception):
    """API Gateway answers 401 when the authorizer raises exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def basic_credentials(headers: dict[str, str]) -> tuple[str, str] | None:
    value = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or len(encoded) > 512:
        return None
    try:
        username, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if colon else None


def _policy(principal: str, effect: str, resource: str) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"chargerId": principal},
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    if not settings.mqtt_fleet_secret:
        log.error("MQTT_FLEET_SECRET is not set: every charge point is refused")
        raise Unauthorized()
    credentials = basic_credentials(event.get("headers") or {})
    if credentials is None:
        log.warning("a connection without HTTP Basic credentials was refused")
        raise Unauthorized()
    username, password = credentials
    in_url = (event.get("queryStringParameters") or {}).get("chargePointId")
    try:
        charger_id = identifier(username, "username")
    except InvalidSession:
        raise Unauthorized() from None
    if not known_charger(charger_id, settings.fleet_chargers, settings.mqtt_charger_ids):
        log.warning(
            "charger %s is not known (FLEET_CHARGERS, MQTT_CHARGER_IDS): refused", charger_id
        )
        raise Unauthorized()
    expected = charger_password(settings.mqtt_fleet_secret, charger_id)
    if not hmac.compare_digest(password.encode(), expected.encode()):
        log.warning("charger %s: wrong password, refused", charger_id)
        raise Unauthorized()
    if in_url != charger_id:
        log.warning("charger %s tried to connect as %r: refused", charger_id, in_url)
        return _policy(charger_id, "Deny", event["methodArn"])
    return _policy(charger_id, "Allow", event["methodArn"])
