"""What `up` prints: timestamped log lines, and on a terminal one live status line under them.

On a terminal the status line is redrawn in place (carriage return) and every log line is
written above it; anything else (a pipe, a file, CI) gets plain log lines only, with the status
as an ordinary log line every `log_every` seconds.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

CLEAR_LINE = "\r\033[K"


class Console:
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        live: bool | None = None,
        log_every: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.log_every = log_every
        self._monotonic = monotonic
        self._last_logged: float | None = None
        self._status = ""
        self._lock = threading.Lock()

    def say(self, line: str) -> None:
        """One log line, stamped with the wall-clock time."""
        with self._lock:
            text = f"{datetime.now().strftime('%H:%M:%S')} {line}\n"
            if self.live and self._status:
                text = CLEAR_LINE + text + self._status
            self.stream.write(text)
            self.stream.flush()

    def status(self, line: str) -> None:
        """The current status: redrawn in place on a terminal, else logged now and then."""
        if not self.live:
            now = self._monotonic()
            if self._last_logged is None or now - self._last_logged >= self.log_every:
                self._last_logged = now
                self.say(f"status: {line}")
            return
        width = shutil.get_terminal_size((120, 24)).columns - 1
        with self._lock:
            self._status = line[:width]
            self.stream.write(CLEAR_LINE + self._status)
            self.stream.flush()

    def close(self) -> None:
        """Leave the terminal on a fresh line."""
        with self._lock:
            if self.live and self._status:
                self.stream.write(CLEAR_LINE)
                self.stream.flush()
            self._status = ""
