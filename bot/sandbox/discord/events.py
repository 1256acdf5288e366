"""What the control API sends a bot: interactions with their resolved options, member uploads."""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from bot.sandbox.discord.cdn import image_size
from bot.sandbox.discord.payloads import channel_payload, member_payload, role_payload, user_payload
from bot.sandbox.discord.protocol import (
    ALL_PERMISSIONS,
    ATTACHMENT_SIZE_LIMIT,
    COMMAND_MESSAGE,
    CONTROL_CHARACTERS,
    DEFAULT_EVERYONE_PERMISSIONS,
    OPTION_ATTACHMENT,
)
from bot.sandbox.discord.state import DiscordState, Interaction, InteractionRecord


async def create_interaction(
    state: DiscordState,
    type_: int,
    data: dict[str, Any],
    *,
    guild_id: int | None,
    channel_id: int,
    user_id: int,
    message: dict[str, Any] | None = None,
    locale: str = "en-US",
) -> Interaction:
    """Build an interaction, remember it for its callback, and dispatch INTERACTION_CREATE."""
    if not state.gateway.sessions:
        raise RuntimeError("no gateway session: start the bot and wait_until_identified()")
    channel = state.channel(channel_id)
    user = state.user(user_id)
    interaction_id = state.ids.next()
    token = secrets.token_urlsafe(48)
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(state.application_id),
        "type": type_,
        "token": token,
        "version": 1,
        "data": data,
        "channel_id": str(channel.id),
        "channel": channel_payload(state, channel),
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if guild_id is not None:
        guild = state.guild(guild_id)
        member = guild.members.get(user_id)
        if member is None:
            raise ValueError(f"user {user_id} is not a member of guild {guild_id}")
        payload |= {
            "guild_id": str(guild_id),
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "guild_locale": "en-US",
            "member": member_payload(state, guild, member, permissions=True),
            "app_permissions": str(state.permissions_of(guild, state.bot_user_id)),
            "authorizing_integration_owners": {"0": str(guild_id)},
            "context": 0,
        }
        payload["channel"]["permissions"] = payload["member"]["permissions"]
    else:
        payload |= {
            "user": user_payload(state, user),
            "app_permissions": str(DEFAULT_EVERYONE_PERMISSIONS),
            "authorizing_integration_owners": {"0": "0"},
            "context": 1,
        }
        payload["channel"]["permissions"] = str(DEFAULT_EVERYONE_PERMISSIONS)
    if message is not None:
        payload["message"] = copy.deepcopy(message)
    public = Interaction(interaction_id, token, type_, channel.id, guild_id, user_id)
    record = InteractionRecord(
        public,
        time.monotonic(),
        payload,
        source_message_id=int(message["id"]) if message is not None else None,
    )
    state.interactions[interaction_id] = record
    state.interactions_by_token[token] = record
    await state.gateway.dispatch("INTERACTION_CREATE", payload, intent=None)
    return public


def command_data(
    state: DiscordState,
    name: str,
    guild_id: int | None,
    options: list[dict[str, Any]] | None,
    guild_command: bool | None,
) -> dict[str, Any]:
    """Return the ``data`` of a command interaction, ids and resolved options filled in."""
    command_guild = command_scope(state, name, guild_id, guild_command)
    command = next((c for c in state.commands.get(command_guild, []) if c["name"] == name), None)
    command_id = int(command["id"]) if command else state.command_id(command_guild, name, 1)
    data: dict[str, Any] = {"id": str(command_id), "name": name, "type": 1}
    if options:
        data["options"] = _attachment_ids(copy.deepcopy(options))
        resolved = resolve_options(state, guild_id, data["options"])
        if resolved:
            data["resolved"] = resolved
    if command_guild is not None:
        data["guild_id"] = str(command_guild)
    return data


def message_command_data(
    state: DiscordState, name: str, guild_id: int | None, message: dict[str, Any]
) -> dict[str, Any]:
    """Return the ``data`` of a message context command (type 3) run on ``message``.

    As Discord sends it: ``target_id`` names the message and ``resolved.messages`` holds it
    (with its content: apps always see the content of a message they are invoked on).
    """
    synced = guild_id is not None and any(
        c["name"] == name and c.get("type") == COMMAND_MESSAGE
        for c in state.commands.get(guild_id, [])
    )
    scope = guild_id if synced else None
    command = next(
        (
            c
            for c in state.commands.get(scope, [])
            if c["name"] == name and c.get("type") == COMMAND_MESSAGE
        ),
        None,
    )
    command_id = int(command["id"]) if command else state.command_id(scope, name, COMMAND_MESSAGE)
    target = copy.deepcopy(message)
    target.pop("guild_id", None)
    data: dict[str, Any] = {
        "id": str(command_id),
        "name": name,
        "type": COMMAND_MESSAGE,
        "target_id": message["id"],
        "resolved": {"messages": {message["id"]: target}},
    }
    if scope is not None:
        data["guild_id"] = str(scope)
    return data


def command_scope(
    state: DiscordState, name: str, guild_id: int | None, guild_command: bool | None
) -> int | None:
    """Return the guild id a command is registered in, or None for a global command."""
    if guild_command is not None:
        return guild_id if guild_command else None
    if guild_id is not None and any(c["name"] == name for c in state.commands.get(guild_id, [])):
        return guild_id
    return None


def _attachment_ids(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Let an attachment option's value be the object add_upload returned: Discord sends its id."""
    for option in options:
        _attachment_ids(option.get("options") or [])
        value = option.get("value")
        if option.get("type") == OPTION_ATTACHMENT and isinstance(value, dict):
            option["value"] = str(value["id"])
    return options


def resolve_options(
    state: DiscordState, guild_id: int | None, options: list[dict[str, Any]]
) -> dict[str, Any]:
    """Build the ``resolved`` map for user, channel, role, mentionable and attachment values."""
    resolved: dict[str, dict[str, Any]] = {}
    guild = state.guilds.get(guild_id) if guild_id is not None else None
    stack = list(options)
    while stack:
        option = stack.pop()
        stack.extend(option.get("options") or [])
        kind, value = option.get("type"), option.get("value")
        if value is not None and kind == OPTION_ATTACHMENT:
            upload = state.uploads.get(str(value))
            if upload is None:
                raise ValueError(f"unknown attachment {value!r}: upload it with add_upload()")
            resolved.setdefault("attachments", {})[str(value)] = copy.deepcopy(upload)
            continue
        if value is None or kind not in (6, 7, 8, 9):
            continue
        snowflake = int(value)
        if kind in (6, 9) and snowflake in state.users:
            resolved.setdefault("users", {})[str(snowflake)] = user_payload(
                state, state.users[snowflake]
            )
            member = guild.members.get(snowflake) if guild else None
            if guild is not None and member is not None:
                resolved.setdefault("members", {})[str(snowflake)] = member_payload(
                    state, guild, member, with_user=False, permissions=True
                )
        elif kind in (8, 9) and guild is not None and snowflake in guild.roles:
            resolved.setdefault("roles", {})[str(snowflake)] = role_payload(
                state, guild, guild.roles[snowflake]
            )
        elif kind == 7 and snowflake in state.channels:
            described = channel_payload(state, state.channels[snowflake])
            described["permissions"] = str(ALL_PERMISSIONS)
            resolved.setdefault("channels", {})[str(snowflake)] = described
    return resolved


def member_upload(
    state: DiscordState,
    filename: str,
    data: bytes,
    content_type: str | None,
    *,
    size: int | None,
) -> dict[str, Any]:
    """Store a file a member uploads and return its attachment object, as Discord resolves it.

    The file lands on the CDN under ``ephemeral-attachments`` at a signed, expiring URL. The
    object reports ``size`` when given (Discord reports a size; only the bytes are the truth)
    and the declared content type as it is; width and height come from the bytes, as Discord
    probes them.
    """
    if content_type is not None and CONTROL_CHARACTERS.search(content_type):
        raise ValueError("a content type cannot hold control characters (it is an HTTP header)")
    attachment_id = state.ids.next()
    state.cdn.store(attachment_id, data, content_type)
    url = state.cdn.url("ephemeral-attachments", state.application_id, attachment_id, filename)
    dimensions = image_size(data)
    attachment: dict[str, Any] = {
        "id": str(attachment_id),
        "filename": filename,
        "size": len(data) if size is None else size,
        "url": url,
        "proxy_url": url,
        "height": dimensions[1] if dimensions else None,
        "width": dimensions[0] if dimensions else None,
        "ephemeral": True,
        "flags": 0,
    }
    if content_type is not None:
        attachment["content_type"] = content_type
    state.uploads[str(attachment_id)] = attachment
    return copy.deepcopy(attachment)
