"""Golden tests for the local AWS IoT rules-engine SQL emulation.

Most cases follow the examples of the AWS IoT SQL reference (version
2016-03-23) so that the local bridge produces the same Lambda events as AWS.
"""

import json
from typing import Any

import pytest

from local_runner.services.iot_sql import (
    MessageContext,
    PayloadNotJson,
    RuleSqlError,
    parse_rule,
    topic_matches,
)

CTX = MessageContext(topic="topic/subtopic", client_id="client-7", received_at_ms=1_700_000_000_123)
COLOR_PAYLOAD = {"color": "red", "temperature": 100}


def run(sql: str, payload: Any, topic: str = "topic/subtopic") -> dict[str, Any] | None:
    """Parse and evaluate in one go; dict payloads are JSON-encoded."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ctx = MessageContext(topic=topic, client_id=CTX.client_id, received_at_ms=CTX.received_at_ms)
    return parse_rule(sql).evaluate(raw, ctx, new_uuid=lambda: "uuid-1")


def sql_error(sql: str) -> RuleSqlError:
    with pytest.raises(RuleSqlError) as excinfo:
        parse_rule(sql)
    return excinfo.value


# --- SELECT clause, AWS reference examples ---------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM 'topic/subtopic'", {"color": "red", "temperature": 100}),
        ("SELECT color FROM 'topic/subtopic'", {"color": "red"}),
        ("SELECT color AS my_color FROM 'topic/subtopic'", {"my_color": "red"}),
        (
            "SELECT color, temperature FROM 'topic/subtopic'",
            {"color": "red", "temperature": 100},
        ),
        (
            "SELECT *, 15 AS speed FROM 'topic/subtopic'",
            {"color": "red", "temperature": 100, "speed": 15},
        ),
    ],
)
def test_select_clause_matches_aws_reference_examples(sql: str, expected: dict[str, Any]) -> None:
    # GIVEN the reference payload {"color": "red", "temperature": 100}
    # WHEN the reference SELECT runs
    result = run(sql, COLOR_PAYLOAD)
    # THEN the output is the documented one
    assert result == expected


def test_project_rule_merges_payload_then_topic_and_timestamp() -> None:
    # GIVEN the project's own rule and a charging-session message
    rule = parse_rule(
        "SELECT *, topic() AS topic, timestamp() AS received_at "
        "FROM 'charger/+/connector/+/session/+'"
    )
    message = {
        "session_id": 1,
        "energy_delivered_in_kWh": 30,
        "duration_in_seconds": 45,
        "session_cost_in_cents": 70,
    }
    ctx = MessageContext("charger/1/connector/1/session/1", "charger-1", 1_717_171_717_171)
    # WHEN it is evaluated
    result = rule.evaluate(json.dumps(message).encode(), ctx)
    # THEN payload fields come first, then the added items, ints stay ints
    assert result == {
        **message,
        "topic": "charger/1/connector/1/session/1",
        "received_at": 1_717_171_717_171,
    }
    assert result is not None
    assert list(result) == [*message, "topic", "received_at"]
    assert rule.topic_filter == "charger/+/connector/+/session/+"
    assert rule.sql.startswith("SELECT *, topic()")


def test_nested_field_is_keyed_by_its_last_segment() -> None:
    # GIVEN a shadow-like nested document
    payload = {
        "state": {"desired": {"color": "green"}},
        "color": {"red": 255, "green": 0},
    }
    # WHEN nested fields are selected with and without alias
    result = run(
        "SELECT state.desired.color, color.red AS red_value FROM 'topic/subtopic'",
        payload,
    )
    # THEN the unaliased key is the last path segment
    assert result == {"color": "green", "red_value": 255}


def test_absent_fields_are_omitted_but_null_is_kept() -> None:
    # GIVEN {"foo": null}: foo is Null, bar is Undefined
    # WHEN both, and a path through a non-object, are selected
    result = run("SELECT foo, bar, foo.deeper FROM 'topic/subtopic'", {"foo": None})
    # THEN only the Null survives
    assert result == {"foo": None}


def test_added_item_overrides_payload_key_in_place() -> None:
    # GIVEN SELECT * followed by an alias equal to a payload key
    result = run("SELECT *, 'blue' AS color FROM 'topic/subtopic'", COLOR_PAYLOAD)
    # THEN the later item wins
    assert result == {"color": "blue", "temperature": 100}


def test_literals_and_quoted_strings() -> None:
    # GIVEN literals of every kind, including a doubled quote inside a string
    sql = (
        "SELECT 'O''Reilly' AS name, \"dq\" AS dq, true AS t, FALSE AS f, null AS n, "
        "1.5 AS dec, 2e3 AS sci FROM 'topic/subtopic'"
    )
    # WHEN evaluated on any payload
    result = run(sql, b"\x00binary")
    # THEN each literal keeps its JSON type
    assert result == {
        "name": "O'Reilly",
        "dq": "dq",
        "t": True,
        "f": False,
        "n": None,
        "dec": 1.5,
        "sci": 2000.0,
    }


def test_keywords_are_case_insensitive_and_double_quoted_topic_is_accepted() -> None:
    # GIVEN lower-case keywords and a double-quoted FROM topic
    rule = parse_rule('select color as c from "topic/subtopic" where temperature > 1')
    # WHEN evaluated
    result = rule.evaluate(json.dumps(COLOR_PAYLOAD).encode(), CTX)
    # THEN it behaves like the upper-case form
    assert result == {"c": "red"}
    assert rule.topic_filter == "topic/subtopic"


# --- functions ---------------------------------------------------------------


def test_topic_n_returns_one_based_segment() -> None:
    # GIVEN a wildcard level in the filter
    # WHEN topic(2) is selected
    result = run("SELECT topic(2) AS id FROM 'a/+/b'", {}, topic="a/42/b")
    # THEN the second level is returned as a string
    assert result == {"id": "42"}


def test_topic_n_on_aws_reserved_topic() -> None:
    # GIVEN the reference shadow example on a $aws topic
    sql = "SELECT topic(3) AS thing_name FROM '$aws/things/+/shadow/update'"
    # WHEN a shadow update arrives
    result = run(sql, {}, topic="$aws/things/heater-3/shadow/update")
    # THEN the thing name is extracted
    assert result == {"thing_name": "heater-3"}


@pytest.mark.parametrize("index", ["0", "4", "-1", "1.5", "'x'"])
def test_topic_n_out_of_range_or_not_integer_is_undefined(index: str) -> None:
    # GIVEN a three-level topic
    # WHEN topic(n) has no such level
    result = run(f"SELECT topic({index}) AS level, 1 AS one FROM 'a/+/b'", {}, topic="a/1/b")
    # THEN the key is dropped and the rest survives
    assert result == {"one": 1}


def test_context_functions_use_injected_values() -> None:
    # GIVEN a context and an injected uuid generator
    rule = parse_rule(
        "SELECT topic() AS t, clientid() AS c, timestamp() AS ts, newuuid() AS id FROM '#'"
    )
    # WHEN evaluated
    result = rule.evaluate(b"{}", CTX, new_uuid=lambda: "fixed-uuid")
    # THEN each function reads the context or the generator
    assert result == {
        "t": "topic/subtopic",
        "c": "client-7",
        "ts": 1_700_000_000_123,
        "id": "fixed-uuid",
    }


def test_default_newuuid_is_a_fresh_uuid4() -> None:
    # GIVEN no injected generator
    rule = parse_rule("SELECT newuuid() AS id FROM '#'")
    # WHEN evaluated twice
    first, second = rule.evaluate(b"", CTX), rule.evaluate(b"", CTX)
    # THEN two different canonical uuid4 strings come back
    assert first is not None and second is not None
    assert first["id"] != second["id"]
    assert len(first["id"]) == 36 and first["id"][14] == "4"


# --- arithmetic ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("temperature", "fahrenheit"),
    [(100, 212), (37.5, 99.5), (-40, -40)],
)
def test_celsius_to_fahrenheit(temperature: float, fahrenheit: float) -> None:
    # GIVEN the reference conversion expression
    sql = "SELECT temperature * 9 / 5 + 32 AS f FROM 'topic/subtopic'"
    # WHEN evaluated
    result = run(sql, {"temperature": temperature})
    # THEN the value and its int/float type match
    assert result == {"f": fahrenheit}
    assert type(result["f"]) is type(fahrenheit)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("5 / 2", 2.5),
        ("6 / 3", 2),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),
        ("-a + 1", -4),
        ("- -2", 2),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7.5 % 2", 1.5),
        ("'5' + 1", 6),
        ("'2.5' * 2", 5.0),
        ("s * 2", 24),
    ],
)
def test_arithmetic_results(expression: str, expected: float) -> None:
    # GIVEN a = 5 and s = "12" (a numeric string)
    # WHEN the expression is selected
    result = run(f"SELECT {expression} AS v FROM 'topic/subtopic'", {"a": 5, "s": "12"})
    # THEN the number and its type follow AWS rules
    assert result == {"v": expected}
    assert type(result["v"]) is type(expected)


@pytest.mark.parametrize(
    "expression",
    [
        "1 / 0",
        "1 % 0",
        "1.0 / 0",
        "'abc' + 1",
        "true + 1",
        "null * 2",
        "missing + 1",
        "-'x'",
        "o + 1",
    ],
)
def test_arithmetic_undefined_drops_the_key(expression: str) -> None:
    # GIVEN operands that are not numbers, or a zero divisor
    # WHEN the expression is selected
    result = run(f"SELECT {expression} AS v, 1 AS kept FROM 'topic/subtopic'", {"o": {"x": 1}})
    # THEN the result is Undefined and the key is omitted
    assert result == {"kept": 1}


# --- WHERE clause ---------------------------------------------------------------


@pytest.mark.parametrize(("temperature", "passes"), [(51, True), (50, False), (49.9, False)])
def test_where_filters_messages(temperature: float, passes: bool) -> None:
    # GIVEN the reference threshold rule
    sql = "SELECT * FROM 'a/#' WHERE temperature > 50"
    # WHEN a reading arrives on a matching topic
    result = run(sql, {"temperature": temperature}, topic="a/b/c")
    # THEN only readings above 50 produce an event
    assert result == ({"temperature": temperature} if passes else None)


@pytest.mark.parametrize(
    ("payload", "passes"),
    [
        ({"temperature": 60, "color": "red", "active": True}, True),
        ({"temperature": 40, "color": "red", "active": True}, False),
        ({"temperature": 40, "color": "red", "active": False}, True),
        ({"temperature": 60, "color": "blue", "active": "TRUE"}, False),
        ({"temperature": 60, "color": "blue", "active": "false"}, True),
    ],
)
def test_where_with_and_or_not(payload: dict[str, Any], passes: bool) -> None:
    # GIVEN a WHERE combining AND, OR, NOT and parentheses
    sql = (
        "SELECT color FROM 'topic/subtopic' "
        "WHERE (temperature > 50 AND color = 'red') OR NOT active"
    )
    # WHEN evaluated
    result = run(sql, payload)
    # THEN the boolean logic (with "true"/"false" strings converted) decides
    assert (result is not None) is passes


@pytest.mark.parametrize(
    "where",
    [
        "missing > 1",
        "missing = 1",
        "NOT (missing = 1)",
        "missing <> 1",
        "temperature > 1 AND missing",
        "temperature > 1 OR 5",
        "color > 1",
        "temperature",
    ],
)
def test_where_undefined_or_non_boolean_drops_message(where: str) -> None:
    # GIVEN a WHERE whose value is Undefined or not a boolean
    # WHEN evaluated
    result = run(f"SELECT * FROM 'topic/subtopic' WHERE {where}", COLOR_PAYLOAD)
    # THEN the message is dropped
    assert result is None


@pytest.mark.parametrize(
    ("where", "passes"),
    [
        ("id = '1'", False),
        ("id <> '1'", True),
        ("id != '1'", True),
        ("id = 1.0", True),
        ("flag = 1", False),
        ("flag = true", True),
        ("name = 'abc'", True),
        ("nothing = null", True),
        ("tags = tags", True),
        ("reading > 10", True),
        ("reading <= 11.9", False),
        ("id >= 1 AND id <= 1 AND id < 2", True),
        ("(id + 1) * 2 = 4", True),
    ],
)
def test_comparisons_follow_aws_type_rules(where: str, passes: bool) -> None:
    # GIVEN a payload mixing numbers, strings, booleans, null and arrays
    payload = {
        "id": 1,
        "flag": True,
        "name": "abc",
        "nothing": None,
        "tags": [1],
        "reading": "12",
    }
    # WHEN compared: = needs equal types, < > convert numeric strings
    result = run(f"SELECT name FROM 'topic/subtopic' WHERE {where}", payload)
    # THEN the documented outcome holds
    assert (result is not None) is passes


def test_topic_mismatch_returns_none_without_reading_payload() -> None:
    # GIVEN a rule reading payload fields and a garbage payload on another topic
    rule = parse_rule("SELECT * FROM 'charger/+/status'")
    ctx = MessageContext("charger/1/other", "c", 0)
    # WHEN evaluated
    # THEN it is simply not for this rule: no PayloadNotJson
    assert rule.evaluate(b"\xff not json", ctx) is None


# --- payload validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[1, 2]", "JSON array, not a JSON object"),
        (b'"text"', "JSON string, not a JSON object"),
        (b"42", "JSON number, not a JSON object"),
        (b'{"temperature": NaN}', "NaN"),
        (b'{"temperature": -Infinity}', "-Infinity"),
    ],
)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM 'topic/subtopic'",
        "SELECT temperature FROM 'topic/subtopic'",
        "SELECT topic() AS t FROM 'topic/subtopic' WHERE temperature > 1",
        "SELECT topic(a) AS t FROM 'topic/subtopic'",
    ],
)
def test_rules_reading_the_payload_reject_non_json(sql: str, payload: bytes, reason: str) -> None:
    # GIVEN a rule that reads the payload
    rule = parse_rule(sql)
    # WHEN the payload is not a UTF-8 JSON object
    with pytest.raises(PayloadNotJson) as excinfo:
        rule.evaluate(payload, CTX)
    # THEN the error says why, for the dead-letter record
    assert reason in str(excinfo.value)


def test_rules_not_reading_the_payload_accept_binary() -> None:
    # GIVEN a rule built only from context functions
    rule = parse_rule("SELECT topic() AS t, timestamp() AS ts FROM 'topic/+' WHERE 1 < 2")
    # WHEN a binary payload arrives
    result = rule.evaluate(b"\xff\x00\x01", CTX)
    # THEN the payload is never decoded
    assert result == {"t": "topic/subtopic", "ts": 1_700_000_000_123}


def test_json_numbers_keep_int_and_float_types() -> None:
    # GIVEN ints, floats and a nested object
    result = run("SELECT * FROM 'topic/subtopic'", b'{"i": 3, "f": 3.0, "o": {"x": [1, 2.5]}}')
    # THEN json.loads types are preserved
    assert result == {"i": 3, "f": 3.0, "o": {"x": [1, 2.5]}}
    assert result is not None and type(result["i"]) is int and type(result["f"]) is float


# --- topic_matches ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("sport/tennis/player1", "sport/tennis/player1", True),
        ("sport/tennis/player1", "sport/tennis/player2", False),
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking/wimbledon", True),
        ("sport/#", "sport", True),
        ("sport/#", "sports", False),
        ("#", "any/topic/at/all", True),
        ("sport/tennis/+", "sport/tennis/player1", True),
        ("sport/tennis/+", "sport/tennis/player1/ranking", False),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("charger/+/connector/+/session/+", "charger/1/connector/2/session/3", True),
        ("charger/+/connector/+/session/+", "charger/1/connector/2/session", False),
        ("#", "$SYS/broker/uptime", False),
        ("+/monitor/Clients", "$SYS/monitor/Clients", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
        ("a/b", "A/B", False),
        ("#", "", False),
        ("a/+", "a/+", False),
    ],
)
def test_topic_matches(topic_filter: str, topic: str, matches: bool) -> None:
    # GIVEN an MQTT topic filter and a topic name
    # WHEN matched
    # THEN the MQTT spec outcome holds
    assert topic_matches(topic_filter, topic) is matches


@pytest.mark.parametrize("topic_filter", ["", "a/#/b", "a/b#", "a+/b", "a/++"])
def test_topic_matches_rejects_invalid_filters(topic_filter: str) -> None:
    # GIVEN an invalid filter
    # WHEN matched
    # THEN it is a programming error, not a silent mismatch
    with pytest.raises(ValueError, match="invalid topic filter"):
        topic_matches(topic_filter, "a/b")


# --- RuleSqlError --------------------------------------------------------------------


def test_error_message_shows_column_and_caret() -> None:
    # GIVEN a trailing comma in the SELECT list
    error = sql_error("SELECT a, FROM 'x'")
    # THEN the message names the token, the 1-based column and draws a caret
    assert str(error) == (
        "unexpected token 'FROM' (expected an expression) at column 11\n"
        "  SELECT a, FROM 'x'\n"
        "            ^"
    )
    assert error.position == 10
    assert isinstance(error, ValueError)


def test_error_in_multiline_sql_points_into_the_right_line() -> None:
    # GIVEN a multi-line rule with an error on line 3
    error = sql_error("SELECT *\nFROM 'a/b'\nWHERE temperature >")
    # THEN the line and column are reported and only that line is echoed
    assert str(error) == (
        "unexpected end of SQL (expected an expression) at line 3, column 20\n"
        "  WHERE temperature >\n"
        "                     ^"
    )
    assert error.position == 39


@pytest.mark.parametrize(
    ("sql", "position", "reason"),
    [
        ("SELECT a", 8, "unexpected end of SQL (expected ',' or FROM)"),
        ("SELECT a b FROM 'x'", 9, "unexpected token 'b' (expected ',' or FROM)"),
        ("FROM 'x'", 0, "unexpected token 'FROM' (expected SELECT)"),
        (
            "SELECT a FROM x",
            14,
            "unexpected token 'x' (expected a quoted topic filter)",
        ),
        (
            "SELECT a FROM 'x' garbage",
            18,
            "unexpected token 'garbage' (expected WHERE or end of SQL)",
        ),
        (
            "SELECT a FROM 'x' WHERE a = 1 b",
            30,
            "unexpected token 'b' (expected end of SQL)",
        ),
        ("SELECT a FROM 'x' WHERE (a = 1", 30, "unexpected end of SQL (expected ')')"),
        ("SELECT foo(1) AS x FROM 'x'", 7, "unknown function foo()"),
        (
            "SELECT topic(1, 2) AS x FROM 'x'",
            7,
            "topic() takes at most 1 argument(s)",
        ),
        (
            "SELECT timestamp(1) AS x FROM 'x'",
            7,
            "timestamp() takes at most 0 argument(s)",
        ),
        (
            "SELECT topic(1 AS x FROM 'x'",
            15,
            "unexpected token 'AS' (expected ',' or ')')",
        ),
        ("SELECT a + 1 FROM 'x'", 7, "only a field may omit its alias: add AS <name>"),
        (
            "SELECT topic() FROM 'x'",
            7,
            "only a field may omit its alias: add AS <name>",
        ),
        (
            "SELECT a AS FROM 'x'",
            12,
            "unexpected token 'FROM' (expected an alias name after AS)",
        ),
        (
            "SELECT a. FROM 'x'",
            10,
            "unexpected token 'FROM' (expected a field name after '.')",
        ),
        ("SELECT 'abc FROM 'x'", 19, "unterminated string literal"),
        ("SELECT a FROM 'x", 14, "unterminated string literal"),
        ("SELECT a; FROM 'x'", 8, "unexpected character ';'"),
        ("SELECT 1e999 AS a FROM 'x'", 7, "number out of range"),
        ("SELECT a FROM ''", 15, "invalid topic filter: it is empty"),
        (
            "SELECT a FROM 'a/#/b'",
            17,
            "invalid topic filter: '#' must be alone in the last level",
        ),
        (
            "SELECT a FROM 'a/b+'",
            18,
            "invalid topic filter: '+' must be alone in its level",
        ),
    ],
)
def test_syntax_errors_report_position(sql: str, position: int, reason: str) -> None:
    # GIVEN invalid rule SQL
    # WHEN parsed
    error = sql_error(sql)
    # THEN the reason and 0-based position are exact, and the caret sits under it
    assert error.reason == reason
    assert error.position == position
    message_line, sql_line, caret_line = str(error).split("\n")
    assert message_line == f"{reason} at column {position + 1}"
    assert sql_line == f"  {sql}"
    assert caret_line == " " * (position + 2) + "^"
