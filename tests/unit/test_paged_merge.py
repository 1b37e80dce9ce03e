"""The paged merge of fleet-wide reads: exact, in rounds, reading only what a page may need."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest

from evsessions.dynamodb.paged_merge import Fetch, merge_pages

T = TypeVar("T")


class Recorder:
    """Paged lists as sources; records each round of reads (which source, which cursor)."""

    def __init__(self, sources: list[list[str]], chunk: int) -> None:
        self.sources = sources
        self.chunk = chunk
        self.rounds: list[list[tuple[int, Any]]] = []
        self._round: list[tuple[int, Any]] = []

    def fetches(self) -> list[Fetch[str]]:
        def fetch_of(number: int) -> Fetch[str]:
            def fetch(cursor: Any) -> tuple[list[str], Any]:
                self._round.append((number, cursor))
                start = cursor or 0
                stop = start + self.chunk
                items = self.sources[number][start:stop]
                return items, stop if stop < len(self.sources[number]) else None

            return fetch

        return [fetch_of(n) for n in range(len(self.sources))]

    def fan_out(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        self._round = []
        results = [call() for call in calls]
        self.rounds.append(self._round)
        return results


@pytest.mark.parametrize("descending", [True, False])
def test_the_merge_is_the_first_items_of_all_sources_in_order(descending: bool) -> None:
    # GIVEN many random shapes of sorted sources, page sizes and chunks
    rng = random.Random(5)
    for _ in range(400):
        keys = [f"{rng.randrange(10**6):07d}#{n}" for n in range(rng.randrange(0, 120))]
        sources: list[list[str]] = [[] for _ in range(rng.randrange(1, 17))]
        for key in keys:
            sources[rng.randrange(len(sources))].append(key)
        for source in sources:
            source.sort(reverse=descending)
        limit = rng.randrange(1, 60)
        recorder = Recorder(sources, chunk=rng.randrange(1, 8))
        # WHEN merged
        found = merge_pages(
            recorder.fetches(), str, limit, descending=descending, fan_out=recorder.fan_out
        )
        # THEN it is exactly the first `limit` of all keys, in order
        assert found == sorted(keys, reverse=descending)[:limit]


def test_the_first_page_of_every_source_is_read_in_one_round() -> None:
    # GIVEN 16 sources WHEN a page is merged THEN the first round asks each for its first page
    sources = [[f"{n:02d}#{i}" for i in range(10)] for n in range(16)]
    recorder = Recorder([sorted(s, reverse=True) for s in sources], chunk=4)
    merge_pages(recorder.fetches(), str, 5, descending=True, fan_out=recorder.fan_out)
    assert recorder.rounds[0] == [(n, None) for n in range(16)]


def test_a_source_that_ended_is_never_asked_again() -> None:
    # GIVEN one long source and 15 that end within their first page
    sources = [[f"9{i:03d}" for i in range(100)][::-1]] + [[f"5{n:03d}"] for n in range(15)]
    recorder = Recorder(sources, chunk=4)
    # WHEN a page of 20 is merged (the long source alone fills it)
    found = merge_pages(recorder.fetches(), str, 20, descending=True, fan_out=recorder.fan_out)
    # THEN after the first round only the long source was read, a page a round
    assert found == sources[0][:20]
    assert all(read == [(0, read[0][1])] for read in recorder.rounds[1:])
    assert len(recorder.rounds) == 5


def test_sources_whose_next_items_cannot_make_the_page_are_not_read() -> None:
    # GIVEN two sources holding the newest items, and 14 whose first pages already wait with
    # more items than the page still lacks, all of them ahead of their sources' unread items
    newest = [[f"9{n}{i:03d}" for i in range(40)][::-1] for n in range(2)]
    older = [[f"1{n:02d}{i:03d}" for i in range(40)][::-1] for n in range(14)]
    recorder = Recorder(newest + older, chunk=5)
    # WHEN a page of 12 is merged
    found = merge_pages(recorder.fetches(), str, 12, descending=True, fan_out=recorder.fan_out)
    # THEN later rounds read the newest sources only (both at once, then the one still ahead)
    assert found == sorted(newest[0] + newest[1], reverse=True)[:12]
    rounds = [sorted(n for n, _ in read) for read in recorder.rounds]
    assert rounds == [list(range(16)), [0, 1], [1]]
