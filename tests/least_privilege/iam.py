"""A small IAM evaluator for identity policies: Allow/Deny statements with Action and Resource
patterns (`*` and `?` wildcards), denied by default, an explicit Deny wins.

Anything it cannot judge exactly (NotAction, NotResource, Condition) is refused as unsupported
rather than approved: a statement this evaluator does not understand must not pass a check.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class UnsupportedStatement(ValueError):
    """The statement uses IAM elements this evaluator does not evaluate."""


@dataclass(frozen=True, order=True)
class IamRequest:
    """One authorisation AWS makes for a call: an action on a resource ARN."""

    action: str
    resource: str


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Statement:
        unsupported = sorted(set(raw) - {"Sid", "Effect", "Action", "Resource"})
        if unsupported:
            raise UnsupportedStatement(f"{', '.join(unsupported)} in {raw}")
        if raw.get("Effect") not in ("Allow", "Deny"):
            raise UnsupportedStatement(f"Effect must be Allow or Deny in {raw}")
        for element in ("Action", "Resource"):
            values = _as_tuple(raw.get(element))
            if not values or not all(isinstance(v, str) for v in values):
                raise UnsupportedStatement(f"{element} must be strings after resolution: {raw}")
        return cls(raw["Effect"], _as_tuple(raw["Action"]), _as_tuple(raw["Resource"]))

    def matches(self, request: IamRequest) -> bool:
        return any(_action_matches(a, request.action) for a in self.actions) and any(
            _resource_matches(r, request.resource) for r in self.resources
        )


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


@functools.cache
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _action_matches(pattern: str, action: str) -> bool:
    """Actions are case-insensitive (`dynamodb:getitem` is `dynamodb:GetItem`)."""
    return _wildcard(pattern, True).fullmatch(action) is not None


def _resource_matches(pattern: str, resource: str) -> bool:
    """ARNs are case-sensitive; `*` spans any characters, `/` and `:` included."""
    return _wildcard(pattern, False).fullmatch(resource) is not None


def is_allowed(statements: Sequence[Statement], request: IamRequest) -> bool:
    """Allowed when some Allow statement matches and no Deny statement does."""
    matching = [s for s in statements if s.matches(request)]
    return any(s.effect == "Allow" for s in matching) and not any(
        s.effect == "Deny" for s in matching
    )


@dataclass(frozen=True, order=True)
class Grant:
    """One action pattern on one resource pattern of one Allow statement."""

    statement: int
    action: str
    resource: str


def grants(statements: Sequence[Statement]) -> list[Grant]:
    return [
        Grant(index, action, resource)
        for index, statement in enumerate(statements)
        if statement.effect == "Allow"
        for action in statement.actions
        for resource in statement.resources
    ]


def unused_grants(statements: Sequence[Statement], used: Iterable[IamRequest]) -> list[Grant]:
    """Every (action, resource) pair an Allow statement grants that no allowed request needed."""
    allowed = [r for r in set(used) if is_allowed(statements, r)]
    return [
        grant
        for grant in grants(statements)
        if not any(
            _action_matches(grant.action, r.action)
            and _resource_matches(grant.resource, r.resource)
            for r in allowed
        )
    ]
