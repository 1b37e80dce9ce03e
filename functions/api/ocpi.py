"""OCPI 2.2.1 transport, as a Sender (CPO) serves it: the response envelope, the token check,
the pagination parameters and headers. Pure: the routes are in `api.billing`.

Offered: the versions and version-details endpoints, and the CDRs module's Sender interface
(GET, paged). Not offered yet: the credentials module (a partner's token is configured, not
registered), pushing CDRs to a partner's Receiver interface, and every other module.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from evsessions.contract import format_time, parse_time
from evsessions.errors import InvalidSession

VERSION = "2.2.1"
SUCCESS = 1000
CLIENT_ERROR = 2001
"""OCPI's "generic client error": invalid or missing parameters, or an unknown token."""
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
"""The most CDRs one page holds (the X-Limit a partner is told)."""
MAX_OFFSET = 1_000_000


class OcpiRequestError(ValueError):
    """A request OCPI says to answer with a client error (the message says what to fix)."""


def envelope(
    data: Any, now: datetime, status: int = SUCCESS, message: str = "Success"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status_code": status,
        "status_message": message,
        "timestamp": format_time(now),
    }
    if data is not None:
        body["data"] = data
    return body


def token_accepted(header: str | None, configured: str | None) -> bool:
    """`Authorization: Token <token>`, the token as configured or base64-encoded (OCPI 2.2.1
    asks for base64; 2.1.1 partners send it plain). No token configured: nobody."""
    if configured is None or not header:
        return False
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "token" or not given:
        return False
    candidates = [given.strip()]
    with contextlib.suppress(binascii.Error, UnicodeDecodeError):
        candidates.append(base64.b64decode(given.strip(), validate=True).decode())
    return any(hmac.compare_digest(c.encode(), configured.encode()) for c in candidates)


@dataclass(frozen=True)
class CdrWindow:
    date_from: datetime | None
    date_to: datetime | None
    offset: int
    limit: int

    def link(self, base: str, total: int) -> str | None:
        """The `Link` header to the next page, when there is one."""
        after = self.offset + self.limit
        if after >= total:
            return None
        query: dict[str, str | int] = {"offset": after, "limit": self.limit}
        if self.date_from is not None:
            query["date_from"] = format_time(self.date_from)
        if self.date_to is not None:
            query["date_to"] = format_time(self.date_to)
        return f'<{base}?{urlencode(query)}>; rel="next"'


def _whole(raw: str, name: str, low: int, high: int) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 7) or not low <= int(raw) <= high:
        raise OcpiRequestError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _time(raw: str, name: str) -> datetime:
    try:
        return parse_time(raw, name)
    except InvalidSession as error:
        raise OcpiRequestError(str(error)) from None


def cdr_window(params: Mapping[str, str]) -> CdrWindow:
    unknown = sorted(set(params) - {"date_from", "date_to", "offset", "limit"})
    if unknown:
        raise OcpiRequestError(
            f"unknown parameter {unknown[0][:40]!r}; use date_from, date_to, offset, limit"
        )
    date_from = _time(params["date_from"], "date_from") if "date_from" in params else None
    date_to = _time(params["date_to"], "date_to") if "date_to" in params else None
    if date_from is not None and date_to is not None and date_to <= date_from:
        raise OcpiRequestError("date_to must be after date_from")
    offset = _whole(params["offset"], "offset", 0, MAX_OFFSET) if "offset" in params else 0
    limit = _whole(params["limit"], "limit", 1, MAX_LIMIT) if "limit" in params else DEFAULT_LIMIT
    return CdrWindow(date_from, date_to, offset, limit)
