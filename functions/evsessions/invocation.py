"""The environment of the invocation running now: os.environ, unless the host says otherwise.

On Lambda a function's environment is its process's, and nothing here is ever set. A host that
runs several functions in one process, each with its own configuration (a local emulator, a
test), hands each call its own mapping with `invoked_with`; the settings and the AWS clients read
`environment()` instead of os.environ. A context variable, so concurrent calls on other threads
each see their own mapping, and a thread started without one sees os.environ, never another
call's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[Mapping[str, str] | None] = ContextVar("invocation_environment", default=None)


def environment() -> Mapping[str, str]:
    """The running invocation's environment: the host's mapping for it, else the process's."""
    current = _current.get()
    return os.environ if current is None else current


def given() -> bool:
    """Whether the host handed this invocation an environment of its own."""
    return _current.get() is not None


@contextmanager
def invoked_with(variables: Mapping[str, str]) -> Iterator[None]:
    """Run the block as an invocation whose environment is `variables` (and nothing else)."""
    token = _current.set(variables)
    try:
        yield
    finally:
        _current.reset(token)
