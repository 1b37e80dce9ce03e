"""The local broker's charger identities, kept in step with the charger registry.

On AWS a registry write is what admits a charger; locally the broker's password and ACL files
(or the embedded broker's plugins) must follow the registry too, without a restart. Every
REGISTRY_CACHE_SECONDS this reads the registry's ACTIVE chargers and, when they changed, hands
the broker new identities (mosquitto re-reads its files on SIGHUP): a charger added through the
API can connect within that bound, a retired one is refused at its next CONNECT.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from evsessions.errors import StorageUnavailable
from evsessions.registry import ChargerRecord
from local_runner.infra.broker_access import BRIDGE_PREFIX, BrokerAccess

MIN_PERIOD_SECONDS = 0.5
"""A REGISTRY_CACHE_SECONDS of 0 (read every time) still polls at this pace, not in a spin."""


def broker_chargers(records: list[ChargerRecord], say: Callable[[str], None]) -> tuple[str, ...]:
    """The ACTIVE chargers' ids; one named like a rule bridge's identity is left out (it would
    share the bridge's user in the broker's files), with a word why."""
    ids = []
    for record in records:
        if not record.active:
            continue
        if record.charger_id.startswith(BRIDGE_PREFIX):
            say(
                f"charger {record.charger_id}: ids starting {BRIDGE_PREFIX!r} are the rule "
                "bridges' on the local broker: it gets no broker identity"
            )
            continue
        ids.append(record.charger_id)
    return tuple(ids)


class RegistryIdentities:
    """A thread that keeps `apply`'d broker identities equal to the registry's ACTIVE chargers."""

    def __init__(
        self,
        access: BrokerAccess,
        read: Callable[[], list[ChargerRecord]],
        apply: Callable[[BrokerAccess], None],
        period_seconds: float,
        say: Callable[[str], None],
    ) -> None:
        self.access = access
        self.read = read
        self.apply = apply
        self.period_seconds = max(period_seconds, MIN_PERIOD_SECONDS)
        self.say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-identities", daemon=True)

    def refresh(self) -> bool:
        """One look at the registry; True when the broker got new identities."""
        try:
            chargers = broker_chargers(self.read(), self.say)
        except StorageUnavailable as error:
            self.say(f"broker identities: the charger registry is unreachable ({error}); kept")
            return False
        if chargers == self.access.charger_ids:
            return False
        added = sorted(set(chargers) - set(self.access.charger_ids))
        removed = sorted(set(self.access.charger_ids) - set(chargers))
        self.access = replace(self.access, charger_ids=chargers)
        self.apply(self.access)
        self.say(
            "broker identities from the charger registry: "
            + ", ".join(
                part
                for part in (
                    f"added {' '.join(added)}" if added else "",
                    f"removed {' '.join(removed)}" if removed else "",
                )
                if part
            )
        )
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.period_seconds):
            try:
                self.refresh()
            except Exception as error:  # keep watching: one bad pass must not end the thread
                self.say(f"broker identities: refresh failed: {error!r}")

    def start(self) -> RegistryIdentities:
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
