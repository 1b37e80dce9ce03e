"""Who may connect as a charger: one rule for every door (the OCPP `$connect` authorizer, AWS
IoT Core's custom authorizer for MQTT, and, as files, the local broker).

A charger proves its id with its own password, HMAC-SHA256(fleet secret, id)
(`evsessions.mqtt.identity`), and is let in only while the charger registry has an ACTIVE
record of it (read through `registry_cache`, so an added or retired charger is seen within
REGISTRY_CACHE_SECONDS). The password is checked first: a wrong one costs no registry read.
"""

from __future__ import annotations

import hmac
import logging

from evsessions.errors import StorageUnavailable
from evsessions.mqtt.identity import charger_password
from evsessions.registry import valid_charger_id
from evsessions.registry_cache import cached_registry
from evsessions.settings import Settings

log = logging.getLogger(__name__)


def admitted(settings: Settings, charger_id: str, password: str) -> bool:
    """True when `charger_id` may connect with `password` now; each refusal is logged with why
    (never with a password)."""
    if not settings.mqtt_fleet_secret:
        log.error("MQTT_FLEET_SECRET is not set: every charger is refused")
        return False
    if not valid_charger_id(charger_id):
        log.warning("a charger id that no registry record can have was refused")
        return False
    expected = charger_password(settings.mqtt_fleet_secret, charger_id)
    if not hmac.compare_digest(password.encode(), expected.encode()):
        log.warning("charger %s: wrong password, refused", charger_id)
        return False
    try:
        record = cached_registry(settings).get(charger_id)
    except StorageUnavailable as error:
        log.error("charger %s refused: the charger registry is unreachable (%s)", charger_id, error)
        return False
    if record is None or not record.active:
        state = "not in the charger registry" if record is None else "retired"
        log.warning("charger %s is %s: refused", charger_id, state)
        return False
    return True
