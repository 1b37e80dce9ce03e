"""The integrity page's rule table is the rule list in code, row for row."""

from __future__ import annotations

import re
from pathlib import Path

from api import openapi
from evsessions.integrity import RULES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "pages" / "integrity.md"


def test_the_rule_table_is_the_code_s_rules() -> None:
    # GIVEN the rows of the page's rule table
    text = PAGE.read_text()
    table = text[text.index("## The rules") : text.index("## Which of the contract")]
    rows = re.findall(r"^\| `([a-z_]+)` \| (.+?) \|$", table, re.MULTILINE)
    # THEN they are the rules, in order, with their meanings
    assert rows == list(RULES.items())


def test_the_api_documents_every_finding_code() -> None:
    assert list(openapi.FINDING_CODES) == list(RULES)
