"""The id-tag list: which idTag may charge, as Authorize, StartTransaction and StopTransaction
answer it (OCPP 1.6 IdTagInfo), and the finding a session started by a tag that is not accepted
carries.

Pure: the store keeps the entries (`OCPP#IDTAGS` / `{tag}`), the API and the runner edit them.
A tag not on the list is Accepted or Invalid as OCPP_UNKNOWN_ID_TAGS says (accepted by default:
the emulator's fleet uses any tag). A tag that is no OCPP IdToken (1-20 printable ASCII) is
Invalid whatever the setting, and never looked up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from evsessions.contract import format_time, parse_time
from evsessions.errors import InvalidSession
from evsessions.integrity import Finding, finding

STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")
_TAG = re.compile(r"[\x20-\x7e]{1,20}")
_FINDINGS = {
    "Blocked": "id_tag_blocked",
    "Expired": "id_tag_expired",
    "Invalid": "id_tag_invalid",
}


class IdTagError(ValueError):
    """An id-tag entry an operator sent that is not one (the message says what is wrong)."""


def valid_tag(tag: object) -> bool:
    return isinstance(tag, str) and bool(_TAG.fullmatch(tag))


@dataclass(frozen=True)
class IdTagEntry:
    status: str
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None

    def as_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"status": self.status}
        if self.expiry_date is not None:
            item["expiry_date"] = format_time(self.expiry_date)
        if self.parent_id_tag is not None:
            item["parent_id_tag"] = self.parent_id_tag
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> IdTagEntry:
        expiry = item.get("expiry_date")
        return cls(
            status=str(item["status"]),
            expiry_date=None if expiry is None else datetime.fromisoformat(str(expiry)),
            parent_id_tag=item.get("parent_id_tag"),
        )


def parse_entry(body: object) -> IdTagEntry:
    """An entry as an operator sends it: {"status", "expiry_date"?, "parent_id_tag"?}."""
    if not isinstance(body, Mapping):
        raise IdTagError("send a JSON object with status, and optionally expiry_date and parent")
    unknown = sorted(set(body) - {"status", "expiry_date", "parent_id_tag"})
    if unknown:
        raise IdTagError(f"unknown field {str(unknown[0])[:40]!r}")
    status = body.get("status")
    if status not in STATUSES:
        raise IdTagError(f"status must be one of {', '.join(STATUSES)}")
    expiry = body.get("expiry_date")
    try:
        expiry_date = None if expiry is None else parse_time(expiry, "expiry_date")
    except InvalidSession as error:
        raise IdTagError(str(error)) from None
    parent = body.get("parent_id_tag")
    if parent is not None and not valid_tag(parent):
        raise IdTagError("parent_id_tag must be 1-20 printable ASCII characters (OCPP IdToken)")
    return IdTagEntry(str(status), expiry_date, parent)


def status_at(entry: IdTagEntry | None, now: datetime, unknown_accepted: bool) -> str:
    """A tag's status now: an accepted tag past its expiry date is Expired."""
    if entry is None:
        return "Accepted" if unknown_accepted else "Invalid"
    if entry.status == "Accepted" and entry.expiry_date is not None and entry.expiry_date <= now:
        return "Expired"
    return entry.status


def id_tag_info(entry: IdTagEntry | None, now: datetime, unknown_accepted: bool) -> dict[str, Any]:
    """OCPP 1.6 IdTagInfo for a tag."""
    info: dict[str, Any] = {"status": status_at(entry, now, unknown_accepted)}
    if entry is not None and entry.expiry_date is not None:
        info["expiryDate"] = format_time(entry.expiry_date.astimezone(UTC))
    if entry is not None and entry.parent_id_tag is not None:
        info["parentIdTag"] = entry.parent_id_tag
    return info


def tag_finding(tag: str, status: str) -> Finding | None:
    """The finding of a transaction started by a tag with this status (None when accepted)."""
    code = _FINDINGS.get(status)
    return None if code is None else finding(code, f"idTag {tag[:20]!r} is {status}")


def entry_json(tag: str, item: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An entry as the API shows it: what is stored and the status it answers now."""
    entry = IdTagEntry.from_item(item)
    return {
        "id_tag": tag,
        **entry.as_item(),
        "status_now": status_at(entry, now, unknown_accepted=False),
        "updated_at": item.get("updated_at"),
    }
