"""Identical reads that overlap share one: the first reads, the others wait for its answer.

The dashboard and a burst of clients ask the same fleet page at the same moment; on one
interpreter (the local server runs several requests at once) each of them would run the same 16
Queries. A caller that joins a read already under way gets an answer read at most one read's
duration before it asked (tens of milliseconds; DynamoDB's global secondary indexes, which these
reads use, are themselves only eventually consistent). Nothing is kept once the read ends: the
next caller reads again. On Lambda a container serves one request at a time, so this never joins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, TypeVar, cast

T = TypeVar("T")


class SingleFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, Future[Any]] = {}
        self.joined = 0
        """Callers that got another's answer (for tests and benchmarks)."""

    def run(self, key: Hashable, read: Callable[[], T]) -> T:
        """`read()`'s answer: this caller's own, or that of the identical read under way."""
        with self._lock:
            flight = self._flights.get(key)
            leading = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
            else:
                self.joined += 1
        if not leading:
            return cast(T, flight.result())
        try:
            answer = read()
        except BaseException as error:
            flight.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._flights[key]
        flight.set_result(answer)
        return answer
