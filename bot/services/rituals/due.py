"""When a ritual is next due: its next fire time and its next reminder time.

The scheduler wakes a ritual only when one of these two stored times has come, so every
change that moves them (create, edit, fire, pause, resume) stores them again from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.models import Ritual
from bot.services.schedules import Schedule, next_fire_times

INSTANT = timedelta(microseconds=1)  # "at or after t" is "strictly after t - INSTANT"


def next_fire(
    schedule: Schedule, timezone: str, after: datetime, *, inclusive: bool
) -> datetime | None:
    """Return the first fire time after ``after`` (or at it), None if there is none left."""
    times = next_fire_times(schedule, timezone, after - INSTANT if inclusive else after, 1)
    return times[0] if times else None


def next_reminder(
    schedule: Schedule,
    timezone: str,
    leads: Sequence[int],
    after: datetime,
    *,
    inclusive: bool,
) -> datetime | None:
    """Return the earliest reminder due time after ``after`` (or at it), over every lead time."""
    start = after - INSTANT if inclusive else after
    earliest: datetime | None = None
    for lead in leads:
        before = timedelta(minutes=lead)
        # The first reminder of this lead after `start` belongs to the first fire after start + lead.
        fire = next_fire(schedule, timezone, start + before, inclusive=False)
        if fire is not None and (earliest is None or fire - before < earliest):
            earliest = fire - before
    return earliest


def schedule_from(ritual: Ritual, moment: datetime) -> None:
    """Store the ritual's next fire and reminder times from ``moment`` on (it included)."""
    schedule = Schedule.from_json(ritual.schedule)
    ritual.next_fire_at = next_fire(schedule, ritual.timezone, moment, inclusive=True)
    ritual.next_remind_at = next_reminder(
        schedule, ritual.timezone, ritual.reminder_minutes, moment, inclusive=True
    )


def unschedule(ritual: Ritual) -> None:
    """Clear the ritual's due times (it is paused)."""
    ritual.next_fire_at = None
    ritual.next_remind_at = None
