"""OpenAPI parameters several parts of the document share, written once."""

from __future__ import annotations

from typing import Any, Final

OPERATOR_KEY_HEADER: Final[dict[str, Any]] = {
    "name": "x-operator-key",
    "in": "header",
    "required": False,
    "description": "The OPERATOR_KEY setting.",
    "schema": {"type": "string"},
}
"""Routes that change what the system holds or a charger in the field also need the operator's
key (api.app's require_operator); a missing or wrong one is a 403."""
