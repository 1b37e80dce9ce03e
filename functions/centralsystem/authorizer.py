"""$connect authorizer (REQUEST type): a charge point connects only as itself.

OCPP 1.6 security profiles 1 and 2: HTTP Basic, username = the charge point id, password = its
own password, which here is the one the broker also knows it by, and only while the charger
registry has it ACTIVE: `evsessions.charger_admission`, the rule every door applies. An unknown
or RETIRED id is refused, whatever its password, and so is every id while the registry cannot be
read. The id in the URL (`chargePointId`, put there from
the path's last segment) must be the username. The vouched-for id goes to every route of the
connection as `requestContext.authorizer.chargerId`. Deployed, API Gateway serves only wss://
(profile 2).
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from evsessions.charger_admission import admitted
from evsessions.contract import identifier
from evsessions.errors import InvalidSession
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
    if not admitted(settings, charger_id, password):
        raise Unauthorized()
    if in_url != charger_id:
        log.warning("charger %s tried to connect as %r: refused", charger_id, in_url)
        return _policy(charger_id, "Deny", event["methodArn"])
    return _policy(charger_id, "Allow", event["methodArn"])
