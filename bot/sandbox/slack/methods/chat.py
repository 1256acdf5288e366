"""Web API: chat.* (post, ephemeral, update, delete) and what a response_url post does."""

from __future__ import annotations

from bot.sandbox.slack.methods.table import MethodTable
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import (
    MAX_MESSAGE_BLOCKS,
    ApiError,
    JsonObject,
    check_blocks,
    check_metadata,
    check_text,
    truthy,
)

METHODS = MethodTable()


@METHODS.method("chat.postMessage")
def chat_post_message(state: SlackState, args: JsonObject) -> JsonObject:
    channel = state.channel_for_post(args.get("channel"))
    if not any(args.get(key) for key in ("text", "blocks", "attachments")):
        raise ApiError("no_text")
    check_text(args.get("text"))
    check_blocks(args.get("blocks"), MAX_MESSAGE_BLOCKS)
    check_metadata(args.get("metadata"))
    message = state.new_message(args)
    thread_ts = message.get("thread_ts")
    if thread_ts is not None:
        parent = state.find_message(channel, thread_ts)
        if parent is not None:
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
    state.messages[channel].append(message)
    return {"channel": channel, "ts": message["ts"], "message": message}


@METHODS.method("chat.postEphemeral")
def chat_post_ephemeral(state: SlackState, args: JsonObject) -> JsonObject:
    channel = state.channel_for_post(args.get("channel"))
    user = str(args.get("user", ""))
    if user not in state.users:
        raise ApiError("user_not_found")
    if not any(args.get(key) for key in ("text", "blocks", "attachments")):
        raise ApiError("no_text")
    check_text(args.get("text"))
    check_blocks(args.get("blocks"), MAX_MESSAGE_BLOCKS)
    message = state.new_message(args)
    message.update({"channel": channel, "recipient": user})
    state.ephemeral_messages.append(message)
    return {"message_ts": message["ts"]}


@METHODS.method("chat.update")
def chat_update(state: SlackState, args: JsonObject) -> JsonObject:
    channel, message = state.message_for_change(args)
    check_text(args.get("text"))
    check_blocks(args.get("blocks"), MAX_MESSAGE_BLOCKS)
    message.update(state.message_content(args))
    message["edited"] = {"user": state.bot_user_id, "ts": state.next_ts()}
    return {
        "channel": channel,
        "ts": message["ts"],
        "text": message["text"],
        "message": message,
    }


@METHODS.method("chat.delete")
def chat_delete(state: SlackState, args: JsonObject) -> JsonObject:
    channel, message = state.message_for_change(args)
    state.messages[channel].remove(message)
    return {"channel": channel, "ts": message["ts"]}


def apply_response(state: SlackState, origin: JsonObject, args: JsonObject) -> None:
    """Carry out a post to a response URL: a reply in the original context."""
    # Slack treats a response_url post as a reply in the original context.
    check_text(args.get("text"))
    check_blocks(args.get("blocks"), MAX_MESSAGE_BLOCKS)
    channel = origin["channel"]
    original = None
    if channel and origin["message_ts"]:
        original = state.find_message(channel, origin["message_ts"])
    if truthy(args.get("delete_original")) and original is not None:
        state.messages[channel].remove(original)
    elif truthy(args.get("replace_original")) and original is not None:
        original.update(state.message_content(args))
        original["edited"] = {"user": state.bot_user_id, "ts": state.next_ts()}
    elif args.get("response_type") == "in_channel" and channel:
        message = state.new_message(args)
        state.messages.setdefault(channel, []).append(message)
    else:
        message = state.new_message(args)
        message.update({"channel": channel, "recipient": origin["user"]})
        state.ephemeral_messages.append(message)
