"""Local emulation of the AWS IoT Core rules-engine SQL (version 2016-03-23).

The local MQTT bridge parses every rule once at start-up with ``parse_rule`` so
that a broken rule fails loudly before any message flows, then calls
``Rule.evaluate`` per message to build the Lambda event the way AWS would.

Supported subset, and the choices made where the AWS reference is vague:

- ``SELECT <items> FROM '<topic filter>' [WHERE <expr>]``; keywords and
  function names are case-insensitive; strings use single or double quotes and
  a doubled quote escapes itself (``'O''Reilly'``).
- Items are ``*``, fields (``a.b.c``, output key = last segment) and any
  expression with ``AS alias``. AWS invents names such as ``_1`` for unaliased
  expressions; a rule relying on them is almost surely a bug, so an unaliased
  non-field expression is a ``RuleSqlError``. Items are applied left to right,
  so ``SELECT *, topic() AS t`` yields the payload fields, then ``t``.
- Functions: ``topic()``, ``topic(n)``, ``timestamp()``, ``clientid()``,
  ``newuuid()``.
- Undefined (missing field, unusable operand, division by zero, out-of-range
  ``topic(n)``) drops the SELECT key and makes WHERE false.
- Arithmetic accepts numbers and numeric strings; ``int / int`` stays an int
  only when exact; ``%`` keeps the sign of the dividend like Java/AWS.
- ``< <= > >=`` convert both sides to numbers (AWS "converts to Decimal"),
  otherwise Undefined. ``=`` and ``<>``/``!=`` compare by JSON type: values of
  different types are unequal, ``1 = 1.0`` is true.
- ``AND``/``OR``/``NOT`` accept booleans and "true"/"false" strings
  (case-insensitive); any other operand makes the result Undefined.
"""

from __future__ import annotations

import enum
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeAlias


class RuleSqlError(ValueError):
    """Invalid rule SQL; the message shows the column and a caret under the SQL."""

    def __init__(self, reason: str, sql: str, position: int) -> None:
        self.reason = reason
        self.sql = sql
        self.position = position  # 0-based offset into the SQL
        line_start = sql.rfind("\n", 0, position) + 1
        line_end = sql.find("\n", position)
        line = sql[line_start : len(sql) if line_end == -1 else line_end].rstrip("\r")
        column = position - line_start + 1
        where = f"column {column}"
        if "\n" in sql:
            where = f"line {sql.count(chr(10), 0, position) + 1}, {where}"
        # Keep tabs so the caret lines up with the echoed SQL line.
        pad = "".join(c if c == "\t" else " " for c in line[: column - 1])
        super().__init__(f"{reason} at {where}\n  {line}\n  {pad}^")


class PayloadNotJson(ValueError):
    """The rule reads payload fields but the payload is not a UTF-8 JSON object.

    The bridge catches this to dead-letter the message instead of guessing.
    """


@dataclass(frozen=True)
class MessageContext:
    """Message metadata the SQL functions read, injected so tests are deterministic."""

    topic: str
    client_id: str
    received_at_ms: int  # epoch milliseconds, what timestamp() returns


class _Undefined(enum.Enum):
    """AWS 'Undefined': not a value, dropped from the output."""

    VALUE = "undefined"


_UNDEFINED = _Undefined.VALUE


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Field:
    path: tuple[str, ...]


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Expr, ...]


@dataclass(frozen=True)
class _Unary:
    op: str  # "-" or "NOT"
    operand: _Expr


@dataclass(frozen=True)
class _Binary:
    op: str
    left: _Expr
    right: _Expr


_Expr: TypeAlias = _Literal | _Field | _Call | _Unary | _Binary


@dataclass(frozen=True)
class _Star:
    """``*`` in the SELECT list: every payload field."""


@dataclass(frozen=True)
class _Item:
    expr: _Expr
    key: str


_SelectItem: TypeAlias = _Star | _Item

_MAX_ARITY = {"topic": 1, "timestamp": 0, "clientid": 0, "newuuid": 0}
_RESERVED = {"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE", "NULL"}
_COMPARISONS = {"=", "<>", "!=", "<", "<=", ">", ">="}
_TOKEN_RE = re.compile(
    r"(?P<number>(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><>|!=|<=|>=|[-+*/%=<>(),.])"
)
_NUMERIC_STRING_RE = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")
_INT_STRING_RE = re.compile(r"\s*[+-]?\d+\s*")


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "string", "name", "op" or "eof"
    text: str  # raw source text
    value: Any  # parsed literal value for numbers and strings
    pos: int

    def describe(self) -> str:
        """Human wording for error messages."""
        if self.kind == "eof":
            return "end of SQL"
        return f"{'string' if self.kind == 'string' else 'token'} {self.text!r}"


def _tokenize(sql: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(sql):
        char = sql[pos]
        if char.isspace():
            pos += 1
        elif char in "'\"":
            end, string = _read_string(sql, pos)
            tokens.append(_Token("string", sql[pos:end], string, pos))
            pos = end
        else:
            match = _TOKEN_RE.match(sql, pos)
            if match is None:
                raise RuleSqlError(f"unexpected character {char!r}", sql, pos)
            text, kind = match.group(), match.lastgroup or ""
            number: int | float | None = None
            if kind == "number":
                number = float(text) if any(c in text for c in ".eE") else int(text)
                if not math.isfinite(number):
                    raise RuleSqlError("number out of range", sql, pos)
            tokens.append(_Token(kind, text, number, pos))
            pos = match.end()
    tokens.append(_Token("eof", "", None, len(sql)))
    return tokens


def _read_string(sql: str, start: int) -> tuple[int, str]:
    """Return (end offset, decoded value) of the quoted string at ``start``."""
    quote, pos, chars = sql[start], start + 1, []
    while pos < len(sql):
        if sql[pos] != quote:
            chars.append(sql[pos])
            pos += 1
        elif sql.startswith(quote * 2, pos):
            chars.append(quote)
            pos += 2
        else:
            return pos + 1, "".join(chars)
    raise RuleSqlError("unterminated string literal", sql, start)


def _topic_filter_problem(topic_filter: str) -> tuple[int, str] | None:
    """(offset, reason) of the first MQTT filter violation, or None when valid."""
    if not topic_filter:
        return 0, "it is empty"
    levels = topic_filter.split("/")
    offset = 0
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return offset + level.index("#"), "'#' must be alone in the last level"
        if "+" in level and level != "+":
            return offset + level.index("+"), "'+' must be alone in its level"
        offset += len(level) + 1
    return None


class _Parser:
    """Recursive descent over the token list; one instance per SQL string."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = _tokenize(sql)
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, reason: str, position: int) -> NoReturn:
        raise RuleSqlError(reason, self.sql, position)

    def unexpected(self, expected: str) -> NoReturn:
        token = self.peek()
        self.fail(f"unexpected {token.describe()} (expected {expected})", token.pos)

    def accept_keyword(self, keyword: str) -> bool:
        token = self.peek()
        if token.kind == "name" and token.text.upper() == keyword:
            self.advance()
            return True
        return False

    def accept_op(self, *ops: str) -> str | None:
        token = self.peek()
        if token.kind == "op" and token.text in ops:
            self.advance()
            return token.text
        return None

    def parse(self) -> Rule:
        if not self.accept_keyword("SELECT"):
            self.unexpected("SELECT")
        items = [self.select_item()]
        while self.accept_op(","):
            items.append(self.select_item())
        if not self.accept_keyword("FROM"):
            self.unexpected("',' or FROM")
        topic = self.peek()
        if topic.kind != "string":
            self.unexpected("a quoted topic filter")
        self.advance()
        problem = _topic_filter_problem(topic.value)
        if problem is not None:
            offset, reason = problem
            self.fail(f"invalid topic filter: {reason}", topic.pos + 1 + offset)
        where = self.expression() if self.accept_keyword("WHERE") else None
        if self.peek().kind != "eof":
            self.unexpected("WHERE or end of SQL" if where is None else "end of SQL")
        needs_payload = any(
            isinstance(item, _Star) or _reads_payload(item.expr) for item in items
        ) or (where is not None and _reads_payload(where))
        return Rule(self.sql, topic.value, tuple(items), where, needs_payload)

    def select_item(self) -> _SelectItem:
        if self.accept_op("*"):
            return _Star()
        start = self.peek().pos
        expr = self.expression()
        if self.accept_keyword("AS"):
            alias = self.peek()
            if alias.kind != "name" or alias.text.upper() in _RESERVED:
                self.unexpected("an alias name after AS")
            self.advance()
            return _Item(expr, alias.text)
        if isinstance(expr, _Field):
            return _Item(expr, expr.path[-1])
        self.fail("only a field may omit its alias: add AS <name>", start)

    def expression(self) -> _Expr:
        left = self.conjunction()
        while self.accept_keyword("OR"):
            left = _Binary("OR", left, self.conjunction())
        return left

    def conjunction(self) -> _Expr:
        left = self.condition()
        while self.accept_keyword("AND"):
            left = _Binary("AND", left, self.condition())
        return left

    def condition(self) -> _Expr:
        if self.accept_keyword("NOT"):
            return _Unary("NOT", self.condition())
        left = self.additive()
        op = self.accept_op(*_COMPARISONS)
        if op is None:
            return left
        return _Binary("<>" if op == "!=" else op, left, self.additive())

    def additive(self) -> _Expr:
        left = self.term()
        while op := self.accept_op("+", "-"):
            left = _Binary(op, left, self.term())
        return left

    def term(self) -> _Expr:
        left = self.unary()
        while op := self.accept_op("*", "/", "%"):
            left = _Binary(op, left, self.unary())
        return left

    def unary(self) -> _Expr:
        if self.accept_op("-"):
            return _Unary("-", self.unary())
        return self.primary()

    def primary(self) -> _Expr:
        token = self.peek()
        if token.kind in ("number", "string"):
            self.advance()
            return _Literal(token.value)
        if self.accept_op("("):
            expr = self.expression()
            if not self.accept_op(")"):
                self.unexpected("')'")
            return expr
        if token.kind != "name":
            self.unexpected("an expression")
        keyword = token.text.upper()
        constants = {"TRUE": True, "FALSE": False, "NULL": None}
        if keyword in constants:
            self.advance()
            return _Literal(constants[keyword])
        if keyword in _RESERVED:
            self.unexpected("an expression")
        self.advance()
        if self.accept_op("("):
            return self.call(token)
        path = [token.text]
        while self.accept_op("."):
            segment = self.peek()
            if segment.kind != "name" or segment.text.upper() in _RESERVED:
                self.unexpected("a field name after '.'")
            path.append(self.advance().text)
        return _Field(tuple(path))

    def call(self, name: _Token) -> _Call:
        function = name.text.lower()
        if function not in _MAX_ARITY:
            self.fail(f"unknown function {name.text}()", name.pos)
        args: list[_Expr] = []
        if not self.accept_op(")"):
            args.append(self.expression())
            while self.accept_op(","):
                args.append(self.expression())
            if not self.accept_op(")"):
                self.unexpected("',' or ')'")
        limit = _MAX_ARITY[function]
        if len(args) > limit:
            self.fail(f"{function}() takes at most {limit} argument(s)", name.pos)
        return _Call(function, tuple(args))


def _reads_payload(expr: _Expr) -> bool:
    match expr:
        case _Field():
            return True
        case _Call(args=args):
            return any(_reads_payload(arg) for arg in args)
        case _Unary(operand=operand):
            return _reads_payload(operand)
        case _Binary(left=left, right=right):
            return _reads_payload(left) or _reads_payload(right)
    return False


def _json_type(value: Any) -> str:
    """JSON type name, so that True never equals 1 as it does in Python."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _to_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMERIC_STRING_RE.fullmatch(value):
        return int(value) if _INT_STRING_RE.fullmatch(value) else float(value)
    return None


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _arithmetic(op: str, left: Any, right: Any) -> Any:
    a, b = _to_number(left), _to_number(right)
    if a is None or b is None or (op in ("/", "%") and b == 0):
        return _UNDEFINED
    try:
        if op == "+":
            result = a + b
        elif op == "-":
            result = a - b
        elif op == "*":
            result = a * b
        elif op == "/":
            exact = isinstance(a, int) and isinstance(b, int) and a % b == 0
            result = a // b if exact else a / b
        elif isinstance(a, int) and isinstance(b, int):
            result = abs(a) % abs(b) * (-1 if a < 0 else 1)
        else:
            result = math.fmod(a, b)
    except OverflowError:
        return _UNDEFINED
    if isinstance(result, float) and not math.isfinite(result):
        return _UNDEFINED
    return result


def _compare(op: str, left: Any, right: Any) -> Any:
    if left is _UNDEFINED or right is _UNDEFINED:
        return _UNDEFINED
    if op in ("=", "<>"):
        equal = _json_type(left) == _json_type(right) and left == right
        return equal if op == "=" else not equal
    a, b = _to_number(left), _to_number(right)
    if a is None or b is None:
        return _UNDEFINED
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


@dataclass(frozen=True)
class _Scope:
    document: dict[str, Any]
    ctx: MessageContext
    new_uuid: Callable[[], str]


def _evaluate(expr: _Expr, scope: _Scope) -> Any:
    match expr:
        case _Literal(value=value):
            return value
        case _Field(path=path):
            current: Any = scope.document
            for segment in path:
                if not isinstance(current, dict) or segment not in current:
                    return _UNDEFINED
                current = current[segment]
            return current
        case _Call():
            return _call(expr, scope)
        case _Unary(op="-", operand=operand):
            number = _to_number(_evaluate(operand, scope))
            return _UNDEFINED if number is None else -number
        case _Unary(operand=operand):
            flag = _to_bool(_evaluate(operand, scope))
            return _UNDEFINED if flag is None else not flag
        case _Binary(op="AND" | "OR" as op, left=left, right=right):
            a, b = _to_bool(_evaluate(left, scope)), _to_bool(_evaluate(right, scope))
            if a is None or b is None:
                return _UNDEFINED
            return (a and b) if op == "AND" else (a or b)
        case _Binary(op=op, left=left, right=right):
            a, b = _evaluate(left, scope), _evaluate(right, scope)
            return _compare(op, a, b) if op in _COMPARISONS else _arithmetic(op, a, b)


def _call(call: _Call, scope: _Scope) -> Any:
    if call.name == "topic":
        if not call.args:
            return scope.ctx.topic
        index = _to_number(_evaluate(call.args[0], scope))
        levels = scope.ctx.topic.split("/")
        if isinstance(index, int) and 1 <= index <= len(levels):
            return levels[index - 1]
        return _UNDEFINED
    if call.name == "timestamp":
        return scope.ctx.received_at_ms
    if call.name == "clientid":
        return scope.ctx.client_id
    return scope.new_uuid()


def _reject_constant(name: str) -> NoReturn:
    raise PayloadNotJson(f"payload uses the non-standard JSON constant {name}")


def _decode_payload(payload: bytes) -> dict[str, Any]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadNotJson(f"payload is not valid UTF-8: {exc}") from exc
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PayloadNotJson(f"payload is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        kind = _json_type(document)
        raise PayloadNotJson(f"payload is a JSON {kind}, not a JSON object")
    return document


def _uuid4() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Rule:
    """A parsed rule; immutable so one instance can serve every message."""

    sql: str
    topic_filter: str  # the FROM topic filter, e.g. "charger/+/connector/+/session/+"
    _items: tuple[_SelectItem, ...] = field(repr=False)
    _where: _Expr | None = field(repr=False)
    _needs_payload: bool = field(repr=False)

    def evaluate(
        self,
        payload: bytes,
        ctx: MessageContext,
        *,
        new_uuid: Callable[[], str] = _uuid4,
    ) -> dict[str, Any] | None:
        """SELECT output for this message, or None when WHERE is false or the
        topic does not match the filter.

        Raises PayloadNotJson only when the rule reads the payload, so rules
        built from topic()/timestamp() alone still accept binary payloads.
        """
        if not topic_matches(self.topic_filter, ctx.topic):
            return None
        document = _decode_payload(payload) if self._needs_payload else {}
        scope = _Scope(document, ctx, new_uuid)
        if self._where is not None and _evaluate(self._where, scope) is not True:
            return None
        output: dict[str, Any] = {}
        for item in self._items:
            if isinstance(item, _Star):
                output.update(document)
                continue
            value = _evaluate(item.expr, scope)
            if value is not _UNDEFINED:
                output[item.key] = value
        return output


def parse_rule(sql: str) -> Rule:
    """Parse rule SQL once, raising RuleSqlError with a caret at the first error."""
    return _Parser(sql).parse()


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1/5 topic filter matching with ``+`` and ``#``.

    Leading wildcards do not match ``$``-topics such as ``$SYS/...``, and
    ``a/#`` also matches ``a`` itself, as the MQTT spec requires.
    """
    problem = _topic_filter_problem(topic_filter)
    if problem is not None:
        raise ValueError(f"invalid topic filter {topic_filter!r}: {problem[1]}")
    if not topic or "+" in topic or "#" in topic:
        return False
    if topic.startswith("$") and topic_filter[0] in "+#":
        return False
    levels = topic.split("/")
    patterns = topic_filter.split("/")
    for index, pattern in enumerate(patterns):
        if pattern == "#":
            return True
        if index >= len(levels) or pattern not in ("+", levels[index]):
            return False
    return len(patterns) == len(levels)
