"""Session-wide: every AWS call a handler makes in any test is recorded and must be one its
function's policy in template.yaml allows (see tests/least_privilege). A denied call fails the
run, and .local/aws-calls.json lists what each function called, allowed or not.

tests/functional/test_least_privilege.py is the complete check, on scenarios of its own that
reach every call: it also fails on grants no call needs. This hook adds the evidence of
whatever else a run exercised (the integration tests run the handlers inside the emulator).
"""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest

from tests.least_privilege.calls import RECORDER, AwsCall
from tests.least_privilege.deployment import ROOT
from tests.least_privilege.verdict import Verdict, judge

RECORDER.install()
REPORT = ROOT / ".local" / "aws-calls.json"
_recording = ExitStack()
_session_calls: list[list[AwsCall]] = []
_verdicts: list[Verdict] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _session_calls.append(_recording.enter_context(RECORDER.recording()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _recording.close()
    calls = [call for calls in _session_calls for call in calls]
    if not calls:
        return
    verdict = judge(calls)
    _verdicts.append(verdict)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(verdict.report(), indent=2) + "\n", encoding="utf-8")
    if verdict.denied and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for verdict in _verdicts:
        terminalreporter.write_line(
            f"AWS calls by handlers: {verdict.count} recorded, {len(verdict.denied)} denied by"
            f" their functions' policies in template.yaml ({REPORT.relative_to(ROOT)})"
        )
        for line in verdict.denied:
            terminalreporter.write_line(f"  DENIED {line}", red=True)
