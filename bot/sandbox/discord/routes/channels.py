"""REST: channels, typing and threads."""

from __future__ import annotations

import copy
from typing import Any

from bot.sandbox.discord.messages import build_message, store_message
from bot.sandbox.discord.payloads import channel_payload
from bot.sandbox.discord.protocol import (
    CHANNEL_FORUM,
    CHANNEL_MEDIA,
    CHANNEL_NEWS,
    CHANNEL_NEWS_THREAD,
    CHANNEL_PRIVATE_THREAD,
    CHANNEL_PUBLIC_THREAD,
    FLAG_HAS_THREAD,
    INTENT_GUILDS,
    THREAD_TYPES,
)
from bot.sandbox.discord.routes.table import RouteTable
from bot.sandbox.discord.state import Channel, DiscordState
from bot.sandbox.discord.wire import (
    ApiError,
    ApiRequest,
    Reply,
    invalid_form,
    validate_message_body,
)

ROUTES = RouteTable()


@ROUTES.route("GET", "/channels/{channel_id}")
async def get_channel(state: DiscordState, req: ApiRequest) -> Reply:
    return Reply(200, channel_payload(state, state.channel_or_404(req)))


# A forum post carries at most this many tags.
MAX_APPLIED_TAGS = 5


@ROUTES.route("PATCH", "/channels/{channel_id}")
async def edit_channel(state: DiscordState, req: ApiRequest) -> Reply:
    """Edit a channel's name, or a thread's name, archived and locked state and forum tags."""
    channel = state.channel_or_404(req)
    body = req.json_object()
    if "name" in body:
        name = str(body["name"] or "")
        if not 1 <= len(name) <= 100:
            raise invalid_form(
                "name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        channel.name = name
    thread = channel.type in THREAD_TYPES
    if "applied_tags" in body:
        parent = state.channels.get(channel.parent_id or 0)
        if not thread or parent is None or parent.type not in (CHANNEL_FORUM, CHANNEL_MEDIA):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        wanted = [int(tag) for tag in body["applied_tags"] or []]
        known = {int(tag["id"]) for tag in parent.available_tags}
        if len(wanted) > MAX_APPLIED_TAGS:
            raise invalid_form(
                "applied_tags", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
            )
        if any(tag not in known for tag in wanted):
            raise invalid_form("applied_tags", "FORUM_TAG_UNKNOWN", "Unknown forum tag")
        channel.applied_tags = list(dict.fromkeys(wanted))
    for flag in ("archived", "locked"):
        if flag in body and thread:
            setattr(channel, flag, bool(body[flag]))
    answer = channel_payload(state, channel)
    event = "THREAD_UPDATE" if thread else "CHANNEL_UPDATE"
    await state.gateway.dispatch(event, answer, intent=INTENT_GUILDS)
    return Reply(200, answer)


@ROUTES.route("POST", "/channels/{channel_id}/typing")
async def typing(state: DiscordState, req: ApiRequest) -> Reply:
    state.channel_or_404(req)
    return Reply(204)


@ROUTES.route(
    "POST", "/channels/{channel_id}/threads", "/channels/{channel_id}/messages/{message_id}/threads"
)
async def create_thread(state: DiscordState, req: ApiRequest) -> Reply:
    """Start a thread: from a message (id == message id), in a channel, or as a forum post."""
    parent = state.channel_or_404(req)
    if parent.guild_id is None or parent.type in THREAD_TYPES:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    body = req.json_object()
    name = str(body.get("name") or "")
    if not name:
        raise invalid_form("name", "BASE_TYPE_REQUIRED", "This field is required")
    forum = parent.type in (CHANNEL_FORUM, CHANNEL_MEDIA)
    starter: dict[str, Any] | None = None
    if "message_id" in req.params:
        starter = state.message_or_404(parent, req)
        if int(starter["id"]) in state.channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread_id = int(starter["id"])
        thread_type = CHANNEL_NEWS_THREAD if parent.type == CHANNEL_NEWS else 11
    elif forum:
        post = body.get("message") if isinstance(body.get("message"), dict) else None
        if post is None:
            raise invalid_form("message", "BASE_TYPE_REQUIRED", "This field is required")
        validate_message_body(post, req.files)
        thread_id, thread_type = state.ids.next(), CHANNEL_PUBLIC_THREAD
    else:
        if body.get("type") not in (CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD, 10):
            raise invalid_form("type", "BASE_TYPE_REQUIRED", "This field is required")
        thread_id, thread_type = state.ids.next(), int(body["type"])
    thread = Channel(
        thread_id,
        thread_type,
        name,
        guild_id=parent.guild_id,
        parent_id=parent.id,
        owner_id=state.bot_user_id,
        created_at=state.iso_now(),
        auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
    )
    state.channels[thread_id] = thread
    answer = channel_payload(state, thread)
    if starter is not None:
        starter["flags"] = int(starter.get("flags", 0)) | FLAG_HAS_THREAD
        starter["thread"] = copy.deepcopy(answer)
    await state.gateway.dispatch(
        "THREAD_CREATE", answer | {"newly_created": True}, intent=INTENT_GUILDS
    )
    if forum:
        post = body["message"]
        first = build_message(
            state, thread, state.users[state.bot_user_id], post, req.files, message_id=thread_id
        )
        store_message(state, thread, first)
        await state.gateway.dispatch_message("MESSAGE_CREATE", thread, first)
        answer = channel_payload(state, thread) | {"message": copy.deepcopy(first)}
    return Reply(201, answer)
