"""What the store's transactions did: committed, cancelled (by reason), planned again.

Counted as data for the benchmark's concurrency stage and for tests; a store keeps one set of
counts for its lifetime (a warm Lambda's, or a benchmark's)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class TransactionCounts:
    committed: int = 0
    cancelled: Counter[str] = field(default_factory=Counter)
    """One per cancelled transaction and distinct reason, e.g. `TransactionConflict`."""
    replanned: int = 0
    """Transactions planned again without a duplicate or with end times read back."""
    conflict_retries: int = 0
    """Transactions tried again unchanged after a conflict, after a jittered wait."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def commit(self) -> None:
        with self._lock:
            self.committed += 1

    def cancel(self, reasons: list[str], retried: str) -> None:
        """A cancelled transaction: its distinct reasons, and how it is `retried`
        (`replanned` or `conflict`)."""
        with self._lock:
            self.cancelled.update({reason for reason in reasons if reason != "None"})
            if retried == "replanned":
                self.replanned += 1
            elif retried == "conflict":
                self.conflict_retries += 1

    def snapshot(self) -> TransactionCounts:
        with self._lock:
            return TransactionCounts(
                self.committed, Counter(self.cancelled), self.replanned, self.conflict_retries
            )
