"""Web API: files.* as files_upload_v2 and file_input use them (bytes are served by the sandbox).

A file the bot uploads arrives through files.getUploadURLExternal, the upload URL and
files.completeUploadExternal; a file a member picks in a modal's file_input is seeded with
`add_user_file`. Either is described by files.info and served at its ``url_private`` (and
``url_private_download``) only to a request bearing the bot token.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

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
        found["processing"] = state.processing_uploads
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


@METHODS.method("files.info")
def files_info(state: SlackState, args: JsonObject) -> JsonObject:
    found = state.files.get(str(args.get("file") or ""))
    if found is None or found["content"] is None:
        raise ApiError("file_not_found")
    return {
        "file": public_file(state, found),
        "comments": [],
        "response_metadata": {"next_cursor": ""},
    }


EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def add_user_file(
    state: SlackState,
    user_id: str,
    name: str,
    data: bytes,
    mimetype: str | None,
    *,
    filetype: str | None = None,
    size: int | None = None,
    title: str | None = None,
) -> JsonObject:
    """Store a file a member uploaded and return it as Slack describes it (files.info)."""
    if user_id not in state.users:
        raise KeyError(f"unknown user {user_id}: seed it with add_user()")
    if mimetype is not None and CONTROL.search(mimetype):
        raise ValueError("a mimetype cannot hold control characters (it is an HTTP header)")
    file_id = state.next_id("F")
    extension = EXTENSION.search(name)
    state.files[file_id] = {
        "id": file_id,
        "name": name,
        "title": name if title is None else title,
        "length": len(data),
        "content": data,
        "created": int(state.clock()),
        "user": user_id,
        "shares": {},
        "mimetype": mimetype or "application/octet-stream",
        "filetype": filetype or (extension.group(1).lower() if extension else "binary"),
        "size": len(data) if size is None else size,
    }
    return public_file(state, state.files[file_id])


def file_url(state: SlackState, found: JsonObject, *, download: bool = False) -> str:
    """Return a file's url_private (or url_private_download): readable with the bot token only."""
    folder = "download/" if download else ""
    name = quote(str(found["name"]), safe="")
    return f"{state.base_url()}/files-pri/{state.team_id}-{found['id']}/{folder}{name}"


def public_file(state: SlackState, found: JsonObject) -> JsonObject:
    """Return a stored file as a file object: what files.info and a file_input's state show."""
    filetype = str(found.get("filetype") or "binary")
    described: dict[str, Any] = {
        "id": found["id"],
        "created": found["created"],
        "timestamp": found["created"],
        "name": found["name"],
        "title": found["title"],
        "mimetype": found.get("mimetype") or "application/octet-stream",
        "filetype": filetype,
        "pretty_type": filetype.upper(),
        "user": found["user"],
        "user_team": state.team_id,
        "editable": False,
        "size": found.get("size", found["length"]),
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": bool(found["shares"]),
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        "url_private": file_url(state, found),
        "url_private_download": file_url(state, found, download=True),
        "permalink": f"https://{state.team_domain}.slack.com/files/{found['user']}/{found['id']}",
        "file_access": "visible",
    }
    if found["shares"]:
        described["channels"] = sorted(found["shares"])
    return described


def receive_upload(state: SlackState, file_id: str, content: bytes) -> bool:
    """Store the bytes posted to a file's upload URL; tell whether the file was known."""
    found = state.files.get(file_id)
    if found is None:
        return False
    found["content"] = content
    return True
