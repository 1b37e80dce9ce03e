"""The capacity model reads the key design from the code and the template, not from a copy."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import capacity  # noqa: E402
import cost  # noqa: E402
from item_units import Index, item_size, units_by_place  # noqa: E402


def test_the_performance_pages_table_is_the_models_output() -> None:
    # GIVEN the capacity table of the performance page THEN it is what the model prints for the
    # same fleets
    table = capacity.docs_table()
    assert table in (ROOT / "docs" / "pages" / "performance.md").read_text(), (
        "docs/pages/performance.md's capacity table is stale: run .venv/bin/python "
        "scripts/capacity.py --docs-table"
    )


def test_every_index_of_the_template_and_the_fleet_totals_are_modelled() -> None:
    # GIVEN a fleet's peak second, planned by the store's own planner
    result = capacity.model(10_000, 20, 10)
    places = {where for where, _kind in result.partitions}
    kinds = {kind for _where, kind in result.partitions}
    # THEN the table and every index template.yaml declares are there, with the fleet's totals,
    # but the sparse ByReview, which holds only suspect sessions (none in a plausible fleet)
    declared = {i.name for i in capacity.indexes(ROOT / "template.yaml")}
    assert "ByReview" in declared
    assert places == {"table", *(declared - {"ByReview"})}
    assert any(kind.startswith("TOTALS#FLEET") for kind in kinds)


def test_the_first_limit_is_the_most_used_one_that_grows_with_the_fleet() -> None:
    result = capacity.model(1_000, 20, 10)
    first = result.first_hit()
    growing = [limit for limit in result.limits if limit.grows_with_fleet]  # and under 100%
    assert first.use == max(limit.use for limit in growing)
    assert first.hit_at(1_000) == 1_000 / first.use


def test_units_follow_dynamodb_sizes_and_projections() -> None:
    # GIVEN an item of 1,500 bytes and an index that projects only its keys
    item = {"pk": "CHARGER#1", "sk": "S#1", "g": "x", "blob": "y" * 1500}
    keys_only = Index("G", "g", ("g",), "KEYS_ONLY")
    # THEN a transactional write costs 2 units a KB, rounded up, on the table, and 1 a KB on the
    # index, which the transaction's commit propagates to as a standard write
    assert item_size(item) > 1024
    assert units_by_place(item, [keys_only]) == {"table": 4, "G": 1}
    # AND an item without the index's key is not in the index
    assert units_by_place({"pk": "a", "sk": "b"}, [keys_only]) == {"table": 2}


def test_cost_adds_up_every_part_with_overridable_prices() -> None:
    usage = cost.PerSession(write_units=10.0, lambda_seconds=0.001, lambda_invocations=0.01)
    prices = cost.Prices()
    parts = cost.breakdown(usage, prices, memory_gb=0.25)
    assert parts["DynamoDB writes"] == pytest.approx(10.0 * 0.625)
    assert parts["IoT Core messages"] == pytest.approx(1.00)
    cheaper = cost.parse_prices(["dynamodb_write_unit=0.0000003125"])
    assert cost.breakdown(usage, cheaper, 0.25)["DynamoDB writes"] == pytest.approx(3.125)
    assert replace(prices) == prices


def test_no_design_limit_below_a_million_chargers_at_twenty_sessions_a_day_and_ten_x_peak() -> None:
    # GIVEN the goal of issue 13: 1,000,000 chargers x 20 sessions a day x 10 peak
    result = capacity.model(1_000_000, 20, 10)
    # THEN every design limit (our keys, our template) is below its ceiling
    over = [limit.name for limit in result.limits if limit.kind == "design" and limit.use >= 1]
    assert over == []
    # AND what the fleet hits first lies beyond a million chargers
    assert result.first_hit().hit_at(1_000_000) > 1_000_000
