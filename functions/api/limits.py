"""The query API's limits, in one place: the app enforces them and the OpenAPI document states
them, both importing this module (neither imports the other)."""

from __future__ import annotations

from typing import Final

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
MAX_OCCURRENCE: Final = 999_999
DEFAULT_TOTALS_WINDOW_DAYS: Final = 30
MAX_BUCKETS: Final = {"hour": 31 * 24, "day": 2 * 366}
"""The widest /totals window, in buckets of each width."""
