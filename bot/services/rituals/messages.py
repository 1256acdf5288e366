"""The words of rituals: posts, reminders and recaps, as each platform's sender takes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.commands import CommandNames
from bot.models import Ritual
from bot.services.schedules import zone
from bot.text import discord_escape, slack_escape

CHECKIN_PREFIX = "ritual-checkin:"


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


def _escape(platform: str, text: str) -> str:
    return discord_escape(text) if platform == "discord" else slack_escape(text)


def post_payload(
    ritual: Ritual, occurrence_id: int, scheduled: datetime, *, platform: str, late: bool
) -> dict[str, Any]:
    """Return the post of an occurrence, with its check-in button."""
    when = local_time(scheduled, ritual.timezone)
    if platform == "discord":
        title = f"**{discord_escape(ritual.name)}** · {when}"
    else:
        title = f"*{slack_escape(ritual.name)}* · {when}"
    # Slack turns <!channel> in text into a ping whatever parse= says: escape the prompt there.
    prompt = slack_escape(ritual.prompt) if platform == "slack" else ritual.prompt
    lines = [title, prompt]
    if late:
        lines.append("_(posted late: the bot was offline at the scheduled time)_")
    lines.append("Check in with the button, a reaction, or a reply in the thread.")
    payload: dict[str, Any] = {
        "text": "\n".join(lines),
        "buttons": [
            {"id": f"{CHECKIN_PREFIX}{occurrence_id}", "label": "Check in", "style": "primary"}
        ],
    }
    if platform == "discord" and ritual.thread_per_occurrence:
        local_day = scheduled.astimezone(zone(ritual.timezone)).strftime("%d %b")
        payload["thread"] = {"name": f"{ritual.name} · {local_day}"[:100]}
    return payload


def reminder_payload(
    ritual: Ritual, scheduled: datetime, lead: int, *, platform: str
) -> dict[str, Any]:
    """Return the reminder posted in the ritual's channel ``lead`` minutes before it."""
    when = local_time(scheduled, ritual.timezone)
    name = _escape(platform, ritual.name)
    return {"text": f"Reminder: {name} starts {lead_words(lead)} ({when})."}


def reminder_dm_payload(
    ritual: Ritual, scheduled: datetime, lead: int, *, platform: str, commands: CommandNames
) -> dict[str, Any]:
    """Return the reminder DM of a member who opted in."""
    when = local_time(scheduled, ritual.timezone)
    name = _escape(platform, ritual.name)
    return {
        "text": f"{name} starts {lead_words(lead)} ({when}). "
        f"You asked for this reminder; {commands.spell(platform, 'ritual remind')} "
        "turns it off."
    }


def recap_payload(
    ritual: Ritual,
    *,
    platform: str,
    attendees: int,
    first_timers: Sequence[str],
    links: Sequence[str],
) -> dict[str, Any]:
    """Return the recap of an occurrence: how many came, who was new, what was shared."""
    bold = "**" if platform == "discord" else "*"
    lines = [f"{bold}{_escape(platform, ritual.name)} recap{bold}: {attendees} checked in."]
    if first_timers:
        lines.append(
            "Welcome to our first-timers: "
            + ", ".join(_escape(platform, n) for n in first_timers[:10])
            + "!"
        )
    if links:
        lines.append("Most shared: " + " · ".join(f"<{link}>" for link in links))
    return {"text": "\n".join(lines)}
