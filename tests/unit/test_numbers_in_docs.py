"""One number, one place: each figure the code or the template defines is checked where the
README, a page of the docs site, `./dev`'s help or a docstring repeats it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from local_runner.infra.broker import MAX_INFLIGHT_MESSAGES, MAX_QUEUED_MESSAGES, mosquitto_config
from local_runner.infra.certificates import tls_files
from local_runner.services.template import QueueBatching, load_template

ROOT = Path(__file__).resolve().parents[2]
DOCS = "\n".join(
    path.read_text()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs" / "pages").glob("*.md"))]
)
"""The README and every page of the docs site: a figure may be quoted in any of them."""


def listener_batching() -> QueueBatching:
    [trigger] = load_template(ROOT / "template.yaml").functions["ListenerFunction"].rules
    assert trigger.batching is not None
    return trigger.batching


def numbers(pattern: str, text: str) -> set[int]:
    """Every number the pattern's group captures, thousands separators dropped."""
    return {int(found.replace(",", "")) for found in re.findall(pattern, text)}


def test_the_docs_state_the_templates_batch_size_in_flight_and_receive_count() -> None:
    batching = listener_batching()
    assert numbers(r"batch(?:es)? of up to (\d+(?:,\d{3})*)", DOCS) == {batching.size}
    assert numbers(r"(\d+(?:,\d{3})*) in flight", DOCS) == {batching.in_flight}
    assert numbers(r"`maxReceiveCount` \((\d+)\)", DOCS) == {batching.max_receive_count}


def test_the_docs_state_mosquittos_limits_as_the_emulator_writes_them(tmp_path: Path) -> None:
    config = mosquitto_config(1883, tmp_path, 8883, "127.0.0.1", tls_files(tmp_path))
    assert f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}" in config
    assert f"max_queued_messages {MAX_QUEUED_MESSAGES}" in config
    assert numbers(r"max_inflight_messages (\d+)", DOCS) == {MAX_INFLIGHT_MESSAGES}
    assert numbers(r"max_queued_messages (\d+)", DOCS) == {MAX_QUEUED_MESSAGES}
    assert numbers(r"queue of (\d+(?:,\d{3})*) per client", DOCS) == {MAX_QUEUED_MESSAGES}


def test_mosquitto_leaves_room_for_every_batch_in_flight() -> None:
    batching = listener_batching()
    assert batching.size * batching.in_flight <= MAX_INFLIGHT_MESSAGES < 65_536


def test_dev_help_names_the_api_benchmarks_default_sizes() -> None:
    tree = ast.parse((ROOT / "scripts" / "bench_api.py").read_text())
    [sizes] = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "DEFAULT_SIZES" for t in node.targets)
    ]
    [line] = [x for x in (ROOT / "dev").read_text().splitlines() if "./dev bench-api" in x]
    assert numbers(r"(\d{1,3}(?:,\d{3})+) ", line + " ") == set(sizes)
