"""REST: a channel's messages (list, post with enforce_nonce, get, edit, delete) and reactions."""

from __future__ import annotations

import copy

from bot.sandbox.discord.messages import (
    add_reaction,
    apply_edit,
    build_message,
    remove_message,
    store_message,
)
from bot.sandbox.discord.protocol import CHANNEL_DM, FLAG_EPHEMERAL
from bot.sandbox.discord.routes.table import RouteTable
from bot.sandbox.discord.state import DiscordState
from bot.sandbox.discord.wire import (
    ApiError,
    ApiRequest,
    Reply,
    emoji_payload,
    validate_message_body,
)

ROUTES = RouteTable()


@ROUTES.route("GET", "/channels/{channel_id}/messages")
async def get_messages(state: DiscordState, req: ApiRequest) -> Reply:
    """List visible messages newest first, honouring limit, before and after."""
    channel = state.channel_or_404(req)
    visible = [
        m for m in state.messages.get(channel.id, []) if not int(m.get("flags", 0)) & FLAG_EPHEMERAL
    ]
    limit = max(1, min(100, int(req.query.get("limit", "50"))))
    if "before" in req.query:
        visible = [m for m in visible if int(m["id"]) < int(req.query["before"])][-limit:]
    elif "after" in req.query:
        visible = [m for m in visible if int(m["id"]) > int(req.query["after"])][:limit]
    else:
        visible = visible[-limit:]
    return Reply(200, copy.deepcopy(visible[::-1]))


@ROUTES.route("POST", "/channels/{channel_id}/messages")
async def create_message(state: DiscordState, req: ApiRequest) -> Reply:
    """Post a message as the bot, de-duplicating by nonce when enforce_nonce is set."""
    channel = state.channel_or_404(req)
    body = req.json_object()
    if channel.type == CHANNEL_DM and channel.recipient_id in state.closed_dms:
        raise ApiError(403, 50007, "Cannot send messages to this user")
    validate_message_body(body, req.files)
    nonce_key: tuple[int, int, str] | None = None
    if body.get("enforce_nonce") and body.get("nonce") is not None:
        nonce_key = (channel.id, state.bot_user_id, str(body["nonce"]))
        previous = state.nonces.get(nonce_key)
        if previous is not None and state.now() - previous[1] < state.nonce_window:
            existing = state.messages_by_id.get(previous[0])
            if existing is not None:
                return Reply(200, copy.deepcopy(existing))
    message = build_message(state, channel, state.users[state.bot_user_id], body, req.files)
    store_message(state, channel, message)
    if nonce_key is not None:
        state.nonces[nonce_key] = (int(message["id"]), state.now())
    await state.gateway.dispatch_message("MESSAGE_CREATE", channel, message)
    return Reply(200, copy.deepcopy(message))


@ROUTES.route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(state: DiscordState, req: ApiRequest) -> Reply:
    channel = state.channel_or_404(req)
    return Reply(200, copy.deepcopy(state.message_or_404(channel, req)))


@ROUTES.route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(state: DiscordState, req: ApiRequest) -> Reply:
    channel = state.channel_or_404(req)
    message = state.message_or_404(channel, req)
    if int(message["author"]["id"]) != state.bot_user_id:
        raise ApiError(403, 50005, "Cannot edit a message authored by another user")
    apply_edit(state, channel, message, req.json_object(), req.files)
    await state.gateway.dispatch_message("MESSAGE_UPDATE", channel, message)
    return Reply(200, copy.deepcopy(message))


@ROUTES.route("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(state: DiscordState, req: ApiRequest) -> Reply:
    channel = state.channel_or_404(req)
    await remove_message(state, state.message_or_404(channel, req))
    return Reply(204)


@ROUTES.route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/<emoji>/@me")
async def react(state: DiscordState, req: ApiRequest) -> Reply:
    channel = state.channel_or_404(req)
    message = state.message_or_404(channel, req)
    emoji = req.params["emoji"]
    if not emoji.strip():
        raise ApiError(400, 10014, "Unknown Emoji")
    await add_reaction(
        state, channel, message, state.users[state.bot_user_id], emoji_payload(emoji)
    )
    return Reply(204)
