"""The knobs shared by every scenario."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Say = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


def _env_region() -> str:
    return os.environ.get("AWS_REGION") or "eu-north-1"


@dataclass(frozen=True)
class Options:
    """Knobs shared by every scenario; sizes are given per call."""

    seed: int = 3
    rate: float | None = 150.0
    """Publisher messages a second; None: as fast as the broker takes them."""
    kills: int = 3
    outage_seconds: float = 30.0
    broker_down_seconds: float = 4.0
    """A restart takes a moment: long enough for the clients' reconnect backoffs to diverge, so
    chargers may publish again before the bridge is back (its session must hold their messages)."""
    poison: int = 50
    lossy_queue: int = 10
    quiet_seconds: float = 20.0
    """No movement this long while short of the published count means: settled (more than the
    bridge's 10 s backoff cap, so a bridge waiting to retry is not mistaken for a finished one)."""
    timeout_seconds: float = 600.0
    """Upper bound of any one wait."""
    work_dir: Path | None = None
    keep: bool = False
    python: str = sys.executable
    region: str = field(default_factory=_env_region)
    say: Say = _quiet
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
