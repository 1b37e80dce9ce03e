"""Opaque, tamper-evident page cursors.

A cursor carries the store's resume position, a fingerprint of the query it belongs to and an
expiry, signed with HMAC-SHA256. A forged, altered, foreign or expired cursor is a client error
(400) with a message that says what to do, never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

CURSOR_LIFETIME_SECONDS = 24 * 3600
_PROCESS_SECRET = secrets.token_bytes(32)
"""Used when no CURSOR_SECRET is configured: cursors then hold within one warm process only."""


class CursorError(ValueError):
    """The cursor cannot be used; the message tells the client what to do instead."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(query: Mapping[str, Any]) -> str:
    """What a cursor is bound to: the filters of the query that produced it (not the limit)."""
    canonical = json.dumps(query, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class CursorCodec:
    def __init__(self, secret: str | None, clock: Callable[[], float] = time.time) -> None:
        self._key = secret.encode() if secret else _PROCESS_SECRET
        self._clock = clock

    def _sign(self, body: bytes) -> str:
        return _b64(hmac.new(self._key, body, hashlib.sha256).digest()[:18])

    def encode(self, position: Mapping[str, str], query: Mapping[str, Any]) -> str:
        body = json.dumps(
            {
                "p": dict(position),
                "q": fingerprint(query),
                "e": int(self._clock()) + CURSOR_LIFETIME_SECONDS,
            },
            separators=(",", ":"),
        ).encode()
        return f"{_b64(body)}.{self._sign(body)}"

    def decode(self, cursor: str, query: Mapping[str, Any]) -> dict[str, str]:
        try:
            body_text, signature = cursor.split(".")
            body = _unb64(body_text)
            # Canonical text only: base64's spare bits would let two texts carry the same bytes.
            valid = _b64(body) == body_text and hmac.compare_digest(
                self._sign(body).encode(), signature.encode()
            )
        except (ValueError, UnicodeError):
            valid = False
        if not valid:
            raise CursorError(
                "cursor is not valid: pass next_cursor from a previous response as is"
            )
        content = json.loads(body)
        if content.get("q") != fingerprint(query):
            raise CursorError(
                "cursor belongs to another query: keep the same filters while paging, or drop it"
            )
        if content.get("e", 0) < self._clock():
            raise CursorError("cursor has expired: start again without a cursor")
        position = content.get("p")
        if not isinstance(position, dict):
            raise CursorError(
                "cursor is not valid: pass next_cursor from a previous response as is"
            )
        return {str(k): str(v) for k, v in position.items()}
