"""The shared read pool: calls at once, results in order, errors raised, created on first use."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from evsessions.dynamodb import fan_out

ROOT = Path(__file__).resolve().parents[2]


def test_calls_run_at_once_and_results_keep_their_order() -> None:
    # GIVEN 16 calls that each return only once all 16 have started (or fail after 10 s)
    started = threading.Barrier(16, timeout=10)

    def call(number: int) -> int:
        started.wait()
        return number

    # WHEN they fan out THEN they all ran at once, and the results are in call order
    results = fan_out.concurrently([lambda n=n: call(n) for n in range(16)])  # type: ignore[misc]
    assert results == list(range(16))


def test_an_error_is_raised_after_every_call_finished() -> None:
    # GIVEN a call that fails and a slower one that succeeds
    finished = threading.Event()

    def slow() -> int:
        finished.wait(0.2)
        finished.set()
        return 1

    def failing() -> int:
        raise RuntimeError("shard 3 failed")

    # WHEN they fan out THEN the error surfaces, and the other call had finished by then
    with pytest.raises(RuntimeError, match="shard 3"):
        fan_out.concurrently([failing, slow])
    assert finished.is_set()


def test_the_pool_is_bounded_and_reused() -> None:
    fan_out.concurrently([lambda: 1, lambda: 2])
    pool = fan_out._pool
    fan_out.concurrently([lambda: 1, lambda: 2])
    assert pool is not None and fan_out._pool is pool
    assert pool._max_workers == fan_out.WORKERS == 16


def test_importing_the_api_and_store_creates_no_pool_or_thread() -> None:
    # GIVEN a fresh interpreter WHEN the API app and the store are imported THEN no pool exists
    code = (
        "import threading, evsessions.dynamodb.store, api.app\n"
        "from evsessions.dynamodb import fan_out\n"
        "assert fan_out._pool is None, 'pool created at import'\n"
        "assert not [t for t in threading.enumerate() if t.name.startswith('reads')]\n"
    )
    paths = [str(ROOT / "functions")]
    env = {"PYTHONPATH": ":".join(paths), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_each_call_sees_the_callers_invocation_environment() -> None:
    # GIVEN an invocation with its own environment WHEN its reads fan out
    from evsessions import invocation

    with invocation.invoked_with({"SESSIONS_TABLE": "mine"}):
        seen = fan_out.concurrently(
            [lambda: invocation.environment().get("SESSIONS_TABLE") for _ in range(4)]
        )
    # THEN every call, on whichever thread, saw that environment
    assert seen == ["mine"] * 4
