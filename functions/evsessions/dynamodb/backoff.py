"""How long to wait before trying again a transaction that DynamoDB cancelled for a conflict.

Two listener batches in flight can touch the same item at once; DynamoDB then cancels one of
the transactions (`TransactionConflict`) without applying anything. Trying it again at once would
meet the other transaction again, so waits grow exponentially up to a cap, each drawn at random
below its bound (AWS's "full jitter"), which spreads the retries of batches that collided. The
sum of the waits is bounded too: past that budget the conflict is reported as transient, so a
batch is never held past its function's timeout. Sleep and randomness are injected, so a test
neither waits nor guesses.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConflictBackoff:
    first_seconds: float = 0.01
    cap_seconds: float = 0.5
    budget_seconds: float = 15.0
    """Half the listener's timeout (template.yaml: 30 s): a conflict resolves in milliseconds."""
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    uniform: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def waits(self) -> Iterator[float]:
        """The waits before each retry of one transaction, until the budget is spent."""
        spent, attempt = 0.0, 0
        while True:
            bound = min(self.cap_seconds, self.first_seconds * 2**attempt)
            wait = self.uniform(0.0, bound)
            if spent + wait > self.budget_seconds:
                return
            spent += wait
            attempt += 1
            yield wait
