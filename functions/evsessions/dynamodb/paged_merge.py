"""The first items of several sorted, paged sources, merged, with the pages read in rounds.

A fleet-wide read merges a Query per shard. Reading the shards' pages one at a time costs a round
trip each; reading every shard to the end reads far more than a page. Here each round reads, all
at once (a `FanOut`), the next page of every source that could still hold one of the items the
page lacks, then hands out every item no unread page can precede. A source that ended is never
asked again, and one whose next items all fall behind the items already waiting is not asked.
Pure logic over callables: the adapter supplies the Query, tests supply lists.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from evsessions.dynamodb.fan_out import FanOut, in_order

T = TypeVar("T")

Fetch = Callable[[Any], tuple[list[T], Any]]
"""Reads one page: given the cursor (None for the first page), the page's items in merge order
and the cursor of the next page (None when the source has no more)."""


@dataclass
class _Source(Generic[T]):
    fetch: Fetch[T]
    key: Callable[[T], str]
    waiting: deque[T] = field(default_factory=deque)
    cursor: Any = None
    started: bool = False
    floor: str | None = None
    """The key of the last item read: every unread item of the source sorts behind it."""

    @property
    def open(self) -> bool:
        return not self.started or self.cursor is not None

    def read(self) -> None:
        items, self.cursor = self.fetch(self.cursor)
        self.started = True
        self.waiting.extend(items)
        if items:
            self.floor = self.key(items[-1])


def merge_pages(
    fetches: Sequence[Fetch[T]],
    key: Callable[[T], str],
    limit: int,
    descending: bool = False,
    fan_out: FanOut = in_order,
) -> list[T]:
    """The first `limit` items of the sources (each sorted by `key`, descending if said)."""

    def ahead(a: str, b: str) -> bool:
        """`a` is handed out no later than `b`."""
        return a >= b if descending else a <= b

    sources = [_Source(fetch, key) for fetch in fetches]
    found: list[T] = []
    while len(found) < limit:
        need = limit - len(found)
        wanted = _to_read(sources, need, key, ahead, descending)
        if not wanted:
            break
        fan_out([source.read for source in wanted])
        found += _safe(sources, need, key, ahead, descending)
    return found


def _to_read(
    sources: list[_Source[T]],
    need: int,
    key: Callable[[T], str],
    ahead: Callable[[str, str], bool],
    descending: bool,
) -> list[_Source[T]]:
    """The open sources whose unread items could still be among the `need` next ones: all of
    them while fewer than `need` items wait; else those whose floor is not behind the
    `need`-th waiting item (the source that stopped the last round always is)."""
    open_sources = [source for source in sources if source.open]
    waiting = _ordered([item for source in sources for item in source.waiting], key, descending)
    if len(waiting) < need:
        return open_sources
    last = key(waiting[need - 1])
    return [s for s in open_sources if s.floor is None or ahead(s.floor, last)]


def _safe(
    sources: list[_Source[T]],
    need: int,
    key: Callable[[T], str],
    ahead: Callable[[str, str], bool],
    descending: bool,
) -> list[T]:
    """Up to `need` waiting items, in order, that no unread item of an open source precedes."""
    open_sources = [source for source in sources if source.open]
    if any(source.floor is None for source in open_sources):
        return []
    floors = [source.floor for source in open_sources if source.floor is not None]
    bound = None
    if floors:
        # an item is safe when no open source's unread items can precede it: ahead of every floor
        bound = max(floors) if descending else min(floors)
    ready = _ordered(_drain(sources, bound, ahead), key, descending)
    return ready[:need]  # what does not fit fills no page: the merge then ends


def _drain(
    sources: list[_Source[T]], bound: str | None, ahead: Callable[[str, str], bool]
) -> list[T]:
    """Take out of each source the waiting items not behind `bound` (all of them if None)."""
    taken: list[T] = []
    for source in sources:
        while source.waiting and (bound is None or ahead(source.key(source.waiting[0]), bound)):
            taken.append(source.waiting.popleft())
    return taken


def _ordered(items: list[T], key: Callable[[T], str], descending: bool) -> list[T]:
    return sorted(items, key=key, reverse=descending)
