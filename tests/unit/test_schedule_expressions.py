"""Tests for EventBridge schedule expression parsing and fire times."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from local_runner.services.schedule_expressions import (
    CronSchedule,
    RateSchedule,
    Schedule,
    ScheduleExpressionError,
    parse_schedule,
)

# 2026-03-04 is a Wednesday; March 2026 starts on a Sunday.
WEDNESDAY_MORNING = datetime(2026, 3, 4, 10, 7, 30, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fire_times(expression: str, after: datetime, count: int) -> list[datetime]:
    schedule = parse_schedule(expression)
    times: list[datetime] = []
    moment = after
    for _ in range(count):
        fire = schedule.next_after(moment)
        assert fire is not None
        times.append(fire)
        moment = fire
    return times


# ----------------------------------------------------------- AWS doc examples


def test_daily_at_ten_fires_next_day_when_ten_has_passed() -> None:
    # GIVEN the AWS example "10:00 UTC every day"
    schedule = parse_schedule("cron(0 10 * * ? *)")
    # WHEN asked after 10:07 on Wednesday
    fire = schedule.next_after(WEDNESDAY_MORNING)
    # THEN it fires at 10:00 on Thursday, in UTC
    assert fire == utc(2026, 3, 5, 10, 0)
    assert fire is not None and fire.tzinfo is UTC


def test_daily_at_ten_fires_same_day_before_ten() -> None:
    # GIVEN the daily 10:00 schedule
    schedule = parse_schedule("cron(0 10 * * ? *)")
    # WHEN asked one second before 10:00
    fire = schedule.next_after(utc(2026, 3, 4, 9, 59, 59))
    # THEN it fires at 10:00 the same day
    assert fire == utc(2026, 3, 4, 10, 0)


def test_next_after_is_strictly_after_a_fire_time() -> None:
    # GIVEN the AWS example "12:15 UTC every day"
    schedule = parse_schedule("cron(15 12 * * ? *)")
    # WHEN asked exactly at a fire time and a microsecond after it
    at_fire = schedule.next_after(utc(2026, 3, 4, 12, 15))
    just_after = schedule.next_after(utc(2026, 3, 4, 12, 15) + timedelta(microseconds=1))
    # THEN both answers are the next day's fire time, never the same instant
    assert at_fire == utc(2026, 3, 5, 12, 15)
    assert just_after == utc(2026, 3, 5, 12, 15)


def test_weekdays_at_six_pm_skip_the_weekend() -> None:
    # GIVEN the AWS example "6:00 PM Monday through Friday"
    # WHEN asked at Friday's fire time
    times = fire_times("cron(0 18 ? * MON-FRI *)", utc(2026, 3, 6, 18, 0), 2)
    # THEN the next fires are Monday and Tuesday at 18:00
    assert times == [utc(2026, 3, 9, 18, 0), utc(2026, 3, 10, 18, 0)]


def test_first_day_of_every_month_rolls_over_the_year() -> None:
    # GIVEN the AWS example "8:00 AM on the first day of the month"
    # WHEN asked on the first of December after 08:00
    times = fire_times("cron(0 8 1 * ? *)", utc(2026, 12, 1, 8, 0), 2)
    # THEN it fires on 1 January and 1 February of the next year
    assert times == [utc(2027, 1, 1, 8, 0), utc(2027, 2, 1, 8, 0)]


def test_every_fifteen_minutes() -> None:
    # GIVEN the AWS example "every 15 minutes"
    # WHEN asked at 10:07:30
    times = fire_times("cron(0/15 * * * ? *)", WEDNESDAY_MORNING, 4)
    # THEN it fires at quarter hours, crossing into the next hour
    assert times == [
        utc(2026, 3, 4, 10, 15),
        utc(2026, 3, 4, 10, 30),
        utc(2026, 3, 4, 10, 45),
        utc(2026, 3, 4, 11, 0),
    ]


def test_every_ten_minutes_on_weekdays_resumes_monday_midnight() -> None:
    # GIVEN the AWS example "every 10 minutes Monday through Friday"
    schedule = parse_schedule("cron(0/10 * ? * MON-FRI *)")
    # WHEN asked at the last fire on Friday
    fire = schedule.next_after(utc(2026, 3, 6, 23, 50))
    # THEN the weekend is skipped
    assert fire == utc(2026, 3, 9, 0, 0)


def test_every_five_minutes_during_business_hours() -> None:
    # GIVEN the AWS example "every 5 minutes between 8:00 and 17:55, Mon-Fri"
    schedule = parse_schedule("cron(0/5 8-17 ? * MON-FRI *)")
    # WHEN asked at the day's last fire and before the day's first
    after_last = schedule.next_after(utc(2026, 3, 4, 17, 55))
    before_first = schedule.next_after(utc(2026, 3, 4, 7, 59))
    # THEN it resumes at 08:00 the next weekday, or starts at 08:00 today
    assert after_last == utc(2026, 3, 5, 8, 0)
    assert before_first == utc(2026, 3, 4, 8, 0)


def test_first_monday_of_each_month() -> None:
    # GIVEN the AWS example "9:00 AM on the first Monday of each month" (2 = MON)
    # WHEN asked after this month's first Monday
    times = fire_times("cron(0 9 ? * 2#1 *)", WEDNESDAY_MORNING, 3)
    # THEN it fires on the first Mondays of April, May and June 2026
    assert times == [
        utc(2026, 4, 6, 9, 0),
        utc(2026, 5, 4, 9, 0),
        utc(2026, 6, 1, 9, 0),
    ]


# ------------------------------------------------------------------- L W # etc.


def test_last_day_of_month_handles_february_and_leap_years() -> None:
    # GIVEN "midnight on the last day of the month"
    schedule = parse_schedule("cron(0 0 L * ? *)")
    # WHEN asked in January 2026 and January 2028
    # THEN February ends on the 28th in 2026 and the 29th in 2028
    assert schedule.next_after(utc(2026, 1, 31, 0, 0)) == utc(2026, 2, 28, 0, 0)
    assert schedule.next_after(utc(2028, 2, 1)) == utc(2028, 2, 29, 0, 0)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # 15 March 2026 is a Sunday -> Monday 16th
        ("cron(0 0 15W * ? *)", utc(2026, 3, 1), utc(2026, 3, 16)),
        # 15 August 2026 is a Saturday -> Friday 14th
        ("cron(0 0 15W * ? *)", utc(2026, 8, 1), utc(2026, 8, 14)),
        # 1 August 2026 is a Saturday; Friday is in July -> Monday 3rd
        ("cron(0 0 1W * ? *)", utc(2026, 7, 31), utc(2026, 8, 3)),
        # 31 May 2026 is a Sunday; Monday is in June -> Friday 29th
        ("cron(0 0 31W * ? *)", utc(2026, 5, 1), utc(2026, 5, 29)),
        # April has no 31st, so 31W skips it
        ("cron(0 0 31W * ? *)", utc(2026, 3, 31), utc(2026, 5, 29)),
        # last weekday: 31 May 2026 Sunday -> 29th; 28 Feb 2026 Saturday -> 27th
        ("cron(0 0 LW * ? *)", utc(2026, 5, 1), utc(2026, 5, 29)),
        ("cron(0 0 LW * ? *)", utc(2026, 2, 1), utc(2026, 2, 27)),
        ("cron(0 0 LW * ? *)", utc(2026, 3, 1), utc(2026, 3, 31)),
    ],
)
def test_weekday_wildcards_stay_in_the_month(
    expression: str, after: datetime, expected: datetime
) -> None:
    # GIVEN a day-of-month with W or LW
    schedule = parse_schedule(expression)
    # WHEN asked for the next fire time
    fire = schedule.next_after(after)
    # THEN it is the nearest Monday-Friday inside the same month
    assert fire == expected


def test_last_thursday_of_the_month() -> None:
    # GIVEN "5L": the last Thursday (5 = THU, 1 = SUN)
    # WHEN asked from the start of March 2026
    times = fire_times("cron(30 22 ? * 5L *)", utc(2026, 3, 1), 2)
    # THEN it fires on 26 March and 30 April 2026
    assert times == [utc(2026, 3, 26, 22, 30), utc(2026, 4, 30, 22, 30)]


def test_l_alone_in_day_of_week_means_every_saturday() -> None:
    # GIVEN "L" alone in day-of-week (the last day of the week, 7 = SAT)
    # WHEN asked on Wednesday 4 March 2026
    times = fire_times("cron(0 0 ? * L *)", WEDNESDAY_MORNING, 2)
    # THEN it fires every Saturday, not only the month's last one
    assert times == [utc(2026, 3, 7), utc(2026, 3, 14)]


def test_day_of_week_one_is_sunday() -> None:
    # GIVEN day-of-week 1, which AWS defines as SUNDAY
    schedule = parse_schedule("cron(0 0 ? * 1 *)")
    # WHEN asked on Wednesday
    fire = schedule.next_after(WEDNESDAY_MORNING)
    # THEN it fires on Sunday 8 March
    assert fire == utc(2026, 3, 8)
    assert fire is not None and fire.weekday() == calendar.SUNDAY


def test_names_are_case_insensitive_and_match_numbers() -> None:
    # GIVEN the same schedule written with names, lower-case names and numbers
    by_name = parse_schedule("cron(0 6 ? JUL-AUG TUE,THU *)")
    lower = parse_schedule("cron(0 6 ? jul-aug tue,thu *)")
    by_number = parse_schedule("cron(0 6 ? 7-8 3,5 *)")
    # WHEN asked from the same moment
    answers = {s.next_after(WEDNESDAY_MORNING) for s in (by_name, lower, by_number)}
    # THEN they agree on Thursday 2 July 2026
    assert answers == {utc(2026, 7, 2, 6, 0)}


@pytest.mark.parametrize(
    ("expression", "minutes"),
    [
        ("cron(10-50/20 * * * ? *)", (10, 30, 50)),
        ("cron(*/20 * * * ? *)", (0, 20, 40)),
        ("cron(5/20 * * * ? *)", (5, 25, 45)),
        ("cron(1,2,3,2 * * * ? *)", (1, 2, 3)),
        ("cron(58-59,0 * * * ? *)", (0, 58, 59)),
    ],
)
def test_minute_lists_ranges_and_steps(expression: str, minutes: tuple[int, ...]) -> None:
    # GIVEN a minutes field using ',' '-' '*' and '/'
    schedule = parse_schedule(expression)
    # WHEN it is parsed
    # THEN the expanded minutes are sorted and de-duplicated
    assert isinstance(schedule, CronSchedule)
    assert schedule.minutes == minutes


def test_day_of_month_step_starts_on_the_first() -> None:
    # GIVEN "*/10" in day-of-month (days start at 1)
    # WHEN asked from 2 March
    times = fire_times("cron(0 0 */10 * ? *)", utc(2026, 3, 2), 3)
    # THEN it fires on the 11th, 21st and 31st
    assert times == [utc(2026, 3, 11), utc(2026, 3, 21), utc(2026, 3, 31)]


def test_leap_day_skips_2100_which_is_not_a_leap_year() -> None:
    # GIVEN "midnight on 29 February"
    schedule = parse_schedule("cron(0 0 29 2 ? *)")
    # WHEN asked after the 2096 leap day
    fire = schedule.next_after(utc(2096, 3, 1))
    # THEN the next one is 2104, because 2100 has no 29 February
    assert fire == utc(2104, 2, 29)


# ------------------------------------------------------------- year exhaustion


def test_past_year_parses_but_never_fires_again() -> None:
    # GIVEN a schedule limited to 1999 (a valid year, 1970-2199)
    schedule = parse_schedule("cron(0 0 1 1 ? 1999)")
    # WHEN asked in 2026
    # THEN there is no further fire time
    assert schedule.next_after(utc(2026, 1, 1)) is None


def test_year_range_runs_out_after_its_last_fire() -> None:
    # GIVEN a schedule limited to 2026-2027
    schedule = parse_schedule("cron(0 0 1 1 ? 2026-2027)")
    # WHEN asked before and at the last fire
    # THEN it fires once more, then never again
    assert schedule.next_after(utc(2026, 6, 1)) == utc(2027, 1, 1)
    assert schedule.next_after(utc(2027, 1, 1)) is None


def test_last_supported_minute_has_no_successor() -> None:
    # GIVEN every minute of every year
    schedule = parse_schedule("cron(* * * * ? *)")
    # WHEN asked one minute before the end of 2199 and at it
    # THEN the last minute fires, and nothing follows it
    assert schedule.next_after(utc(2199, 12, 31, 23, 58)) == utc(2199, 12, 31, 23, 59)
    assert schedule.next_after(utc(2199, 12, 31, 23, 59)) is None


def test_impossible_date_returns_none_quickly() -> None:
    # GIVEN 30 February, which never exists (AWS accepts the expression)
    schedule = parse_schedule("cron(0 0 30 2 ? *)")
    # WHEN asked in 2026, with every year up to 2199 to search
    started = time.perf_counter()
    fire = schedule.next_after(utc(2026, 1, 1))
    elapsed = time.perf_counter() - started
    # THEN the answer is None, found by walking days, not minutes
    assert fire is None
    assert elapsed < 1.0


# ------------------------------------------------------------ time zone input


def test_non_utc_input_is_converted_and_output_is_utc() -> None:
    # GIVEN 11:30 at UTC+2, which is 09:30 UTC
    moment = datetime(2026, 3, 4, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    # WHEN the daily 10:00 UTC schedule is asked
    fire = parse_schedule("cron(0 10 * * ? *)").next_after(moment)
    # THEN it fires at 10:00 UTC the same day, reported in UTC
    assert fire == utc(2026, 3, 4, 10, 0)
    assert fire is not None and fire.utcoffset() == timedelta(0)


@pytest.mark.parametrize("expression", ["cron(0 10 * * ? *)", "rate(5 minutes)"])
def test_naive_moment_is_rejected(expression: str) -> None:
    # GIVEN any schedule
    schedule = parse_schedule(expression)
    # WHEN asked with a naive datetime
    # THEN it refuses instead of guessing the zone
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_after(datetime(2026, 3, 4, 10, 0))


# ------------------------------------------------------------------------ rate


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(12 hours)", timedelta(hours=12)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(7 days)", timedelta(days=7)),
    ],
)
def test_rate_interval(expression: str, interval: timedelta) -> None:
    # GIVEN a valid rate expression
    schedule = parse_schedule(expression)
    # WHEN it is parsed
    # THEN it is a RateSchedule with the interval and the original text
    assert isinstance(schedule, RateSchedule)
    assert schedule.interval == interval
    assert schedule.expression == expression


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(1 minute)", utc(2026, 3, 4, 10, 7, 30), utc(2026, 3, 4, 10, 8)),
        ("rate(1 minute)", utc(2026, 3, 4, 10, 8), utc(2026, 3, 4, 10, 9)),
        ("rate(5 minutes)", utc(2026, 3, 4, 10, 7, 30), utc(2026, 3, 4, 10, 10)),
        ("rate(5 minutes)", utc(2026, 3, 4, 10, 55), utc(2026, 3, 4, 11, 0)),
        ("rate(1 hour)", utc(2026, 3, 4, 10, 0, 1), utc(2026, 3, 4, 11, 0)),
        ("rate(1 day)", utc(2026, 3, 4, 23, 59, 59), utc(2026, 3, 5)),
        # 1970-01-01 was a Thursday, so 7-day multiples land on Thursdays
        ("rate(7 days)", utc(2026, 3, 4), utc(2026, 3, 5)),
        # moments before the epoch still align to it
        ("rate(5 minutes)", utc(1969, 12, 31, 23, 51), utc(1969, 12, 31, 23, 55)),
    ],
)
def test_rate_fires_on_epoch_aligned_multiples(
    expression: str, after: datetime, expected: datetime
) -> None:
    # GIVEN a rate schedule anchored on the UNIX epoch
    schedule = parse_schedule(expression)
    # WHEN asked for the next fire time
    fire = schedule.next_after(after)
    # THEN it is the next whole multiple of the interval, strictly later
    assert fire == expected


def test_rate_fire_times_are_evenly_spaced() -> None:
    # GIVEN rate(5 minutes)
    # WHEN asked repeatedly from an off-grid moment
    times = fire_times("rate(5 minutes)", WEDNESDAY_MORNING, 5)
    # THEN consecutive fires are exactly 5 minutes apart on :00 seconds
    gaps = {later - earlier for earlier, later in pairwise(times)}
    assert gaps == {timedelta(minutes=5)}
    assert all(t.second == 0 and t.minute % 5 == 0 for t in times)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("rate(1 minutes)", "use rate(1 minute)"),
        ("rate(1 hours)", "use rate(1 hour)"),
        ("rate(1 days)", "use rate(1 day)"),
        ("rate(5 minute)", "use rate(5 minutes)"),
        ("rate(2 hour)", "use rate(2 hours)"),
        ("rate(30 day)", "use rate(30 days)"),
        ("rate(0 minutes)", "must be positive"),
        ("rate(-5 minutes)", "positive whole number"),
        ("rate(1.5 hours)", "positive whole number"),
        ("rate(five minutes)", "positive whole number"),
        ("rate(5 seconds)", "unknown rate unit 'seconds'"),
        ("rate(5 weeks)", "unknown rate unit 'weeks'"),
        ("rate(5 Minutes)", "lower case"),
        ("rate(5)", "exactly two parts"),
        ("rate(5 minutes now)", "exactly two parts"),
        ("rate()", "exactly two parts"),
        ("rate( 5 minutes )", "spaces just inside the parentheses"),
        ("rate(5\tminutes)", "plain spaces"),
        ("Rate(5 minutes)", "lower case"),
        ("rate (5 minutes)", "no space between the keyword"),
        ("rate(5 minutes", "closing ')'"),
        ("rate(5 minutes))", "closing ')'"),
        ("every 5 minutes", "expected rate(value unit) or cron("),
        ("at(2026-03-04T10:00:00)", "at() schedules are not supported"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_invalid_rate_names_the_problem(expression: str, fragment: str) -> None:
    # GIVEN a rate expression AWS would reject
    # WHEN it is parsed
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_schedule(expression)
    # THEN the message quotes the expression and says what to fix
    message = str(caught.value)
    assert fragment in message
    assert repr(expression) in message
    assert caught.value.expression == expression


def test_surrounding_whitespace_is_ignored() -> None:
    # GIVEN expressions padded with whitespace, e.g. from a YAML block scalar
    rate = parse_schedule("  rate(5 minutes)\n")
    cron = parse_schedule("\tcron(0 10 * * ? *) ")
    # WHEN they are used
    # THEN they behave like the unpadded ones
    assert isinstance(rate, RateSchedule)
    assert rate.interval == timedelta(minutes=5)
    assert cron.next_after(WEDNESDAY_MORNING) == utc(2026, 3, 5, 10, 0)


def test_runs_of_spaces_between_fields_are_accepted() -> None:
    # GIVEN fields separated by more than one space ("separated by white space")
    schedule = parse_schedule("cron(0  10 * *   ? *)")
    # WHEN asked for the next fire time
    # THEN the fields are read as if single-spaced
    assert schedule.next_after(WEDNESDAY_MORNING) == utc(2026, 3, 5, 10, 0)


def test_error_is_a_value_error() -> None:
    # GIVEN code that catches ValueError around configuration parsing
    # WHEN a bad expression is parsed
    # THEN the ScheduleExpressionError is caught as a ValueError
    with pytest.raises(ValueError, match="rate"):
        parse_schedule("rate(1 minutes)")


# ----------------------------------------------------------------- cron errors


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("cron(0 10 * * *)", "exactly 6 fields"),
        ("cron(0 10 * * *)", "add ' *' at the end"),
        ("cron(0 10 * * ? * *)", "found 7"),
        ("cron()", "found 0"),
        ("cron(0 10 * * * *)", "cannot specify both day-of-month"),
        ("cron(0 10 1 * MON *)", "exactly one of them must be '?'"),
        ("cron(0 10 ? * ? *)", "cannot both be '?'"),
        ("cron(60 * * * ? *)", "minutes field '60': 60 is out of range"),
        ("cron(0 24 * * ? *)", "hours field '24'"),
        ("cron(0 0 0 * ? *)", "day-of-month field '0'"),
        ("cron(0 0 32 * ? *)", "allowed: 1-31"),
        ("cron(0 0 1 13 ? *)", "allowed: 1-12 or JAN-DEC"),
        ("cron(0 0 1 FOO ? *)", "'FOO' is not a number or name"),
        ("cron(0 0 ? * 0 *)", "allowed: 1-7 or SUN-SAT"),
        ("cron(0 0 ? * 8 *)", "day-of-week field '8'"),
        ("cron(0 0 ? * MONDAY *)", "'MONDAY' is not a number or name"),
        ("cron(0 0 1 * ? 1969)", "year field '1969'"),
        ("cron(0 0 1 * ? 2200)", "allowed: 1970-2199"),
        ("cron(5-1 * * * ? *)", "runs backwards"),
        ("cron(0 0 ? * FRI-MON *)", "runs backwards"),
        ("cron(-5 * * * ? *)", "a value is missing"),
        ("cron(1,,2 * * * ? *)", "empty entry"),
        ("cron(0/0 * * * ? *)", "step after '/'"),
        ("cron(0/x * * * ? *)", "step after '/'"),
        ("cron(0/1/2 * * * ? *)", "step after '/'"),
        ("cron(1.5 * * * ? *)", "'1.5' is not a number"),
        ("cron(*-5 * * * ? *)", "'*' must stand alone"),
        ("cron(? * * * ? *)", "only allowed in the day-of-month or day-of-week"),
        ("cron(0 0 1,? * ? *)", "'?' must be the whole field"),
        ("cron(L * * * ? *)", "only allowed in the day-of-month or day-of-week"),
        ("cron(0 W * * ? *)", "only allowed in the day-of-month field"),
        ("cron(0 0 1#2 * ? *)", "only allowed in the day-of-week field"),
        ("cron(0 0 ? * */2 *)", "'/' is not allowed"),
        ("cron(0 0 ? * 3#1,6#3 *)", "only one expression"),
        ("cron(0 0 ? * 3#6 *)", "after '#' must be 1-5"),
        ("cron(0 0 ? * 3#0 *)", "after '#' must be 1-5"),
        ("cron(0 0 ? * 9#1 *)", "day-of-week field '9#1': 9 is out of range"),
        ("cron(0 0 ? * 1-5L *)", "'L' must be alone or follow a single day"),
        ("cron(0 0 ? * L5 *)", "'L' must be alone or at the end"),
        ("cron(0 0 L-3 * ? *)", "'L' and 'W' must make up the whole field"),
        ("cron(0 0 1,L * ? *)", "'L' and 'W' must make up the whole field"),
        ("cron(0 0 1-5W * ? *)", "'W' must follow a single day number"),
        ("cron(0 0 32W * ? *)", "32 is out of range"),
        ("CRON(0 10 * * ? *)", "lower case"),
        ("cron( 0 10 * * ? * )", "spaces just inside the parentheses"),
    ],
)
def test_invalid_cron_names_the_problem(expression: str, fragment: str) -> None:
    # GIVEN a cron expression AWS would reject
    # WHEN it is parsed
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_schedule(expression)
    # THEN the message quotes the expression and says what is wrong
    message = str(caught.value)
    assert fragment in message
    assert repr(expression) in message


def test_parsed_schedules_satisfy_the_protocol() -> None:
    # GIVEN one rate and one cron expression
    parsed = [parse_schedule("rate(1 hour)"), parse_schedule("cron(0 10 * * ? *)")]
    # WHEN checked against the Schedule protocol
    # THEN both qualify and keep the expression as written
    assert all(isinstance(schedule, Schedule) for schedule in parsed)
    assert [s.expression for s in parsed] == ["rate(1 hour)", "cron(0 10 * * ? *)"]


# ------------------------------------------------------- brute-force properties


def _last_weekday(moment: datetime) -> bool:
    last = calendar.monthrange(moment.year, moment.month)[1]
    weekdays = [
        day
        for day in range(1, last + 1)
        if calendar.weekday(moment.year, moment.month, day) < calendar.SATURDAY
    ]
    return moment.day == weekdays[-1]


def _nearest_weekday_to_15th(moment: datetime) -> bool:
    last = calendar.monthrange(moment.year, moment.month)[1]
    weekdays = [
        day
        for day in range(1, last + 1)
        if calendar.weekday(moment.year, moment.month, day) < calendar.SATURDAY
    ]
    return moment.day == min(weekdays, key=lambda day: abs(day - 15))


def _days_in_month(moment: datetime) -> int:
    return calendar.monthrange(moment.year, moment.month)[1]


BRUTE_FORCE_CASES: list[tuple[str, Callable[[datetime], bool], timedelta]] = [
    (
        "cron(0/15 * * * ? *)",
        lambda t: t.minute % 15 == 0,
        timedelta(days=2),
    ),
    (
        "cron(0/5 8-17 ? * MON-FRI *)",
        lambda t: t.weekday() < 5 and 8 <= t.hour <= 17 and t.minute % 5 == 0,
        timedelta(days=9),
    ),
    (
        "cron(10-50/20 */6 ? * SAT,SUN *)",
        lambda t: t.weekday() >= 5 and t.hour % 6 == 0 and t.minute in (10, 30, 50),
        timedelta(days=15),
    ),
    (
        "cron(7 3 LW * ? *)",
        lambda t: (t.hour, t.minute) == (3, 7) and _last_weekday(t),
        timedelta(days=120),
    ),
    (
        "cron(30 6 15W * ? *)",
        lambda t: (t.hour, t.minute) == (6, 30) and _nearest_weekday_to_15th(t),
        timedelta(days=120),
    ),
    (
        "cron(45 23 ? * 6L *)",
        lambda t: (
            (t.hour, t.minute) == (23, 45)
            and t.weekday() == calendar.FRIDAY
            and t.day + 7 > _days_in_month(t)
        ),
        timedelta(days=120),
    ),
    (
        "cron(0 12 ? * 3#2 *)",
        lambda t: (
            (t.hour, t.minute) == (12, 0) and t.weekday() == calendar.TUESDAY and 8 <= t.day <= 14
        ),
        timedelta(days=120),
    ),
    (
        "cron(0 0,12 L FEB,MAR,DEC ? *)",
        lambda t: (
            t.hour in (0, 12)
            and t.minute == 0
            and t.day == _days_in_month(t)
            and t.month in (2, 3, 12)
        ),
        timedelta(days=120),
    ),
    (
        "cron(0 12 1-7/3 FEB-APR,DEC ? 2026)",
        lambda t: (
            (t.hour, t.minute) == (12, 0)
            and t.day in (1, 4, 7)
            and t.month in (2, 3, 4, 12)
            and t.year == 2026
        ),
        timedelta(days=120),
    ),
]


@pytest.mark.parametrize(
    ("expression", "matches", "window"),
    BRUTE_FORCE_CASES,
    ids=[case[0] for case in BRUTE_FORCE_CASES],
)
def test_next_after_agrees_with_minute_by_minute_scan(
    expression: str, matches: Callable[[datetime], bool], window: timedelta
) -> None:
    # GIVEN a cron expression, an independent predicate for it and a time window
    schedule = parse_schedule(expression)
    start = utc(2026, 1, 30, 13, 37, 20)
    end = start + window
    # WHEN next_after is applied repeatedly across the window
    produced: list[datetime] = []
    moment = start
    while True:
        fire = schedule.next_after(moment)
        assert fire is not None
        assert fire > moment
        if fire > end:
            break
        produced.append(fire)
        moment = fire
    # AND every whole minute in the window is checked by brute force
    expected: list[datetime] = []
    candidate = start.replace(second=0) + timedelta(minutes=1)
    while candidate <= end:
        if matches(candidate):
            expected.append(candidate)
        candidate += timedelta(minutes=1)
    # THEN both agree exactly, and the fire times strictly increase
    assert produced == expected
    assert len(produced) >= 2
    assert all(a < b for a, b in pairwise(produced))
