"""amqtt plugins that enforce `BrokerAccess` in the embedded broker, as mosquitto's password and
ACL files do: anonymous or unknown clients are refused, a charger publishes under its own topics
only, a rule bridge subscribes to its rule's filter and publishes nothing.

amqtt loads plugins by dotted path from its config and fills each plugin's `Config` dataclass;
both plugins share one `broker_access.LiveAccess`, so new identities (a charger added to or
retired from the registry) apply to the next CONNECT and publish without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from local_runner.infra.broker_access import BrokerAccess


class FleetAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        access: Any = None

    async def authenticate(self, *, session: Any) -> bool:
        access: BrokerAccess = self.config.access.current
        return access.authenticates(session.username, session.password)


class FleetTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        access: Any = None

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Any = None
    ) -> bool:
        access: BrokerAccess = self.config.access.current
        username = getattr(session, "username", None)
        if topic is None:
            return False
        if action == Action.PUBLISH:
            return access.may_publish(username, topic)
        if action == Action.SUBSCRIBE:
            return access.may_subscribe(username, topic)
        return True  # RECEIVE: only what a permitted subscription matched
