"""Boards and calendar periods in a community's time zone.

A week starts on Monday at 00:00 local time and a month on the 1st at 00:00 local time;
``all`` has one fixed start. Starts are computed on local dates with :mod:`zoneinfo` and kept
as UTC instants, so a week holding a DST change lasts 167 or 169 hours, as the clock on the
wall says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.errors import Invalid


class Board(StrEnum):
    """What a leaderboard ranks."""

    POINTS = "points"
    RITUALS = "rituals"  # ritual check-ins (attendance)
    HELPERS = "helpers"  # accepted answers


class Period(StrEnum):
    """Which stretch of time a board covers."""

    ALL = "all"
    WEEK = "week"
    MONTH = "month"


ALL_TIME_START = datetime(2000, 1, 1, tzinfo=UTC)


def board_of(value: str) -> Board:
    """Return the board named ``value`` or refuse it."""
    try:
        return Board(value)
    except ValueError:
        names = ", ".join(b.value for b in Board)
        raise Invalid(f"There is no board {value[:60]!r}; try {names}.", field="board") from None


def period_of(value: str) -> Period:
    """Return the period named ``value`` or refuse it."""
    try:
        return Period(value)
    except ValueError:
        names = ", ".join(p.value for p in Period)
        raise Invalid(f"There is no period {value[:60]!r}; try {names}.", field="period") from None


@lru_cache(maxsize=4096)
def _local_midnight(day: date, zone: str) -> datetime:
    # The first moment of the local date; where midnight does not exist (a DST jump at
    # 00:00) zoneinfo's fold=0 reading is taken, the same way every time.
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def period_start(period: Period, at: datetime, zone: str) -> datetime:
    """Return the UTC start of the period holding ``at`` in the time zone ``zone``."""
    if period is Period.ALL:
        return ALL_TIME_START
    day = at.astimezone(ZoneInfo(zone)).date()
    if period is Period.WEEK:
        return _local_midnight(day - timedelta(days=day.weekday()), zone)
    return _local_midnight(day.replace(day=1), zone)


def period_starts(at: datetime, zone: str) -> tuple[tuple[Period, datetime], ...]:
    """Return every period holding ``at`` with its start (all, week, month)."""
    day = at.astimezone(ZoneInfo(zone)).date()
    return (
        (Period.ALL, ALL_TIME_START),
        (Period.WEEK, _local_midnight(day - timedelta(days=day.weekday()), zone)),
        (Period.MONTH, _local_midnight(day.replace(day=1), zone)),
    )
