"""The words of rituals: posts, reminders and recaps, in the neutral message vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.commands import CommandNames
from bot.messages import (
    Button,
    DestinationRow,
    DirectMessage,
    NewThread,
    Post,
    Rich,
    Subject,
    bold,
    italic,
    lines,
    link,
    owned,
    rich,
)
from bot.models import Ritual
from bot.services.schedules import zone

CHECKIN_PREFIX = "ritual-checkin:"
FIRST_TIMERS_SHOWN = 10


def local_time(moment: datetime, timezone: str) -> str:
    """Say a moment in a ritual's time zone."""
    return moment.astimezone(zone(timezone)).strftime("%a %d %b %H:%M %Z")


def lead_words(minutes: int) -> str:
    """Say how long before a ritual a reminder comes (``tomorrow``, ``in 1 hour``)."""
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "tomorrow" if days == 1 else f"in {days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "in 1 hour" if hours == 1 else f"in {hours} hours"
    return f"in {minutes} minutes"


def describe_leads(leads: Sequence[int]) -> str:
    """Say reminder lead times in words."""
    return ", ".join(lead_words(m).removeprefix("in ") for m in leads) or "no reminders"


def occurrence_subject(uid: str) -> Subject:
    """Return what an occurrence's posts are about (the registry's key for it)."""
    return Subject(kind="occurrence", id=uid)


def ritual_subject(uid: str) -> Subject:
    """Return what a ritual's reminders are about."""
    return Subject(kind="ritual", id=uid)


def checkin_button_id(occurrence_uid: str) -> str:
    """Return the id of an occurrence's check-in button."""
    return f"{CHECKIN_PREFIX}{occurrence_uid}"


def occurrence_of_button(custom_id: str) -> str | None:
    """Return the occurrence a check-in button id names, or None if it is not one."""
    if not custom_id.startswith(CHECKIN_PREFIX):
        return None
    uid = custom_id.removeprefix(CHECKIN_PREFIX)
    return uid if uid.isalnum() and len(uid) <= 24 else None


def post_message(ritual: Ritual, occurrence_uid: str, scheduled: datetime, *, late: bool) -> Post:
    """Return the post of an occurrence, with its check-in button (and thread)."""
    parts: list[Rich] = [
        rich(bold(ritual.name), f" · {local_time(scheduled, ritual.timezone)}"),
        rich(ritual.prompt),
    ]
    if late:
        parts.append(rich(italic("(posted late: the bot was offline at the scheduled time)")))
    parts.append(rich("Check in with the button, a reaction, or a reply in the thread."))
    thread = None
    if ritual.thread_per_occurrence:
        local_day = scheduled.astimezone(zone(ritual.timezone)).strftime("%d %b")
        thread = NewThread(name=f"{ritual.name} · {local_day}"[:100])
    return Post(
        to=DestinationRow(id=ritual.destination_id),
        body=lines(*parts),
        buttons=(Button(id=checkin_button_id(occurrence_uid), label="Check in", style="primary"),),
        thread=thread,
        about=occurrence_subject(occurrence_uid),
    )


def reminder_post(ritual: Ritual, scheduled: datetime, lead: int) -> Post:
    """Return the reminder posted in the ritual's channels ``lead`` minutes before it."""
    when = local_time(scheduled, ritual.timezone)
    return Post(
        to=DestinationRow(id=ritual.destination_id),
        body=rich("Reminder: ", ritual.name, f" starts {lead_words(lead)} ({when})."),
        about=ritual_subject(ritual.uid),
    )


def reminder_dm(
    ritual: Ritual,
    scheduled: datetime,
    lead: int,
    *,
    member_id: int,
    platform: str,
    commands: CommandNames,
) -> DirectMessage:
    """Return the reminder DM of a member who opted in on ``platform``."""
    when = local_time(scheduled, ritual.timezone)
    return DirectMessage(
        member_id=member_id,
        platform=platform,
        body=rich(
            ritual.name,
            f" starts {lead_words(lead)} ({when}). You asked for this reminder; ",
            commands.code(platform, "ritual remind"),
            " turns it off.",
        ),
        about=ritual_subject(ritual.uid),
    )


def recap_post(
    ritual: Ritual,
    occurrence_uid: str,
    *,
    attendees: int,
    first_timers: Sequence[tuple[int, str]],
    links: Sequence[tuple[int, str]],
) -> Post:
    """Return the recap of an occurrence, in its thread: who came, who was new, what was shared.

    Names and links are the members' own (``first_timers`` and ``links`` are (member id,
    text) pairs): erasing one of them takes theirs out of a recap not yet sent.
    """
    parts = [rich(bold(ritual.name, " recap"), f": {attendees} checked in.")]
    if first_timers:
        welcome = rich("Welcome to our first-timers: ")
        for index, (member_id, name) in enumerate(first_timers[:FIRST_TIMERS_SHOWN]):
            welcome = welcome + rich(
                ", " if index else "", owned(member_id, name, fallback="a member")
            )
        parts.append(welcome + rich("!"))
    if links:
        shared = rich("Most shared: ")
        for index, (member_id, url) in enumerate(links):
            shared = shared + rich(
                " · " if index else "", owned(member_id, link(url), fallback="…")
            )
        parts.append(shared)
    subject = occurrence_subject(occurrence_uid)
    return Post(
        to=DestinationRow(id=ritual.destination_id),
        body=lines(*parts),
        reply_to=subject,
        about=subject,
    )
