"""What a moderator gives to create or change a ritual: specs, changes, templates, validation.

Every refusal is an :class:`~bot.errors.Invalid` naming the :class:`RitualSpec` field it is
about and a stable code, so a form can show it beside that field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from bot.errors import Invalid
from bot.inputs import ascii_int, clean_name, clean_text, shorten
from bot.services.schedules import Schedule, next_fire_times, parse_schedule, zone

T = TypeVar("T")
LEADS = "Reminders: up to three, each 5 minutes to 7 days before (like `1440, 60`)."
KINDS = ("office_hours", "feedback_friday", "monday_wins", "monthly_drop", "custom")


@dataclass(frozen=True)
class Template:
    """A classic ritual a moderator can create in one step."""

    name: str
    schedule: str
    prompt: str
    reminder_minutes: tuple[int, ...] = (1440, 60)
    checkin_window_minutes: int = 120
    checkin_points: int = 10


TEMPLATES: dict[str, Template] = {
    "office_hours": Template(
        "Office Hours",
        "weekly thu 17:00",
        "Office Hours are open: ask the team anything in the thread, and check in so we know you came.",
        checkin_window_minutes=90,
    ),
    "feedback_friday": Template(
        "Feedback Friday",
        "weekly fri 12:00",
        "Feedback Friday: share what you are working on and get honest, kind feedback from the community.",
        checkin_window_minutes=480,
    ),
    "monday_wins": Template(
        "Monday Wins",
        "weekly mon 09:00",
        "Monday Wins: what went well last week? Share one win, big or small, in the thread.",
        reminder_minutes=(60,),
        checkin_window_minutes=720,
    ),
    "monthly_drop": Template(
        "Monthly Drop",
        "monthly first tue 18:00",
        "This month's drop is live. Tell us what you think in the thread; members hear first.",
        reminder_minutes=(1440, 60),
        checkin_window_minutes=1440,
        checkin_points=20,
    ),
}


@dataclass(frozen=True)
class RitualSpec:
    """What a moderator gives to create a ritual.

    ``channel_id`` is a channel on the platform of the moderator who creates or edits it.
    """

    name: str
    schedule: str
    timezone: str
    prompt: str
    kind: str = "custom"
    channel_id: str | None = None
    thread_per_occurrence: bool = True
    reminder_minutes: tuple[int, ...] = (1440, 60)
    checkin_window_minutes: int = 120
    checkin_points: int = 10
    grace_minutes: int = 60


@dataclass(frozen=True)
class RitualChanges:
    """What a moderator changes in a ritual; ``None`` keeps the current value."""

    name: str | None = None
    schedule: str | None = None
    timezone: str | None = None
    prompt: str | None = None
    channel_id: str | None = None
    thread_per_occurrence: bool | None = None
    reminder_minutes: tuple[int, ...] | None = None
    checkin_window_minutes: int | None = None
    checkin_points: int | None = None
    grace_minutes: int | None = None

    def applied_to(self, spec: RitualSpec) -> RitualSpec:
        """Return ``spec`` with these changes made (its kind stays)."""
        return RitualSpec(
            name=_keep(self.name, spec.name),
            schedule=_keep(self.schedule, spec.schedule),
            timezone=_keep(self.timezone, spec.timezone),
            prompt=_keep(self.prompt, spec.prompt),
            kind=spec.kind,
            channel_id=_keep(self.channel_id, spec.channel_id),
            thread_per_occurrence=_keep(self.thread_per_occurrence, spec.thread_per_occurrence),
            reminder_minutes=_keep(self.reminder_minutes, spec.reminder_minutes),
            checkin_window_minutes=_keep(self.checkin_window_minutes, spec.checkin_window_minutes),
            checkin_points=_keep(self.checkin_points, spec.checkin_points),
            grace_minutes=_keep(self.grace_minutes, spec.grace_minutes),
        )


def _keep(new: T | None, old: T) -> T:
    return old if new is None else new


def spec_from_template(
    template: str, *, timezone: str, channel_id: str | None, name: str | None = None
) -> RitualSpec:
    """Build the spec of a classic ritual, posting in the given channel."""
    chosen = TEMPLATES.get(template)
    if chosen is None:
        raise Invalid(f"Templates: {', '.join(TEMPLATES)}.", field="kind", code="kind.unknown")
    return RitualSpec(
        name=name or chosen.name,
        kind=template,
        schedule=chosen.schedule,
        timezone=timezone,
        prompt=chosen.prompt,
        channel_id=channel_id,
        reminder_minutes=chosen.reminder_minutes,
        checkin_window_minutes=chosen.checkin_window_minutes,
        checkin_points=chosen.checkin_points,
    )


def check_timezone(name: str) -> None:
    """Refuse a time zone that is not an IANA name, about the ``timezone`` field."""
    try:
        zone(name)
    except Invalid as error:
        raise Invalid(error.message, field="timezone", code="timezone.unknown") from None


def check_schedule(text: str) -> Schedule:
    """Parse a schedule, or refuse it about the ``schedule`` field."""
    try:
        return parse_schedule(text)
    except Invalid as error:
        raise Invalid(error.message, field="schedule", code="schedule.unparsable") from None


def validate(spec: RitualSpec, *, has_channel: bool) -> tuple[RitualSpec, Schedule]:
    """Check every field of a spec; return it cleaned (name and prompt trimmed) and its schedule.

    ``has_channel`` says whether the ritual will post somewhere (the spec's channel, or a
    channel it keeps on another platform).
    """
    if not spec.name.strip():
        raise Invalid("A ritual name has 1 to 80 characters.", field="name", code="name.length")
    name = clean_name(spec.name, what="A ritual name", max_length=80)
    if spec.kind not in KINDS:
        raise Invalid(f"Kind must be one of {', '.join(KINDS)}.", field="kind", code="kind.unknown")
    check_timezone(spec.timezone)
    schedule = check_schedule(spec.schedule)
    prompt = clean_text(
        spec.prompt, field="prompt", what="The prompt is the post members see", max_length=1500
    )
    if not has_channel:
        raise Invalid("Choose a channel to post in.", field="channel_id", code="channel_id.missing")
    if len(spec.reminder_minutes) > 3 or any(not 5 <= m <= 7 * 1440 for m in spec.reminder_minutes):
        raise Invalid(
            LEADS,
            field="reminder_minutes",
            code="reminder_minutes.range",
        )
    if not 5 <= spec.checkin_window_minutes <= 7 * 1440:
        raise Invalid(
            "The check-in window is 5 minutes to 7 days.",
            field="checkin_window_minutes",
            code="checkin_window_minutes.range",
        )
    if not 0 <= spec.checkin_points <= 1000:
        raise Invalid(
            "Check-in points are 0 to 1,000.", field="checkin_points", code="checkin_points.range"
        )
    if not 0 <= spec.grace_minutes <= 1440:
        raise Invalid(
            "The grace period is 0 to 1,440 minutes.",
            field="grace_minutes",
            code="grace_minutes.range",
        )
    return replace(spec, name=name, prompt=prompt), schedule


def check_upcoming(schedule: Schedule, timezone: str, now: datetime) -> None:
    """Refuse a one-off schedule whose time has passed, about the ``schedule`` field."""
    if schedule.kind == "once" and not next_fire_times(schedule, timezone, now, 1):
        local = now.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M")
        raise Invalid(
            f"`{schedule_text(schedule)}` is in the past (it is {local} in {timezone}); "
            "give a date and time still to come.",
            field="schedule",
            code="schedule.past",
        )


def parse_minutes(text: str) -> tuple[int, ...]:
    """Parse reminder lead times like ``24h, 1h`` or ``1440, 60`` into minutes."""
    leads = []
    for part in re.split(r"[,\s]+", text.strip().lower()):
        if not part:
            continue
        match = re.fullmatch(r"([0-9]+)(m|min|h|d)?", part)
        if not match:
            raise Invalid(
                f"`{shorten(part)}` is not a lead time; write minutes or hours in ASCII digits, "
                "like `24h, 1h`.",
                field="reminder_minutes",
                code="reminder_minutes.unparsable",
            )
        value, unit = ascii_int(match.group(1)), match.group(2) or "m"
        if value is None:  # more digits than any lead time in range has
            raise Invalid(LEADS, field="reminder_minutes", code="reminder_minutes.range")
        leads.append(value * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit])
    return tuple(sorted(set(leads), reverse=True))


def schedule_text(schedule: Schedule) -> str:
    """Write a schedule back as the text :func:`~bot.services.schedules.parse_schedule` reads."""
    clock = schedule.at.strftime("%H:%M")
    if schedule.kind == "once":
        return f"once {schedule.on} {clock}"
    days = ",".join(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in schedule.weekdays)
    if schedule.kind == "monthly":
        ordinal = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}[schedule.nth]
        return f"monthly {ordinal} {days} {clock}"
    if schedule.every_weeks > 1:
        return f"every {schedule.every_weeks} weeks {days} {clock}"
    return f"weekly {days} {clock}"
