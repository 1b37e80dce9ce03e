"""The dead-letter queue's local endpoint: just enough of SQS for the deployed code's port.

Handlers reach it as they reach SQS on AWS, through botocore's `AWS_ENDPOINT_URL_SQS` and the
queue URL in `DEAD_LETTER_QUEUE_URL`; nothing deployed knows it is local. It speaks SQS's JSON
protocol for three operations: SendMessage (the listener dead-letters an invalid record),
GetQueueAttributes (the API's health route counts the dead letters: those in the emulator's
durable store plus those sent and not yet claimed) and ReceiveMessage (the archiver's daily run),
which hands out nothing: the local store keeps dead letters without expiry, so none needs
archiving before a retention drops it.

A sent letter waits in memory until the bridge that invoked the handler claims it by its
record's message id and appends it to the durable store, before it acknowledges the message: a
crash in between loses nothing, as the unacknowledged message comes back and is sent again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evsessions.dead_letters import SOURCE_MESSAGE_ID, Reason
from local_runner.services.dead_letters import DeadLetterStore

ACCOUNT = "123456789012"


@dataclass(frozen=True)
class SentLetter:
    """What a handler sent: the record's body and why."""

    body: str
    reason: Reason


class LocalDeadLetterQueue:
    def __init__(
        self, store: DeadLetterStore, queue_name: str = "DeadLetterQueue", host: str = "127.0.0.1"
    ) -> None:
        self.store = store
        self.queue_name = queue_name
        self._sent: dict[str, SentLetter] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dead-letter-queue", daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"{self.endpoint}/{ACCOUNT}/{self.queue_name}"

    def environment(self) -> dict[str, str]:
        """What a handler needs to find this queue, as on AWS."""
        return {"AWS_ENDPOINT_URL_SQS": self.endpoint, "DEAD_LETTER_QUEUE_URL": self.url}

    def start(self) -> LocalDeadLetterQueue:
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def claim(self, message_ids: list[str]) -> dict[str, SentLetter]:
        """The letters sent for these records, taken out of the queue."""
        with self._lock:
            return {m: self._sent.pop(m) for m in message_ids if m in self._sent}

    def receive(self, body: str, attributes: dict[str, Any]) -> str:
        source = str((attributes.get(SOURCE_MESSAGE_ID) or {}).get("StringValue", ""))
        message_id = str(uuid.uuid4())
        with self._lock:
            self._sent[source or message_id] = SentLetter(body, Reason.from_attributes(attributes))
        return message_id

    def count(self) -> int:
        with self._lock:
            waiting = len(self._sent)
        return waiting + self.store.count()


def _handler_for(queue: LocalDeadLetterQueue) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            target = self.headers.get("X-Amz-Target", "")
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            except ValueError:
                self._answer(HTTPStatus.BAD_REQUEST, _error("InvalidParameterValue", "not JSON"))
                return
            if target == "AmazonSQS.SendMessage":
                body = str(request.get("MessageBody", ""))
                message_id = queue.receive(body, request.get("MessageAttributes") or {})
                md5 = hashlib.md5(body.encode()).hexdigest()
                self._answer(HTTPStatus.OK, {"MessageId": message_id, "MD5OfMessageBody": md5})
            elif target == "AmazonSQS.ReceiveMessage":
                self._answer(HTTPStatus.OK, {})
            elif target == "AmazonSQS.GetQueueAttributes":
                count = str(queue.count())
                self._answer(HTTPStatus.OK, {"Attributes": {"ApproximateNumberOfMessages": count}})
            else:
                self._answer(HTTPStatus.BAD_REQUEST, _error("UnsupportedOperation", target))

        def _answer(self, status: HTTPStatus, document: dict[str, Any]) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the bridge reports what it dead-lettered."""

    return Handler


def _error(code: str, message: str) -> dict[str, str]:
    return {"__type": f"com.amazonaws.sqs#{code}", "message": message}
