"""Web API: conversations.* (DMs, info, history and replies, membership)."""

from __future__ import annotations

from bot.sandbox.slack.methods.table import MethodTable
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import ApiError, JsonObject, page, split_ids, truthy

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


def _member_channel(state: SlackState, args: JsonObject) -> tuple[str, list[str]]:
    """Return a channel whose membership the bot may change, with its members."""
    channel = str(args.get("channel", ""))
    info = state.channels.get(channel)
    if info is None:
        raise ApiError("channel_not_found")
    if info.get("is_im") or info.get("is_mpim"):
        raise ApiError("method_not_supported_for_channel_type")
    if info.get("is_archived"):
        raise ApiError("is_archived")
    members = state.members.setdefault(channel, [])
    if state.bot_user_id not in members:
        raise ApiError("not_in_channel")
    return channel, members


@METHODS.method("conversations.invite")
def conversations_invite(state: SlackState, args: JsonObject) -> JsonObject:
    """Add users (a comma-separated list) to a channel the bot is in.

    Without ``force`` one bad user fails the whole call; with it the others are still added
    and the failures are listed in ``errors``, as on Slack.
    """
    channel, members = _member_channel(state, args)
    users = split_ids(args.get("users"))
    if not users:
        raise ApiError("no_user")
    failures: list[JsonObject] = []
    for user in dict.fromkeys(users):
        if user == state.bot_user_id:
            error = "cant_invite_self"
        elif user not in state.users:
            error = "user_not_found"
        elif user in members:
            error = "already_in_channel"
        else:
            continue
        failures.append({"user": user, "ok": False, "error": error})
    if failures and not truthy(args.get("force")):
        raise ApiError(failures[0]["error"], errors=failures)
    refused = {failure["user"] for failure in failures}
    members.extend(user for user in dict.fromkeys(users) if user not in refused)
    answer: JsonObject = {"channel": state.channels[channel]}
    if failures:
        answer["errors"] = failures
    return answer


@METHODS.method("conversations.kick")
def conversations_kick(state: SlackState, args: JsonObject) -> JsonObject:
    """Remove one user from a channel the bot is in."""
    channel, members = _member_channel(state, args)
    user = str(args.get("user", ""))
    if not user:
        raise ApiError("user_not_found")
    if user == state.bot_user_id:
        raise ApiError("cant_kick_self")
    if state.channels[channel].get("is_general"):
        raise ApiError("cant_kick_from_general")
    if user not in state.users:
        raise ApiError("user_not_found")
    if user not in members:
        raise ApiError("not_in_channel")
    members.remove(user)
    return {}
