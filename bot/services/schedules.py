"""Ritual schedules: parsed from owner-friendly text, expanded to fire times in a local zone.

All arithmetic happens on local calendar dates and wall-clock times, then each fire time is
converted to UTC once. That keeps 10:00 Europe/Berlin at 10:00 local across daylight-saving
changes. A local time that does not exist (the spring-forward gap) moves to the next valid
minute; an ambiguous one (the fall-back hour) fires once, at its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.errors import Invalid
from bot.inputs import UnknownZone, ascii_int, check_zone, shorten

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
ANCHOR = date(2024, 1, 1)  # a Monday; "every N weeks" counts weeks from here
FORMS = (
    "`weekly mon,thu 10:00`, `every 2 weeks fri 17:30`, `monthly first mon 18:00`, "
    "`monthly last fri 12:00` or `once 2026-12-24 18:00`"
)


@dataclass(frozen=True)
class Schedule:
    """When a ritual fires, in its own time zone."""

    kind: Literal["weekly", "monthly", "once"]
    at: time
    weekdays: tuple[int, ...] = ()
    every_weeks: int = 1
    nth: int = 1
    on: date | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the stored form."""
        return {
            "kind": self.kind,
            "at": self.at.strftime("%H:%M"),
            "weekdays": list(self.weekdays),
            "every_weeks": self.every_weeks,
            "nth": self.nth,
            "on": self.on.isoformat() if self.on else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        """Rebuild a stored schedule."""
        return cls(
            kind=data["kind"],
            at=time.fromisoformat(data["at"]),
            weekdays=tuple(data.get("weekdays") or ()),
            every_weeks=int(data.get("every_weeks") or 1),
            nth=int(data.get("nth") or 1),
            on=date.fromisoformat(data["on"]) if data.get("on") else None,
        )

    def describe(self) -> str:
        """Say the schedule in words."""
        clock = self.at.strftime("%H:%M")
        if self.kind == "once":
            return f"once on {self.on} at {clock}"
        if self.kind == "monthly":
            ordinal = {v: k for k, v in ORDINALS.items()}[self.nth]
            return f"monthly on the {ordinal} {WEEKDAYS[self.weekdays[0]].title()} at {clock}"
        days = ", ".join(WEEKDAYS[d].title() for d in self.weekdays)
        every = "weekly" if self.every_weeks == 1 else f"every {self.every_weeks} weeks"
        return f"{every} on {days} at {clock}"


def zone(name: str) -> ZoneInfo:
    """Return the IANA zone, or raise Invalid naming the problem."""
    try:
        return check_zone(name)
    except UnknownZone:
        raise Invalid(
            f"`{shorten(name)}` is not a time zone I know; use an IANA name like `Europe/Berlin`."
        ) from None


def _parse_time(text: str) -> time:
    # ASCII digits only: \d would take "１７:３０" and "1٠:00".
    match = re.fullmatch(r"([01]?[0-9]|2[0-3])[:.h]([0-5][0-9])", text)
    if not match:
        raise Invalid(
            f"`{shorten(text)}` is not a time; write it as 24-hour `HH:MM` in ASCII digits, "
            "like `17:30`."
        )
    return time(int(match.group(1)), int(match.group(2)))


# Each weekday as people write it; anything else is refused, never cut to three letters
# ("monwed" or "mon-wed" would otherwise quietly become Monday).
_DAY_NAMES = {
    **{day: index for index, day in enumerate(WEEKDAYS)},
    **{
        name: index
        for index, names in enumerate(
            (
                ("monday",),
                ("tues", "tuesday"),
                ("weds", "wednesday"),
                ("thur", "thurs", "thursday"),
                ("friday",),
                ("saturday",),
                ("sunday",),
            )
        )
        for name in names
    },
}


def _weekday(word: str) -> int | None:
    return _DAY_NAMES.get(word, _DAY_NAMES.get(word.removesuffix("s")))


def _parse_weekdays(text: str) -> tuple[int, ...]:
    days = []
    for part in re.split(r"[,\s]+", text.strip().lower()):
        if not part or part in ("and", "&", "+", "/"):
            continue
        found = [_weekday(word) for word in re.split(r"[+/]", part)]
        if any(day is None for day in found):
            raise Invalid(
                f"`{shorten(part)}` is not a weekday; write each day, like `mon,wed` or "
                "`mon and wed` (mon, tue, wed, thu, fri, sat, sun)."
            )
        days += [day for day in found if day is not None]
    if not days:
        raise Invalid("Name at least one weekday, like `mon` or `mon,thu`.")
    return tuple(sorted(set(days)))


def parse_schedule(text: str) -> Schedule:
    """Parse a schedule written as text; raise Invalid with the accepted forms otherwise."""
    words = text.strip().lower().split()
    if not words:
        raise Invalid(f"Give a schedule, like {FORMS}.")
    if words[0] == "weekly" and len(words) >= 3:
        return Schedule("weekly", _parse_time(words[-1]), _parse_weekdays(" ".join(words[1:-1])))
    if words[0] == "every" and len(words) >= 5 and words[2].startswith("week"):
        every = ascii_int(words[1], max_digits=2)
        if every is None or not 1 <= every <= 12:
            raise Invalid("`every N weeks` takes N from 1 to 12, in ASCII digits.")
        return Schedule(
            "weekly",
            _parse_time(words[-1]),
            _parse_weekdays(" ".join(words[3:-1])),
            every_weeks=every,
        )
    if words[0] == "monthly" and len(words) >= 4:
        if words[1] not in ORDINALS:
            raise Invalid(
                "Monthly schedules say which weekday: first, second, third, fourth or last."
            )
        days = _parse_weekdays(" ".join(words[2:-1]))
        if len(days) > 1:
            raise Invalid(
                "A monthly schedule takes one weekday, like `monthly first mon 18:00`; "
                "make a ritual for each day."
            )
        return Schedule("monthly", _parse_time(words[-1]), days, nth=ORDINALS[words[1]])
    if words[0] == "once" and len(words) == 3:
        day = _parse_date(words[1])
        return Schedule("once", _parse_time(words[2]), on=day)
    raise Invalid(f"I can't read the schedule `{shorten(text.strip())}`. Try {FORMS}.")


def _parse_date(text: str) -> date:
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise Invalid(f"`{shorten(text)}` is not a date; write it as `YYYY-MM-DD`.")


def to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Turn a local date and wall-clock time into UTC, moving out of DST gaps."""
    naive = datetime.combine(day, at)
    for minutes in range(0, 24 * 60):
        candidate = (naive + timedelta(minutes=minutes)).replace(tzinfo=tz, fold=0)
        back = candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if back == candidate.replace(tzinfo=None):
            return candidate.astimezone(UTC)
    raise AssertionError("no valid local time within a day")  # pragma: no cover


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> date | None:
    if nth > 0:
        first = date(year, month, 1)
        day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
        return day if day.month == month else None
    following = date(year + month // 12, month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _local_days(schedule: Schedule, start: date, end: date) -> Iterator[date]:
    if schedule.kind == "once":
        if schedule.on and start <= schedule.on <= end:
            yield schedule.on
        return
    if schedule.kind == "monthly":
        year, month = start.year, start.month
        while date(year, month, 1) <= end:
            day = _nth_weekday(year, month, schedule.weekdays[0], schedule.nth)
            if day and start <= day <= end:
                yield day
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return
    day = start
    while day <= end:
        week = (day - ANCHOR).days // 7
        if day.weekday() in schedule.weekdays and week % schedule.every_weeks == 0:
            yield day
        day += timedelta(days=1)


def fire_times(schedule: Schedule, tz_name: str, start: datetime, end: datetime) -> list[datetime]:
    """Return the UTC fire times in [start, end], in order."""
    tz = zone(tz_name)
    # Widen by a day each side: a local date can map to the neighbouring UTC date.
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    times = [to_utc(day, schedule.at, tz) for day in _local_days(schedule, first, last)]
    return sorted(t for t in times if start <= t <= end)


def next_fire_times(
    schedule: Schedule, tz_name: str, after: datetime, count: int
) -> list[datetime]:
    """Return the next ``count`` fire times strictly after ``after``."""
    found: list[datetime] = []
    horizon = after
    for _ in range(60):  # up to 5 years ahead, a year at a time
        window_end = horizon + timedelta(days=31)
        found += [
            t
            for t in fire_times(schedule, tz_name, horizon, window_end)
            if t > after and t not in found
        ]
        if len(found) >= count:
            break
        horizon = window_end
    return found[:count]
