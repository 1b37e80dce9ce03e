"""`up --json-logs`: the functions' log records as Lambda's JSON log format writes them.

Deployed, `LoggingConfig: LogFormat: JSON` makes Lambda's Python runtime write each log record
as one JSON object: timestamp, level, message, logger, requestId, and the `extra=` fields of the
call (charger_id, session_id, message_id, ...). This formatter writes the same object locally, so
a filter or a query written against the deployed logs can be tried on the emulator's. Without the
flag, `up` keeps its human lines.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime

from local_runner.services.invoker import current_request_id

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class LambdaJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        document: dict[str, object] = {
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        request_id = current_request_id.get()
        if request_id is not None:
            document["requestId"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            error_type, error, trace = record.exc_info
            document["errorType"] = error_type.__name__
            document["errorMessage"] = str(error)
            document["stackTrace"] = traceback.format_tb(trace)
        document.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        return json.dumps(document, default=str)


def configure(json_logs: bool) -> None:
    """The root logger: human lines at WARNING, or Lambda's JSON objects at its default INFO."""
    if not json_logs:
        logging.basicConfig(
            level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        return
    handler = logging.StreamHandler()
    handler.setFormatter(LambdaJsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
