"""Slack's wire rules: how arguments arrive, how requests are signed, what limits refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

from aiohttp import web

JsonObject = dict[str, Any]

# Slack refuses requests whose timestamp is more than five minutes away from its own clock.
STALE_REQUEST_SECONDS = 300
# Slack's trigger_id lives three seconds and can be exchanged once.
TRIGGER_TTL_SECONDS = 3.0
# Slack's limits: 50 blocks in a message, 100 in a view, 40,000 characters of message text.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
# conversations.history and .replies: 100 messages a page unless asked, at most 999.
DEFAULT_PAGE = 100
MAX_PAGE = 999
EVENT_TYPE = re.compile(r"[A-Za-z0-9_]{1,255}")

# slack-sdk sends these as JSON strings when a method posts a form or query string.
JSON_ENCODED_ARGS = frozenset({"blocks", "attachments", "view", "metadata"})
DEFAULT_SCOPES = (
    "commands,chat:write,im:write,users:read,users:read.email,channels:read,"
    "reactions:read,reactions:write,usergroups:read,usergroups:write,files:write,"
    "channels:history,groups:history,im:history"
)


class ApiError(Exception):
    """Raised by a Web API handler to answer `{"ok": false, "error": ...}`."""

    def __init__(self, error: str, **detail: Any) -> None:
        super().__init__(error)
        self.error = error
        # Extra fields Slack sends beside the error (missing_scope: needed, provided).
        self.detail = detail


def sign_slack_request(signing_secret: str, timestamp: int, body: bytes) -> str:
    """Return the `X-Slack-Signature` value Slack computes for a request body."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def truthy(value: Any) -> bool:
    """Read a boolean argument, which forms and queries send as "1"/"true"."""
    # Form and query posts carry booleans as "1"/"0" or "true"/"false".
    if isinstance(value, str):
        return value.lower() in {"1", "true", "yes"}
    return bool(value)


def split_ids(value: Any) -> list[str]:
    """Read a list of IDs sent as a JSON list or a comma-separated string."""
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return []


def json_copy(value: Any) -> Any:
    """Return a deep copy of a JSON value (proving it is JSON)."""
    # A deep copy that also proves the value is JSON, as it must be on the wire.
    return json.loads(json.dumps(value))


def check_blocks(blocks: Any, limit: int) -> None:
    """Refuse blocks that are not a list of typed blocks within the limit."""
    if blocks is None:
        return
    if (
        not isinstance(blocks, list)
        or len(blocks) > limit
        or not all(isinstance(block, dict) and "type" in block for block in blocks)
    ):
        raise ApiError("invalid_blocks")


def check_metadata(metadata: Any) -> None:
    """Refuse message metadata without event_type and event_payload."""
    if metadata is None:
        return
    if (
        not isinstance(metadata, dict)
        or not EVENT_TYPE.fullmatch(str(metadata.get("event_type", "")))
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise ApiError("invalid_metadata_format")


def page(messages: list[JsonObject], args: JsonObject, *, newest_first: bool) -> JsonObject:
    """One page of a conversation read, as conversations.history and .replies answer it.

    ``oldest`` and ``latest`` bound the read, both exclusive unless ``inclusive``; the cursor
    names the last message handed out, so a message posted between pages shifts nothing.
    """
    try:
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else None
        limit = int(args.get("limit") or DEFAULT_PAGE)
    except (TypeError, ValueError):
        raise ApiError("invalid_arguments") from None
    if limit < 1:
        raise ApiError("invalid_arguments")
    after: float | None = None
    if args.get("cursor"):
        try:
            after = float(base64.b64decode(str(args["cursor"])).decode().removeprefix("next_ts:"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError("invalid_cursor") from None
    inclusive = truthy(args.get("inclusive"))

    def wanted(ts: float) -> bool:
        if after is not None and (ts >= after if newest_first else ts <= after):
            return False
        if inclusive:
            return ts >= oldest and (latest is None or ts <= latest)
        return ts > oldest and (latest is None or ts < latest)

    within = [message for message in messages if wanted(float(message["ts"]))]
    chosen = [json_copy(message) for message in within[: min(limit, MAX_PAGE)]]
    if not truthy(args.get("include_all_metadata")):
        for message in chosen:
            message.pop("metadata", None)
    has_more = len(within) > len(chosen)
    next_cursor = (
        base64.b64encode(f"next_ts:{chosen[-1]['ts']}".encode()).decode() if has_more else ""
    )
    return {
        "messages": chosen,
        "has_more": has_more,
        "response_metadata": {"next_cursor": next_cursor},
    }


async def read_args(request: web.Request) -> JsonObject:
    """Return a call's arguments from its query string, form or JSON body."""
    # slack-sdk puts arguments in the query string, a form or a JSON body depending on the method.
    args: JsonObject = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                body = None
            if isinstance(body, dict):
                args.update(body)
        else:
            form = await request.post()
            args.update({key: value for key, value in form.items() if isinstance(value, str)})
            for key in JSON_ENCODED_ARGS & args.keys():
                if isinstance(args[key], str):
                    try:
                        args[key] = json.loads(args[key])
                    except json.JSONDecodeError:
                        raise ApiError("invalid_arguments") from None
    return args


def bearer_token(request: web.Request) -> str | None:
    """Return the token of an Authorization: Bearer header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
