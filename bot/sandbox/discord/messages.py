"""Messages as Discord stores them: built from a request, edited, reacted to, removed."""

from __future__ import annotations

import copy
import re
from typing import Any

from bot.sandbox.discord.payloads import member_payload, user_payload
from bot.sandbox.discord.protocol import (
    FLAG_EPHEMERAL,
    FLAG_HAS_THREAD,
    FLAG_LOADING,
    INTENT_DIRECT_MESSAGE_REACTIONS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGES,
    INTERACTION_COMMAND,
    SETTABLE_FLAGS,
)
from bot.sandbox.discord.state import Channel, DiscordState, InteractionRecord, User
from bot.sandbox.discord.wire import (
    ApiError,
    Upload,
    check_message_limits,
    emoji_key,
    invalid_form,
)

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")


def mentions(state: DiscordState, channel: Channel, content: str) -> list[dict[str, Any]]:
    """Return the users a message content mentions, as Discord lists them."""
    guild = state.guilds.get(channel.guild_id) if channel.guild_id is not None else None
    mentions: list[dict[str, Any]] = []
    for raw_id in dict.fromkeys(USER_MENTION.findall(content)):
        user = state.users.get(int(raw_id))
        if user is None:
            continue
        mention = user_payload(state, user)
        member = guild.members.get(user.id) if guild else None
        if guild is not None and member is not None:
            mention["member"] = member_payload(state, guild, member, with_user=False)
        mentions.append(mention)
    return mentions


def attachments(
    state: DiscordState, channel: Channel, files: tuple[Upload, ...], body: dict[str, Any]
) -> list[dict[str, Any]]:
    """Store uploaded files and return their attachment objects."""
    described = [a for a in body.get("attachments") or [] if isinstance(a, dict)]
    attachments = []
    for index, upload in enumerate(files):
        attachment_id = state.ids.next()
        state.cdn.store(attachment_id, upload.data, upload.content_type)
        url = state.cdn.url("attachments", channel.id, attachment_id, upload.filename)
        description = next(
            (a.get("description") for a in described if str(a.get("id")) == str(index)), None
        )
        attachments.append(
            {
                "id": str(attachment_id),
                "filename": upload.filename,
                "description": description,
                "content_type": upload.content_type,
                "size": len(upload.data),
                "url": url,
                "proxy_url": url,
                "height": None,
                "width": None,
                "ephemeral": False,
                "flags": 0,
            }
        )
    return attachments


def build_message(
    state: DiscordState,
    channel: Channel,
    author: User,
    body: dict[str, Any],
    files: tuple[Upload, ...],
    *,
    message_type: int = 0,
    interaction: InteractionRecord | None = None,
    extra_flags: int = 0,
    message_id: int | None = None,
) -> dict[str, Any]:
    """Return a new message from a request body (a reply, an interaction response...)."""
    content = str(body.get("content") or "")
    allowed = SETTABLE_FLAGS | (FLAG_EPHEMERAL if interaction else 0)
    message: dict[str, Any] = {
        "id": str(message_id or state.ids.next()),
        "channel_id": str(channel.id),
        "type": message_type,
        "author": user_payload(state, author),
        "content": content,
        "timestamp": state.iso_now(),
        "edited_timestamp": None,
        "tts": bool(body.get("tts")),
        "mention_everyone": False,
        "mentions": mentions(state, channel, content),
        "mention_roles": list(dict.fromkeys(ROLE_MENTION.findall(content))),
        "mention_channels": [],
        "attachments": attachments(state, channel, files, body),
        "embeds": body.get("embeds") or [],
        "components": body.get("components") or [],
        "sticker_items": [],
        "pinned": False,
        "flags": (int(body.get("flags") or 0) & allowed) | extra_flags,
    }
    if body.get("nonce") is not None:
        message["nonce"] = body["nonce"]
    if body.get("poll"):
        message["poll"] = body["poll"]
    reference = body.get("message_reference")
    if isinstance(reference, dict) and reference.get("message_id") is not None:
        referenced = state.channel_message(channel, int(reference["message_id"]))
        if referenced is None and reference.get("fail_if_not_exists", True):
            raise invalid_form(
                "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
            )
        if referenced is not None:
            message["type"] = 19  # REPLY
            message["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": str(channel.id),
                "guild_id": str(channel.guild_id) if channel.guild_id else None,
            }
            message["referenced_message"] = copy.deepcopy(referenced)
    if interaction is not None:
        public = interaction.public
        invoker = user_payload(state, state.users[public.user_id])
        owners = interaction.payload["authorizing_integration_owners"]
        message |= {
            "webhook_id": str(state.application_id),
            "application_id": str(state.application_id),
            "interaction_metadata": {
                "id": str(public.id),
                "type": public.type,
                "user": invoker,
                "authorizing_integration_owners": owners,
            },
        }
        if public.type == INTERACTION_COMMAND:
            message["interaction"] = {
                "id": str(public.id),
                "type": public.type,
                "name": interaction.payload["data"]["name"],
                "user": invoker,
            }
    return message


def store_message(state: DiscordState, channel: Channel, message: dict[str, Any]) -> None:
    """Add a message to its channel."""
    state.messages[channel.id].append(message)
    state.messages_by_id[int(message["id"])] = message
    channel.message_count += 1


def apply_edit(
    state: DiscordState,
    channel: Channel,
    stored: dict[str, Any],
    body: dict[str, Any],
    files: tuple[Upload, ...],
) -> None:
    """Merge a PATCH body into a stored message; leave it untouched if the result is invalid."""
    check_message_limits(body)
    message = copy.deepcopy(stored)
    if "content" in body:
        message["content"] = str(body["content"] or "")
        message["mentions"] = mentions(state, channel, message["content"])
    for key in ("embeds", "components"):
        if key in body:
            message[key] = body[key] or []
    if "attachments" in body:
        kept = {str(a.get("id")) for a in body["attachments"] or [] if isinstance(a, dict)}
        message["attachments"] = [a for a in message["attachments"] if a["id"] in kept]
    message["attachments"] = [*message["attachments"], *attachments(state, channel, files, {})]
    locked = FLAG_EPHEMERAL | FLAG_HAS_THREAD
    if body.get("flags") is not None:
        message["flags"] = (message["flags"] & locked) | (int(body["flags"]) & SETTABLE_FLAGS)
    if message["flags"] & FLAG_LOADING:
        # Filling in a deferred ("thinking") response is not an edit.
        message["flags"] &= ~FLAG_LOADING
    else:
        message["edited_timestamp"] = state.iso_now()
    if not (
        message["content"] or message["embeds"] or message["components"] or message["attachments"]
    ):
        raise ApiError(400, 50006, "Cannot send an empty message")
    # Update in place: state.messages and the id index share this dict.
    stored.clear()
    stored.update(message)


async def add_reaction(
    state: DiscordState,
    channel: Channel,
    message: dict[str, Any],
    user: User,
    emoji: dict[str, Any],
) -> None:
    """Add a user's reaction once and dispatch MESSAGE_REACTION_ADD."""
    key = (int(message["id"]), emoji_key(emoji))
    reactors = state.reactors.setdefault(key, set())
    if user.id in reactors:
        return
    reactors.add(user.id)
    reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
    entry = next((r for r in reactions if emoji_key(r["emoji"]) == key[1]), None)
    if entry is None:
        entry = {
            "count": 0,
            "count_details": {"burst": 0, "normal": 0},
            "me": False,
            "me_burst": False,
            "burst_colors": [],
            "emoji": emoji,
        }
        reactions.append(entry)
    entry["count"] += 1
    entry["count_details"]["normal"] += 1
    entry["me"] = state.bot_user_id in reactors
    event: dict[str, Any] = {
        "user_id": str(user.id),
        "channel_id": str(channel.id),
        "message_id": message["id"],
        "message_author_id": message["author"]["id"],
        "emoji": emoji,
        "burst": False,
        "burst_colors": [],
        "type": 0,
    }
    intent = INTENT_DIRECT_MESSAGE_REACTIONS
    if channel.guild_id is not None:
        guild = state.guild(channel.guild_id)
        event["guild_id"] = str(guild.id)
        member = guild.members.get(user.id)
        if member is not None:
            event["member"] = member_payload(state, guild, member)
        intent = INTENT_GUILD_MESSAGE_REACTIONS
    await state.gateway.dispatch("MESSAGE_REACTION_ADD", event, intent=intent)


async def remove_message(state: DiscordState, message: dict[str, Any]) -> None:
    """Delete a message and dispatch MESSAGE_DELETE (not for ephemeral ones)."""
    channel = state.channels[int(message["channel_id"])]
    state.messages[channel.id].remove(message)
    del state.messages_by_id[int(message["id"])]
    if int(message.get("flags", 0)) & FLAG_EPHEMERAL:
        return
    event = {"id": message["id"], "channel_id": str(channel.id)}
    intent = INTENT_DIRECT_MESSAGES
    if channel.guild_id is not None:
        event["guild_id"] = str(channel.guild_id)
        intent = INTENT_GUILD_MESSAGES
    await state.gateway.dispatch("MESSAGE_DELETE", event, intent=intent)
