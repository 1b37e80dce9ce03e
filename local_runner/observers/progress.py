"""A progress bar for long jobs (replays, bulk loads), drawn only on a terminal.

Dependency-free on purpose: one line redrawn with a carriage return is all it takes, and a
pipe or a log file gets nothing from it (the job prints its own summary when done).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

BAR_WIDTH = 30


def render(label: str, done: int, total: int, seconds: float) -> str:
    """`label [#######.......]  45%  450/1,000  12/s  eta 46 s`."""
    share = min(1.0, done / total) if total > 0 else 1.0
    filled = round(share * BAR_WIDTH)
    rate = done / seconds if seconds > 0 else 0.0
    line = (
        f"{label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share * 100:3.0f}%  "
        f"{done:,}/{total:,}  {rate:,.0f}/s"
    )
    if 0 < done < total and rate > 0:
        line += f"  eta {(total - done) / rate:,.0f} s"
    return line


class Progress:
    def __init__(
        self,
        total: int,
        label: str,
        *,
        stream: TextIO | None = None,
        every: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.drawn = self.stream.isatty()
        self.every = every
        self.done = 0
        self._monotonic = monotonic
        self._started = monotonic()
        self._last_drawn: float | None = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def update(self, done: int) -> None:
        self.done = done
        now = self._monotonic()
        if self.drawn and (self._last_drawn is None or now - self._last_drawn >= self.every):
            self._last_drawn = now
            self._draw(now)

    def advance(self, count: int = 1) -> None:
        self.update(self.done + count)

    def close(self) -> None:
        if self.drawn:
            self._draw(self._monotonic())
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def _draw(self, now: float) -> None:
        line = render(self.label, self.done, self.total, now - self._started)
        self.stream.write("\r\033[K" + line)
        self.stream.flush()
