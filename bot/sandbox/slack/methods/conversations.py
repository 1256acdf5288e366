"""Web API: conversations.* (DMs, info, history and replies, membership)."""

from __future__ import annotations

from bot.sandbox.slack.methods.table import MethodTable
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import (
    ApiError,
    JsonObject,
    page,
    split_ids,
    truthy,
)

METHODS = MethodTable()


@METHODS.method("conversations.open")
def conversations_open(state: SlackState, args: JsonObject) -> JsonObject:
    if args.get("channel"):
        channel = str(args["channel"])
        if not state.channels.get(channel, {}).get("is_im"):
            raise ApiError("channel_not_found")
        return {"no_op": True, "already_open": True, "channel": {"id": channel}}
    users = split_ids(args.get("users"))
    if not users:
        raise ApiError("users_list_not_supplied")
    if len(users) > 1:
        # Multi-person DMs are not modelled; fail loudly rather than pretend.
        raise ApiError("sandbox_unsupported_mpim")
    user_id = users[0]
    user = state.users.get(user_id)
    if user is None:
        raise ApiError("user_not_found")
    if user["is_bot"]:
        raise ApiError("cannot_dm_bot")
    if user_id in state.disabled_users:
        raise ApiError("user_disabled")
    already_open = state.dm_channel_id(user_id) in state.channels
    channel_id = state.open_dm(user_id)
    info = state.channels[channel_id] if truthy(args.get("return_im")) else {"id": channel_id}
    return {"no_op": already_open, "already_open": already_open, "channel": info}


@METHODS.method("conversations.info")
def conversations_info(state: SlackState, args: JsonObject) -> JsonObject:
    channel = state.channels.get(str(args.get("channel", "")))
    if channel is None:
        raise ApiError("channel_not_found")
    return {"channel": channel}


@METHODS.method("conversations.history")
def conversations_history(state: SlackState, args: JsonObject) -> JsonObject:
    channel = str(args.get("channel", ""))
    if channel not in state.channels:
        raise ApiError("channel_not_found")
    state.require_history_scope(channel)
    top_level = [
        message
        for message in reversed(state.messages[channel])
        if message.get("thread_ts") in (None, message["ts"])
    ]
    return page(top_level, args, newest_first=True)


@METHODS.method("conversations.replies")
def conversations_replies(state: SlackState, args: JsonObject) -> JsonObject:
    channel = str(args.get("channel", ""))
    if channel not in state.channels:
        raise ApiError("channel_not_found")
    state.require_history_scope(channel)
    parent = state.find_message(channel, args.get("ts"))
    if parent is None:
        raise ApiError("thread_not_found")
    replies = [
        message
        for message in state.messages[channel]
        if message.get("thread_ts") == parent["ts"] and message is not parent
    ]
    return page([parent, *replies], args, newest_first=False)
