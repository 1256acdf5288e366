"""The Slack app manifest for this deployment (`flywheel commands slack`).

Paste the JSON into api.slack.com/apps → "Create New App" → "From a manifest". Shape and
limits follow Slack's manifest schema (version 1): https://api.slack.com/reference/manifests
This module imports no Slack library, so the CLI can print it without one.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.settings import Settings

log = logging.getLogger(__name__)

APP_NAME = "Flywheel"
EVENTS_PATH = "/slack/events"
# Schema limits: app name 35, description 140, command 32, command description 2000,
# usage hint 1000 characters.
MAX_NAME = 35
MAX_DESCRIPTION = 140
COMMAND_DESCRIPTION = (
    "Rituals and check-ins, sharing your work, linking your accounts, getting or erasing your "
    "data, and more. Try “help”."
)
COMMAND_USAGE_HINT = (
    "help | ritual list | ritual checkin [name] | share | share mine | link [code] "
    "| privacy export | privacy delete | about"
)

# Each scope with what needs it; ask for nothing more.
BOT_SCOPES: dict[str, str] = {
    "commands": "the slash command",
    "chat:write": "posts, replies, ephemeral answers and DMs",
    "im:write": "opening a DM (conversations.open) for exports and notices",
    "files:write": "sending a member their data export as a file",
    "files:read": "copying the files members attach when they share (url_private)",
    "users:read": "users.info, to decide who is an owner or admin; the team_join event (access "
    "given back to a member who rejoins)",
    "usergroups:read": "reading a user group before changing it",
    "usergroups:write": "adding and removing members of user groups",
    "groups:write": "adding and removing members of private channels ([slack.access] G…)",
    "groups:read": "telling whether the app is in a private channel when it cannot remove someone",
    "channels:history": "the message.channels event (activity points, ritual thread check-ins), "
    "and finding a post already made before sending it again after a crash",
    "groups:history": "finding a post in a private channel already made before sending it again",
    "im:history": "finding a DM already sent before sending it again after a crash",
    "channels:read": "the member_joined_channel event (welcomes)",
    "reactions:read": "the reaction_added event (activity points, ritual check-ins)",
}
BOT_EVENTS = (
    "app_home_opened",
    "message.channels",
    "reaction_added",
    "member_joined_channel",
    "team_join",
)


def slack_manifest(settings: Settings, *, public_url: str) -> dict[str, Any]:
    """Return the Slack app manifest for these settings, as plain JSON-able data."""
    http = settings.slack.mode == "http"
    request_url = f"{public_url.rstrip('/')}{EVENTS_PATH}"
    if http and not request_url.startswith("https://"):
        log.warning("Slack only delivers to HTTPS request URLs; %s is not one", request_url)
    description = f"The community bot of {settings.community.name}"
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1] + "…"
    command: dict[str, Any] = {
        "command": settings.slack.command,
        "description": COMMAND_DESCRIPTION,
        "usage_hint": COMMAND_USAGE_HINT,
        # Escaped, a member picked from the @ menu arrives as <@U123|name>, which is how
        # `ritual host add` knows who is meant; unescaped it would be a bare display name.
        "should_escape": True,
    }
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if http:
        command["url"] = request_url
        events["request_url"] = request_url
        interactivity["request_url"] = request_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {"name": APP_NAME[:MAX_NAME], "description": description},
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                # Members read their DMs (exports, notices) there; nothing answers typed messages.
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": APP_NAME, "always_online": True},
            "slash_commands": [command],
            # Message shortcuts (a message's ⋯ menu); interactivity delivers them.
            "shortcuts": [
                {
                    "name": "Mark as answer",
                    "type": "message",
                    "callback_id": "mark_answer",
                    "description": "Mark this reply as the answer to the thread's question",
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": not http,
            "token_rotation_enabled": False,
        },
    }
