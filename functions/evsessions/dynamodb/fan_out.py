"""Run a few independent reads at once, on a bounded pool that a warm container reuses.

A fleet-wide read is a Query per shard; one after another they cost sixteen round trips. The
pool is created on first use, never at import (a cold start that never reads pays nothing; the
module itself adds no import time: botocore already imports `concurrent.futures`), and it lives
as long as the process, so a warm Lambda container reuses its threads across invocations.
botocore clients are thread-safe. Each call runs in a copy of the caller's context, so it sees the
invocation's own environment (`evsessions.invocation`). A call submitted here must not itself fan
out: a worker that waits on the pool could wait on itself.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

T = TypeVar("T")

WORKERS = 16
"""One a shard: a fleet read's first round runs all at once, and no request holds more."""

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


class FanOut(Protocol):
    """Calls the given functions and returns their results in the same order; the first
    exception (in that order) is raised after every call has finished."""

    def __call__(self, calls: Sequence[Callable[[], T]]) -> list[T]: ...


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="reads")
        return _pool


def concurrently(calls: Sequence[Callable[[], T]]) -> list[T]:
    """All calls at once on the shared pool; the caller's thread runs the first itself."""
    if len(calls) <= 1:
        return [call() for call in calls]
    pool = _shared_pool()
    futures: list[Future[T]] = [
        pool.submit(contextvars.copy_context().run, call) for call in calls[1:]
    ]
    first: list[T] = []
    error: BaseException | None = None
    try:
        first.append(calls[0]())
    except BaseException as raised:  # re-raised below, once every submitted call has finished
        error = raised
    rest = []
    for future in futures:
        try:
            rest.append(future.result())
        except BaseException as raised:
            error = error or raised
    if error is not None:
        raise error
    return first + rest


def in_order(calls: Sequence[Callable[[], T]]) -> list[T]:
    """One after another in the caller's thread: for stubs that expect requests in order."""
    return [call() for call in calls]
