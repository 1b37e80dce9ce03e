"""EventBridge schedule expressions: strict parsing and fire-time computation.

The local emulator runs the ``rate(...)`` and ``cron(...)`` schedules declared in
the SAM template.  Linters such as cfn-lint accept expressions that AWS rejects
(``rate(1 minutes)``), so start-up parses every expression here and refuses the
bad ones with a message that says what to fix, instead of letting the emulator
fire on a schedule that would never deploy.

All times are UTC, as in EventBridge.  Schedules only fire on whole minutes,
because EventBridge cannot schedule anything finer than one minute.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = [
    "CronSchedule",
    "RateSchedule",
    "Schedule",
    "ScheduleExpressionError",
    "parse_schedule",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MINUTE = timedelta(minutes=1)
_DIGITS = re.compile(r"[0-9]+")
_FIELD_SEPARATOR = re.compile(r" +")
_CRON_FIELD_NAMES = "minutes hours day-of-month month day-of-week year"


class ScheduleExpressionError(ValueError):
    """A schedule expression AWS would reject; the message says what to fix.

    Raised at start-up so a template that cannot deploy never runs locally.
    """

    def __init__(self, expression: str, problem: str) -> None:
        super().__init__(f"invalid schedule expression {expression!r}: {problem}")
        self.expression = expression
        self.problem = problem


@runtime_checkable
class Schedule(Protocol):
    """What the local scheduler needs from a parsed expression."""

    @property
    def expression(self) -> str:
        """The expression as written in the template, for logs and errors."""
        ...

    def next_after(self, moment: datetime) -> datetime | None:
        """First fire time strictly after ``moment`` (aware datetime in, aware UTC out).

        None when no later fire time exists (a cron's year range is exhausted).
        """
        ...


# --------------------------------------------------------------------------- rate

_RATE_UNITS: Mapping[str, tuple[timedelta, bool]] = {
    # unit -> (length of one unit, is the plural form)
    "minute": (timedelta(minutes=1), False),
    "minutes": (timedelta(minutes=1), True),
    "hour": (timedelta(hours=1), False),
    "hours": (timedelta(hours=1), True),
    "day": (timedelta(days=1), False),
    "days": (timedelta(days=1), True),
}


@dataclass(frozen=True)
class RateSchedule:
    """``rate(value unit)``: fires every ``interval``.

    EventBridge starts counting a rate from when the rule is created, which the
    emulator cannot know.  To be deterministic the emulator anchors every rate
    on the UNIX epoch (a whole minute): it fires at each epoch + k * interval.
    So ``rate(1 minute)`` fires at every :00 second, ``rate(5 minutes)`` at
    minutes divisible by 5, ``rate(1 hour)`` on the hour and ``rate(1 day)``
    at 00:00 UTC.
    """

    expression: str
    interval: timedelta

    def next_after(self, moment: datetime) -> datetime | None:
        """Next epoch-aligned multiple of the interval strictly after ``moment``.

        None only if that time would not fit in a ``datetime``.
        """
        periods = (_as_utc(moment) - _EPOCH) // self.interval + 1
        try:
            return _EPOCH + periods * self.interval
        except OverflowError:
            return None


def _parse_rate(expression: str, body: str) -> RateSchedule:
    """Parse the inside of ``rate(...)`` with AWS's singular/plural rule."""
    parts = _split_fields(expression, body)
    if len(parts) != 2:
        raise ScheduleExpressionError(
            expression,
            "a rate needs exactly two parts, a value and a unit, "
            "e.g. rate(5 minutes) or rate(1 hour)",
        )
    value_text, unit = parts
    if unit not in _RATE_UNITS:
        hint = ""
        if unit.lower() in _RATE_UNITS:
            hint = f" (units are lower case: {unit.lower()!r})"
        elif unit.lower() in ("second", "seconds"):
            hint = " (EventBridge cannot schedule more often than once a minute)"
        raise ScheduleExpressionError(
            expression,
            f"unknown rate unit {unit!r}{hint}; use minute, minutes, hour, hours, day or days",
        )
    if not _DIGITS.fullmatch(value_text):
        raise ScheduleExpressionError(
            expression,
            f"rate value {value_text!r} must be a positive whole number, e.g. rate(5 minutes)",
        )
    value = int(value_text)
    if value == 0:
        raise ScheduleExpressionError(expression, "rate value must be positive (at least 1), not 0")
    unit_length, plural = _RATE_UNITS[unit]
    singular = unit.removesuffix("s")
    if value == 1 and plural:
        raise ScheduleExpressionError(
            expression,
            f"AWS requires the singular unit when the value is 1: use rate(1 {singular})",
        )
    if value > 1 and not plural:
        raise ScheduleExpressionError(
            expression,
            f"AWS requires the plural unit when the value is greater than 1: "
            f"use rate({value} {singular}s)",
        )
    try:
        interval = value * unit_length
    except OverflowError:
        raise ScheduleExpressionError(expression, f"rate value {value} is too large") from None
    return RateSchedule(expression=expression, interval=interval)


# --------------------------------------------------------------------------- cron

_MONTH_NAMES = {
    "JAN": 1,
    "FEB": 2,
    "MAR": 3,
    "APR": 4,
    "MAY": 5,
    "JUN": 6,
    "JUL": 7,
    "AUG": 8,
    "SEP": 9,
    "OCT": 10,
    "NOV": 11,
    "DEC": 12,
}
# AWS numbers the days of the week from Sunday: 1 = SUN ... 7 = SAT.
_WEEKDAY_NAMES = {
    "SUN": 1,
    "MON": 2,
    "TUE": 3,
    "WED": 4,
    "THU": 5,
    "FRI": 6,
    "SAT": 7,
}


@dataclass(frozen=True)
class _Field:
    """Bounds, names and allowed wildcards of one cron field."""

    name: str
    low: int
    high: int
    names: Mapping[str, int]
    wildcards: str

    def describe_range(self) -> str:
        """Range text for error messages, naming names where the field has them."""
        text = f"{self.low}-{self.high}"
        if self.names:
            names = list(self.names)
            text += f" or {names[0]}-{names[-1]}"
        return text


_MINUTES = _Field("minutes", 0, 59, {}, ",-*/")
_HOURS = _Field("hours", 0, 23, {}, ",-*/")
_DAY_OF_MONTH = _Field("day-of-month", 1, 31, {}, ",-*?/LW")
_MONTH = _Field("month", 1, 12, _MONTH_NAMES, ",-*/")
_DAY_OF_WEEK = _Field("day-of-week", 1, 7, _WEEKDAY_NAMES, ",-*?L#")
_YEAR = _Field("year", 1970, 2199, {}, ",-*/")


def _aws_weekday(year: int, month: int, day: int) -> int:
    """AWS day-of-week number (1 = SUN ... 7 = SAT) of a date."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


class _DayRule(Protocol):
    """Which days of a given month a cron's day fields select."""

    def days_in_month(self, year: int, month: int) -> list[int]:
        """Selected days of ``year``-``month``, ascending."""
        ...


@dataclass(frozen=True)
class _DaysOfMonth:
    """Plain day-of-month values; days the month lacks (31 in April) never fire."""

    days: tuple[int, ...]

    def days_in_month(self, year: int, month: int) -> list[int]:
        last = _last_day(year, month)
        return [day for day in self.days if day <= last]


@dataclass(frozen=True)
class _LastDayOfMonth:
    """``L`` in day-of-month."""

    def days_in_month(self, year: int, month: int) -> list[int]:
        return [_last_day(year, month)]


@dataclass(frozen=True)
class _LastWeekdayOfMonth:
    """``LW``: the last Monday-Friday of the month."""

    def days_in_month(self, year: int, month: int) -> list[int]:
        last = _last_day(year, month)
        weekday = _aws_weekday(year, month, last)
        if weekday == 7:  # Saturday -> Friday
            return [last - 1]
        if weekday == 1:  # Sunday -> Friday
            return [last - 2]
        return [last]


@dataclass(frozen=True)
class _NearestWeekday:
    """``15W``: the Monday-Friday nearest the day, never leaving the month.

    A month that lacks the day (``31W`` in April) does not fire, as plain
    day values behave.
    """

    day: int

    def days_in_month(self, year: int, month: int) -> list[int]:
        last = _last_day(year, month)
        if self.day > last:
            return []
        weekday = _aws_weekday(year, month, self.day)
        if weekday == 7:  # Saturday: Friday before, or Monday after the 1st
            return [self.day + 2] if self.day == 1 else [self.day - 1]
        if weekday == 1:  # Sunday: Monday after, or Friday before the last day
            return [self.day - 2] if self.day == last else [self.day + 1]
        return [self.day]


@dataclass(frozen=True)
class _DaysOfWeek:
    """Plain day-of-week values (AWS numbering, 1 = SUN)."""

    weekdays: frozenset[int]

    def days_in_month(self, year: int, month: int) -> list[int]:
        first = _aws_weekday(year, month, 1)
        return [
            day
            for day in range(1, _last_day(year, month) + 1)
            if (first - 1 + day - 1) % 7 + 1 in self.weekdays
        ]


@dataclass(frozen=True)
class _LastOfWeekday:
    """``5L``: the last given weekday of the month (5L = last Thursday)."""

    weekday: int

    def days_in_month(self, year: int, month: int) -> list[int]:
        last = _last_day(year, month)
        return [last - (_aws_weekday(year, month, last) - self.weekday) % 7]


@dataclass(frozen=True)
class _NthWeekday:
    """``3#2``: the n-th given weekday of the month (3#2 = second Tuesday)."""

    weekday: int
    nth: int

    def days_in_month(self, year: int, month: int) -> list[int]:
        first = 1 + (self.weekday - _aws_weekday(year, month, 1)) % 7
        day = first + 7 * (self.nth - 1)
        return [day] if day <= _last_day(year, month) else []


@dataclass(frozen=True)
class CronSchedule:
    """``cron(minutes hours day-of-month month day-of-week year)`` in UTC.

    Value fields are kept as sorted tuples; the two day fields are folded into
    one rule because AWS lets only one of them constrain the day.
    """

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    day_rule: _DayRule

    def next_after(self, moment: datetime) -> datetime | None:
        """First matching minute strictly after ``moment``; None past the years.

        Walks years, months and the days the day rule selects, then hours and
        minutes, so the cost is bounded by the year field, not by minutes.
        """
        start = _as_utc(moment).replace(second=0, microsecond=0)
        try:
            start += _ONE_MINUTE
        except OverflowError:
            return None
        start_day = (start.year, start.month, start.day)
        for year in self.years:
            if year < start.year:
                continue
            for month in self.months:
                if (year, month) < (start.year, start.month):
                    continue
                for day in self.day_rule.days_in_month(year, month):
                    if (year, month, day) < start_day:
                        continue
                    on_start_day = (year, month, day) == start_day
                    for hour in self.hours:
                        if on_start_day and hour < start.hour:
                            continue
                        in_start_hour = on_start_day and hour == start.hour
                        for minute in self.minutes:
                            if in_start_hour and minute < start.minute:
                                continue
                            return datetime(year, month, day, hour, minute, tzinfo=UTC)
        return None


def _parse_cron(expression: str, body: str) -> CronSchedule:
    """Parse the inside of ``cron(...)`` into a CronSchedule."""
    fields = _split_fields(expression, body)
    if len(fields) != 6:
        hint = ""
        if len(fields) == 5:
            hint = " (EventBridge cron has a year field too; add ' *' at the end)"
        raise ScheduleExpressionError(
            expression,
            f"cron needs exactly 6 fields ({_CRON_FIELD_NAMES}), found {len(fields)}{hint}",
        )
    minutes, hours, day_of_month, month, day_of_week, year = (field.upper() for field in fields)
    if day_of_month == "?" and day_of_week == "?":
        raise ScheduleExpressionError(
            expression,
            "day-of-month and day-of-week cannot both be '?'; put a value or '*' in one of them",
        )
    if day_of_month != "?" and day_of_week != "?":
        raise ScheduleExpressionError(
            expression,
            f"you cannot specify both day-of-month ({fields[2]!r}) and "
            f"day-of-week ({fields[4]!r}); exactly one of them must be '?'",
        )
    day_rule = (
        _parse_day_of_week(expression, day_of_week)
        if day_of_month == "?"
        else _parse_day_of_month(expression, day_of_month)
    )
    return CronSchedule(
        expression=expression,
        minutes=_parse_values(expression, _MINUTES, minutes),
        hours=_parse_values(expression, _HOURS, hours),
        months=_parse_values(expression, _MONTH, month),
        years=_parse_values(expression, _YEAR, year),
        day_rule=day_rule,
    )


def _parse_day_of_month(expression: str, text: str) -> _DayRule:
    """Day-of-month: values, ``L``, ``LW`` or ``<day>W``."""
    if text == "L":
        return _LastDayOfMonth()
    if text == "LW":
        return _LastWeekdayOfMonth()
    if text.endswith("W") and "L" not in text:
        day_text = text[:-1]
        if not _DIGITS.fullmatch(day_text):
            raise _field_error(
                expression,
                _DAY_OF_MONTH,
                text,
                "'W' must follow a single day number, e.g. '15W', or be 'LW'",
            )
        return _NearestWeekday(_parse_number(expression, _DAY_OF_MONTH, text, day_text))
    if "L" in text or "W" in text:
        raise _field_error(
            expression,
            _DAY_OF_MONTH,
            text,
            "'L' and 'W' must make up the whole field: 'L', 'LW' or e.g. '15W'",
        )
    return _DaysOfMonth(_parse_values(expression, _DAY_OF_MONTH, text))


def _parse_day_of_week(expression: str, text: str) -> _DayRule:
    """Day-of-week: values, ``L`` (= 7, Saturday), ``<day>L`` or ``<day>#<n>``."""
    if "#" in text:
        weekday_text, _, nth_text = text.partition("#")
        if "," in text:
            raise _field_error(
                expression,
                _DAY_OF_WEEK,
                text,
                "with '#' the field may hold only one expression (e.g. '3#1,6#3' is invalid)",
            )
        if not _DIGITS.fullmatch(nth_text) or not 1 <= int(nth_text) <= 5:
            raise _field_error(
                expression,
                _DAY_OF_WEEK,
                text,
                "the number after '#' must be 1-5 (which occurrence in the month), "
                "e.g. '3#2' for the second Tuesday",
            )
        weekday = _parse_number(expression, _DAY_OF_WEEK, text, weekday_text)
        return _NthWeekday(weekday, int(nth_text))
    if text == "L":
        # Alone, 'L' is the last day of the week: every Saturday.
        return _DaysOfWeek(frozenset({7}))
    if text.endswith("L"):
        weekday_text = text[:-1]
        if any(character in weekday_text for character in ",-*/L"):
            raise _field_error(
                expression,
                _DAY_OF_WEEK,
                text,
                "'L' must be alone or follow a single day, e.g. '5L' for the "
                "last Thursday of the month",
            )
        return _LastOfWeekday(_parse_number(expression, _DAY_OF_WEEK, text, weekday_text))
    if "L" in text:
        raise _field_error(
            expression,
            _DAY_OF_WEEK,
            text,
            "'L' must be alone or at the end of a single day, e.g. '5L'",
        )
    return _DaysOfWeek(frozenset(_parse_values(expression, _DAY_OF_WEEK, text)))


def _parse_values(expression: str, field: _Field, text: str) -> tuple[int, ...]:
    """Expand a list of values, ranges and steps into sorted field values."""
    if "?" in text:
        problem = "'?' is only allowed in the day-of-month or day-of-week field"
        if "?" in field.wildcards:
            problem = "'?' must be the whole field, not part of a list or range"
        raise _field_error(expression, field, text, problem)
    if "#" in text and "#" not in field.wildcards:
        raise _field_error(expression, field, text, "'#' is only allowed in the day-of-week field")
    # Letters are names in month/day-of-week ('JUL', 'WED'), so only check the
    # numeric fields for misplaced 'L' and 'W'.
    for letter in "" if field.names else "LW":
        if letter in text and letter not in field.wildcards:
            raise _field_error(
                expression,
                field,
                text,
                f"{letter!r} is only allowed in the day-of-month"
                + (" or day-of-week field" if letter == "L" else " field"),
            )
    values: set[int] = set()
    for item in text.split(","):
        values.update(_parse_item(expression, field, text, item))
    return tuple(sorted(values))


def _parse_item(expression: str, field: _Field, text: str, item: str) -> range:
    """One list item: ``*``, ``a``, ``a-b``, optionally followed by ``/step``."""
    if not item:
        raise _field_error(expression, field, text, "empty entry in the list")
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if "/" not in field.wildcards:
            allowed = " ".join(field.wildcards)
            raise _field_error(
                expression,
                field,
                text,
                f"'/' is not allowed in this field (AWS allows {allowed})",
            )
        span = field.high - field.low + 1
        if not _DIGITS.fullmatch(step_text) or not 1 <= int(step_text) <= span:
            raise _field_error(
                expression,
                field,
                text,
                f"the step after '/' must be a whole number from 1 to {span}",
            )
        step = int(step_text)
    if base == "*":
        return range(field.low, field.high + 1, step)
    if "*" in base:
        raise _field_error(expression, field, text, "'*' must stand alone (optionally with /step)")
    start_text, dash, end_text = base.partition("-")
    start = _parse_number(expression, field, text, start_text)
    if not dash:
        # 'a/step' runs from a to the end of the field; plain 'a' is one value.
        return range(start, field.high + 1 if slash else start + 1, step)
    end = _parse_number(expression, field, text, end_text)
    if start > end:
        raise _field_error(
            expression,
            field,
            text,
            f"range {base!r} runs backwards; write the smaller value first",
        )
    return range(start, end + 1, step)


def _parse_number(expression: str, field: _Field, text: str, token: str) -> int:
    """A single value: a decimal number or, for month/day-of-week, a name."""
    if token in field.names:
        return field.names[token]
    allowed = f"allowed: {field.describe_range()}"
    if not token:
        raise _field_error(expression, field, text, f"a value is missing ({allowed})")
    if not _DIGITS.fullmatch(token):
        kind = "a number or name" if field.names else "a number"
        raise _field_error(expression, field, text, f"{token!r} is not {kind} ({allowed})")
    value = int(token)
    if not field.low <= value <= field.high:
        raise _field_error(expression, field, text, f"{value} is out of range ({allowed})")
    return value


def _field_error(
    expression: str, field: _Field, text: str, problem: str
) -> ScheduleExpressionError:
    return ScheduleExpressionError(expression, f"{field.name} field {text!r}: {problem}")


# ------------------------------------------------------------------------- shared


def _split_fields(expression: str, body: str) -> list[str]:
    """Split the inside of the parentheses on spaces, as AWS separates fields."""
    if body != body.strip():
        raise ScheduleExpressionError(expression, "remove the spaces just inside the parentheses")
    if any(character.isspace() and character != " " for character in body):
        raise ScheduleExpressionError(
            expression, "separate the fields with plain spaces, not tabs or newlines"
        )
    return _FIELD_SEPARATOR.split(body) if body else []


def _as_utc(moment: datetime) -> datetime:
    """Reject naive datetimes: guessing their zone would shift every fire time."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"moment must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


def parse_schedule(expression: str) -> Schedule:
    """Parse ``rate(...)`` or ``cron(...)`` as EventBridge accepts it.

    Whitespace around the whole expression is ignored; inside, the syntax is
    strict.  Raises ScheduleExpressionError naming the problem.
    """
    text = expression.strip()
    if not text:
        raise ScheduleExpressionError(
            expression, "the expression is empty; use rate(...) or cron(...)"
        )
    keyword, parenthesis, rest = text.partition("(")
    if not parenthesis or keyword.lower() not in ("rate", "cron"):
        hint = ""
        if keyword.lower() == "at":
            hint = " (one-time at() schedules are not supported)"
        elif keyword.strip().lower() in ("rate", "cron"):
            hint = " (no space between the keyword and '(')"
        raise ScheduleExpressionError(
            expression,
            f"expected rate(value unit) or cron({_CRON_FIELD_NAMES}){hint}",
        )
    if keyword not in ("rate", "cron"):
        raise ScheduleExpressionError(
            expression, f"write the keyword in lower case: {keyword.lower()}(...)"
        )
    if not rest.endswith(")") or ")" in rest[:-1] or "(" in rest:
        raise ScheduleExpressionError(
            expression, f"{keyword}(...) must end with its only closing ')'"
        )
    body = rest[:-1]
    if keyword == "rate":
        return _parse_rate(expression, body)
    return _parse_cron(expression, body)
