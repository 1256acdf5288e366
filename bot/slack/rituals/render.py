"""How the rituals feature says things on Slack: times, list pages, check-ins, summaries."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.services.rituals import CheckinResult, RitualView, describe_leads
from bot.services.schedules import zone
from bot.slack.blocks import Block, actions_block, button, context_block, mrkdwn_section
from bot.slack.front import PLATFORM
from bot.text import slack_escape

LIST_PAGE = "ritual_list_page"
PAGE_SIZE = 10
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]+$")


def points(count: int) -> str:
    """Say a number of points."""
    return f"{count} point" if abs(count) == 1 else f"{count} points"


def fire_text(local: datetime, utc: datetime) -> str:
    """Say a fire time in the ritual's local time and in UTC (with the UTC day if it differs)."""
    utc = utc.astimezone(UTC)
    utc_day = "" if utc.date() == local.date() else f"{utc:%a %d %b} "
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()} · {utc_day}{utc:%H:%M} UTC"


def when_text(moment: datetime, timezone: str) -> str:
    """Say a moment in a ritual's time zone and in UTC."""
    return fire_text(moment.astimezone(zone(timezone)), moment)


def channel_text(view: RitualView) -> str:
    """Say where a ritual posts on Slack."""
    channel = view.channel_on(PLATFORM)
    if channel and CHANNEL_ID.fullmatch(channel):
        return f"<#{channel}>"
    if channel:
        return slack_escape(channel)
    return "Discord only" if view.channel_on("discord") else "no channel"


def next_text(view: RitualView) -> str:
    """Say when a ritual happens next."""
    if view.paused:
        return "paused"
    if view.next_fire is None:
        return "no upcoming time"
    return when_text(view.next_fire, view.timezone)


def summary(view: RitualView, verb: str) -> str:
    """Say what a create or an edit saved."""
    return (
        f"{verb} *{slack_escape(view.name)}*: {slack_escape(view.schedule)} "
        f"({slack_escape(view.timezone)}) in {channel_text(view)}.\n"
        f"Next: {next_text(view)}.\n"
        f"Reminders: {describe_leads(view.reminder_minutes)}."
    )


def _ritual_block(view: RitualView) -> Block:
    paused = " · _paused_" if view.paused else ""
    lines = [
        f"*{slack_escape(view.name)}*{paused}",
        f"{slack_escape(view.schedule)} ({slack_escape(view.timezone)}) in {channel_text(view)}",
        f"Next: {next_text(view)}",
        f"Reminders: {describe_leads(view.reminder_minutes)} · "
        f"{points(view.checkin_points)} a check-in",
    ]
    if view.hosts:
        lines.append("Hosts: " + ", ".join(slack_escape(h) for h in view.hosts))
    return mrkdwn_section("\n".join(lines))


def list_blocks(views: list[RitualView], page: int, command: str) -> tuple[str, list[Block]]:
    """Render one page of the ritual list, with buttons to the neighbouring pages."""
    if not views:
        text = f"No rituals yet. A moderator creates one with `{command} ritual create`."
        return text, [mrkdwn_section(text)]
    pages = (len(views) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 1), pages)
    shown = views[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    text = f"Rituals ({len(views)}), soonest first" + (
        f", page {page} of {pages}" if pages > 1 else ""
    )
    blocks: list[Block] = [mrkdwn_section(f"*{text}*")]
    blocks += [_ritual_block(view) for view in shown]
    if pages > 1:
        buttons: list[Block] = []
        if page > 1:
            buttons.append(button("Previous page", f"{LIST_PAGE}_prev", str(page - 1)))
        if page < pages:
            buttons.append(button("Next page", LIST_PAGE, str(page + 1)))
        blocks.append(actions_block("ritual_list_pages", buttons))
    blocks.append(context_block(f"`{command} ritual preview <name>` shows the next five times."))
    return text, blocks


def checkin_text(result: CheckinResult) -> str:
    """Say what a check-in did."""
    name = slack_escape(result.ritual_name)
    if not result.counted:
        return f"You're already checked in to *{name}*."
    if result.points:
        return f"Checked in to *{name}*, +{points(result.points)}."
    return f"Checked in to *{name}*."


def leads_field(leads: tuple[int, ...]) -> str:
    """Write reminder lead times the way the modal reads them back (``24h, 1h``)."""
    return ", ".join(f"{m // 60}h" if m % 60 == 0 else f"{m}m" for m in leads) or "none"
