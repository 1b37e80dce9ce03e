"""The fields every log event about one session carries, as `extra=` of the logging call.

Lambda's JSON log format puts a logging call's `extra` keys into the event's JSON object, so an
operator filters a function's logs on `charger_id`, `session_id` or the queue's `message_id`
(CloudWatch Logs Insights: `filter charger_id = "17"`) instead of matching message text.
"""

from __future__ import annotations

from evsessions.contract import SessionKey


def session_fields(
    key: SessionKey | None, message_id: str | None = None, **more: str
) -> dict[str, str]:
    """charger_id, connector_id, session_id (when the session is known), message_id, and more."""
    fields = {}
    if key is not None:
        fields = {
            "charger_id": key.charger_id,
            "connector_id": key.connector_id,
            "session_id": key.session_id,
        }
    if message_id is not None:
        fields["message_id"] = message_id
    return {**fields, **more}
