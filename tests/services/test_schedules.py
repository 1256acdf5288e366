"""Schedules: text forms, DST-correct fire times, helpful errors."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest

from bot.errors import Invalid
from bot.services.schedules import fire_times, next_fire_times, parse_schedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_weekly_berlin_ritual_keeps_its_local_time_across_both_dst_changes():
    schedule = parse_schedule("weekly fri 10:00")
    times = fire_times(schedule, "Europe/Berlin", utc(2026, 3, 1), utc(2026, 11, 7))
    # Winter (CET, UTC+1) → 09:00 UTC; summer (CEST, UTC+2) → 08:00 UTC; always a Friday.
    assert all(t.astimezone(UTC).weekday() == 4 for t in times)
    assert utc(2026, 3, 27, 9, 0) in times  # last Friday before spring-forward (29 Mar)
    assert utc(2026, 4, 3, 8, 0) in times  # first Friday after
    assert utc(2026, 10, 23, 8, 0) in times  # last Friday before fall-back (25 Oct)
    assert utc(2026, 10, 30, 9, 0) in times  # first Friday after
    assert len(times) == 36


def test_a_time_in_the_spring_forward_gap_fires_once_at_the_next_valid_minute():
    schedule = parse_schedule("weekly sun 02:30")
    times = fire_times(schedule, "Europe/Berlin", utc(2026, 3, 28), utc(2026, 3, 30))
    assert times == [utc(2026, 3, 29, 1, 0)]  # 03:00 CEST


def test_an_ambiguous_fall_back_time_fires_once():
    schedule = parse_schedule("weekly sun 02:30")
    times = fire_times(schedule, "Europe/Berlin", utc(2026, 10, 24), utc(2026, 10, 26))
    assert times == [utc(2026, 10, 25, 0, 30)]  # the first 02:30 (CEST)


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("monthly first mon 18:00", utc(2026, 1, 5, 18)),
        ("monthly last fri 12:00", utc(2026, 1, 30, 12)),
        ("every 2 weeks wed 09:15", utc(2026, 1, 14, 9, 15)),
        ("once 2026-12-24 18:00", utc(2026, 12, 24, 18)),
        ("weekly Mon, Thu 7.30", utc(2026, 1, 1, 7, 30)),  # 1 Jan 2026 is a Thursday
    ],
)
def test_each_schedule_form_gives_the_expected_next_time(text, first):
    assert next_fire_times(parse_schedule(text), "UTC", utc(2026, 1, 1), 1) == [first]


def test_every_two_weeks_skips_alternate_weeks():
    times = next_fire_times(parse_schedule("every 2 weeks wed 09:15"), "UTC", utc(2026, 1, 1), 3)
    assert [(b - a).days for a, b in pairwise(times)] == [14, 14]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("weekly funday 10:00", "`funday` is not a weekday"),
        ("weekly mon 25:00", "`25:00` is not a time"),
        ("monthly fifth mon 10:00", "first, second, third, fourth or last"),
        ("once 2026-13-01 10:00", "is not a date"),
        ("whenever", "I can't read the schedule `whenever`. Try"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong_and_what_to_write(text, message):
    with pytest.raises(Invalid, match=message):
        parse_schedule(text)
