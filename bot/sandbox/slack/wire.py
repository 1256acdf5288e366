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
# Block Kit's element limits (characters unless said).
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
# Radio buttons and checkboxes list at most 10 options; a file_input takes 1 to 10 files.
MAX_CHOICE_OPTIONS = 10
MAX_FILES = 10
MAX_PLACEHOLDER = 150
MAX_INPUT_LABEL = 2000
MAX_HINT = 2000
MAX_INITIAL_VALUE = 3000
MAX_VIEW_TITLE = 24
MAX_VIEW_BUTTON = 24
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255
# conversations.history and .replies: 100 messages a page unless asked, at most 999.
DEFAULT_PAGE = 100
MAX_PAGE = 999
MAX_ALT_TEXT = 2000
MAX_IMAGE_URL = 3000
# The image types an image block shows from a Slack file, by their first bytes.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
EVENT_TYPE = re.compile(r"[A-Za-z0-9_]{1,255}")

# slack-sdk sends these as JSON strings when a method posts a form or query string.
JSON_ENCODED_ARGS = frozenset({"blocks", "attachments", "view", "metadata"})
DEFAULT_SCOPES = (
    "commands,chat:write,im:write,users:read,users:read.email,channels:read,"
    "reactions:read,reactions:write,usergroups:read,usergroups:write,files:write,files:read,"
    "channels:history,groups:history,im:history,groups:read,groups:write"
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


def _text_of(value: Any) -> str:
    return str(value.get("text", "")) if isinstance(value, dict) else ""


def _over(value: Any, limit: int) -> bool:
    return value is not None and len(str(value)) > limit


def _file_input_fits(element: JsonObject) -> bool:
    """Say whether a file_input's max_files (1-10) and filetypes (extensions) are well formed."""
    most = element.get("max_files")
    if most is not None and (
        not isinstance(most, int) or isinstance(most, bool) or not 1 <= most <= MAX_FILES
    ):
        return False
    kinds = element.get("filetypes")
    return kinds is None or (
        isinstance(kinds, list) and all(isinstance(k, str) and k for k in kinds)
    )


def _element_fits(element: Any, *, in_input: bool = False) -> bool:
    if not isinstance(element, dict):
        return False
    if _over(element.get("action_id"), MAX_ACTION_ID):
        return False
    kind = element.get("type")
    if kind == "file_input":
        # Files are taken in a modal's input block only.
        return in_input and _file_input_fits(element)
    if kind in {"radio_buttons", "checkboxes"}:
        options = element.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= MAX_CHOICE_OPTIONS:
            return False
    if kind == "button":
        return not (
            _over(_text_of(element.get("text")), MAX_BUTTON_TEXT)
            or _over(element.get("value"), MAX_BUTTON_VALUE)
        )
    if kind in {"static_select", "multi_static_select", "overflow", "radio_buttons", "checkboxes"}:
        options = element.get("options") or []
        if not isinstance(options, list) or len(options) > MAX_OPTIONS:
            return False
        for option in options:
            if not isinstance(option, dict):
                return False
            if _over(_text_of(option.get("text")), MAX_OPTION_TEXT) or _over(
                option.get("value"), MAX_OPTION_VALUE
            ):
                return False
    if kind == "plain_text_input" and _over(element.get("initial_value"), MAX_INITIAL_VALUE):
        return False
    return not _over(_text_of(element.get("placeholder")), MAX_PLACEHOLDER)


def _image_fits(block: JsonObject) -> bool:
    """Say whether an image block has its alt text and exactly one source (a URL or a file)."""
    alt = block.get("alt_text")
    if not isinstance(alt, str) or not alt or _over(alt, MAX_ALT_TEXT):
        return False
    if _over(_text_of(block.get("title")), MAX_ALT_TEXT):
        return False
    url, file = block.get("image_url"), block.get("slack_file")
    if (url is None) == (file is None):
        return False
    if url is not None:
        return isinstance(url, str) and bool(url) and not _over(url, MAX_IMAGE_URL)
    # A Slack file is named by its id or its URL, never both.
    return isinstance(file, dict) and (file.get("id") is None) != (file.get("url") is None)


def slack_files_in(blocks: Any) -> list[JsonObject]:
    """Return the ``slack_file`` objects of the image blocks among ``blocks``."""
    if not isinstance(blocks, list):
        return []
    return [
        block["slack_file"]
        for block in blocks
        if isinstance(block, dict)
        and block.get("type") == "image"
        and isinstance(block.get("slack_file"), dict)
    ]


def _block_fits(block: Any) -> bool:
    """Say whether one block is typed and within Block Kit's limits for its kind."""
    if not isinstance(block, dict) or "type" not in block:
        return False
    if _over(block.get("block_id"), MAX_BLOCK_ID):
        return False
    kind = block["type"]
    if kind == "section":
        fields = block.get("fields") or []
        if _over(_text_of(block.get("text")), MAX_SECTION_TEXT) or len(fields) > MAX_SECTION_FIELDS:
            return False
        if any(_over(_text_of(item), MAX_FIELD_TEXT) for item in fields):
            return False
        accessory = block.get("accessory")
        return accessory is None or _element_fits(accessory)
    if kind == "header":
        return not _over(_text_of(block.get("text")), MAX_HEADER_TEXT)
    if kind == "context":
        elements = block.get("elements") or []
        return len(elements) <= MAX_CONTEXT_ELEMENTS and not any(
            _over(_text_of(item), MAX_SECTION_TEXT) for item in elements
        )
    if kind == "actions":
        elements = block.get("elements") or []
        return len(elements) <= MAX_ACTIONS_ELEMENTS and all(_element_fits(e) for e in elements)
    if kind == "image":
        return _image_fits(block)
    if kind == "input":
        return not (
            _over(_text_of(block.get("label")), MAX_INPUT_LABEL)
            or _over(_text_of(block.get("hint")), MAX_HINT)
            or not _element_fits(block.get("element"), in_input=True)
        )
    return True


def check_blocks(blocks: Any, limit: int) -> None:
    """Refuse blocks that are not a list of typed blocks within Block Kit's limits."""
    if blocks is None:
        return
    if not isinstance(blocks, list) or len(blocks) > limit:
        raise ApiError("invalid_blocks")
    if not all(_block_fits(block) for block in blocks):
        raise ApiError("invalid_blocks")


def check_text(text: Any) -> None:
    """Refuse message text over Slack's 40,000 characters."""
    if _over(text, MAX_MESSAGE_TEXT):
        raise ApiError("msg_too_long")


def check_view(view: JsonObject) -> None:
    """Refuse a modal or Home tab over Block Kit's view limits (as ``invalid_arguments``)."""
    for key in ("title", "submit", "close"):
        limit = MAX_VIEW_TITLE if key == "title" else MAX_VIEW_BUTTON
        if _over(_text_of(view.get(key)), limit):
            raise ApiError("invalid_arguments")
    if _over(view.get("private_metadata"), MAX_PRIVATE_METADATA) or _over(
        view.get("callback_id"), MAX_CALLBACK_ID
    ):
        raise ApiError("invalid_arguments")


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
