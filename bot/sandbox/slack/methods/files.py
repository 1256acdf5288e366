"""Web API: files.* as files_upload_v2 uses them (the upload URL itself is in `upload`)."""

from __future__ import annotations

import json

from bot.sandbox.slack.methods.table import MethodTable
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import ApiError, JsonObject

METHODS = MethodTable()


@METHODS.method("files.getUploadURLExternal")
def files_get_upload_url_external(state: SlackState, args: JsonObject) -> JsonObject:
    filename = str(args.get("filename") or "")
    try:
        length = int(args.get("length", 0))
    except (TypeError, ValueError):
        length = 0
    if not filename or length <= 0:
        raise ApiError("invalid_arguments")
    file_id = state.next_id("F")
    state.files[file_id] = {
        "id": file_id,
        "name": filename,
        "title": filename,
        "length": length,
        "content": None,
        "created": int(state.clock()),
        "user": state.bot_user_id,
        "shares": {},
    }
    return {"upload_url": f"{state.base_url()}/upload/{file_id}", "file_id": file_id}


@METHODS.method("files.completeUploadExternal")
def files_complete_upload_external(state: SlackState, args: JsonObject) -> JsonObject:
    listed = args.get("files")
    if isinstance(listed, str):
        try:
            listed = json.loads(listed)
        except json.JSONDecodeError:
            raise ApiError("invalid_arguments") from None
    if not isinstance(listed, list) or not listed:
        raise ApiError("invalid_arguments")
    files = []
    for item in listed:
        found = state.files.get(str(item.get("id", ""))) if isinstance(item, dict) else None
        # Slack refuses to complete an upload whose bytes never reached the upload URL.
        if found is None or found["content"] is None:
            raise ApiError("file_not_found")
        if item.get("title"):
            found["title"] = str(item["title"])
        files.append(found)
    channel_arg = args.get("channel_id") or args.get("channels")
    if channel_arg:
        channel = state.channel_for_post(str(channel_arg).split(",")[0])
        message = state.new_message(
            {"text": args.get("initial_comment") or "", "thread_ts": args.get("thread_ts")}
        )
        message["files"] = [{"id": f["id"], "name": f["name"], "title": f["title"]} for f in files]
        message["upload"] = True
        state.messages[channel].append(message)
        for found in files:
            found["shares"].setdefault(channel, []).append(message["ts"])
    return {"files": [{"id": f["id"], "title": f["title"]} for f in files]}


def receive_upload(state: SlackState, file_id: str, content: bytes) -> bool:
    """Store the bytes posted to a file's upload URL; tell whether the file was known."""
    found = state.files.get(file_id)
    if found is None:
        return False
    found["content"] = content
    return True
