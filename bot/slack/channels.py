"""The channels feature on Slack: `/flywheel channel set|clear|list` (moderators set them)."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from bot.destinations import PURPOSES
from bot.errors import Invalid
from bot.services.callers import Role
from bot.services.channels import DestinationView, clear_channel, list_channels, set_channel
from bot.slack.front import PLATFORM, SlackFront, VerbCall

# With escaping on, Slack sends a picked channel as <#C123|name> (or <#C123>).
CHANNEL_MENTION = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]+$")
USAGE = f"<{'|'.join(PURPOSES)}>"


def _where(view: DestinationView) -> str:
    channel = view.channel_on(PLATFORM)
    return f"<#{channel}>" if channel else "not set"


def _purpose(call: VerbCall, usage: str) -> str:
    if not call.args:
        raise Invalid(
            f"Say which purpose: `{call.front.commands.command} {call.verb.name if call.verb else ''} "
            f"{usage}`.",
            field="purpose",
            code="purpose.missing",
        )
    return call.args[0]


async def set_verb(call: VerbCall) -> None:
    """Set a purpose's channel: the one named, or the one the command was typed in."""
    purpose = _purpose(call, f"{USAGE} [#channel]")
    channel = call.channel_id
    if len(call.args) > 1:
        named = CHANNEL_MENTION.fullmatch(call.args[1])
        if named is None:
            raise Invalid(
                "Pick the channel from the # menu (or run the command in that channel).",
                field="channel_id",
                code="channel_id.malformed",
            )
        channel = named.group(1)
    if not channel or not CHANNEL_ID.fullmatch(channel):
        raise Invalid(
            "Run this in a channel (not a DM), or name the channel with #.",
            field="channel_id",
            code="channel_id.not_a_channel",
        )
    async with call.acting() as (session, actor):
        view = await set_channel(session, call.runtime.clock, actor, purpose, channel)
    await call.reply(f"*{view.purpose}* posts now go to {_where(view)}.")


async def clear_verb(call: VerbCall) -> None:
    """Stop posting a purpose in this workspace."""
    purpose = _purpose(call, USAGE)
    async with call.acting() as (session, actor):
        had = await clear_channel(session, call.runtime.clock, actor, purpose)
    shown = purpose.strip().lower()
    if had:
        await call.reply(f"*{shown}* posts are off in this workspace.")
    else:
        await call.reply(f"*{shown}* had no channel here; nothing changed.")


async def list_verb(call: VerbCall) -> None:
    """Show every purpose and its channel here."""
    async with call.acting() as (session, actor):
        views = await list_channels(session, actor.community_id)
    await call.reply("\n".join(f"*{view.purpose}*: {_where(view)}" for view in views))


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add the channel verbs."""
    commands = front.commands
    commands.add(
        "channel set",
        set_verb,
        usage=f"{USAGE} [#channel]",
        summary="Post one kind of message in a channel (default: this one).",
        role=Role.MODERATOR,
    )
    commands.add(
        "channel clear",
        clear_verb,
        usage=USAGE,
        summary="Stop posting one kind of message in this workspace.",
        role=Role.MODERATOR,
    )
    commands.add("channel list", list_verb, summary="Where each kind of message is posted.")
