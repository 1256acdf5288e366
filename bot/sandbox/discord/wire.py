"""Discord's wire rules: how answers are framed, how bodies are read, what limits refuse."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import BodyPartReader, web

MAX_CONTENT_LENGTH: Final = 2000
# Autocomplete answers: at most 25 choices, names of 1 to 100 characters.
MAX_CHOICES: Final = 25
MAX_CHOICE_NAME: Final = 100
# Embeds: ten a message, 6,000 characters in all; each part has its own limit.
MAX_EMBEDS: Final = 10
MAX_EMBED_TOTAL: Final = 6000
MAX_EMBED_FIELDS: Final = 25
EMBED_TEXT_LIMITS: Final = {"title": 256, "description": 4096}
EMBED_PART_LIMITS: Final = {"footer": ("text", 2048), "author": ("name", 256)}
MAX_FIELD_NAME: Final = 256
MAX_FIELD_VALUE: Final = 1024
# Components: five action rows, five buttons or one select in a row.
MAX_ROWS: Final = 5
MAX_ROW_BUTTONS: Final = 5
MAX_BUTTON_LABEL: Final = 80
MAX_CUSTOM_ID: Final = 100
MAX_SELECT_OPTIONS: Final = 25
MAX_OPTION_TEXT: Final = 100
MAX_PLACEHOLDER: Final = 150


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ApiRequest:
    """A REST request as a route handler sees it."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    query: dict[str, str]
    files: tuple[Upload, ...]

    def json_object(self) -> dict[str, Any]:
        """Return the body as a JSON object, or an empty one when absent."""
        return self.body if isinstance(self.body, dict) else {}

    def snowflake(self, name: str) -> int:
        """Return a numeric path parameter."""
        return int(self.params[name])


@dataclass(frozen=True)
class Reply:
    """A route's answer before it is framed."""

    status: int
    body: Any = None  # None with status 204 means "no content"


class ApiError(Exception):
    """A Discord-style JSON error answer."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors is not None:
            self.body["errors"] = errors

    def reply(self) -> Reply:
        """Return the error as an answer."""
        return Reply(self.status, self.body)


def invalid_form(field_name: str, code: str, message: str) -> ApiError:
    """Return the 50035 "Invalid Form Body" error for one field."""
    return ApiError(
        400,
        50035,
        "Invalid Form Body",
        {field_name: {"_errors": [{"code": code, "message": message}]}},
    )


def wire_response(
    reply: Reply, *, bucket: str, now: float, retry_after: float | None = None
) -> web.Response:
    """Build a REST answer the way Discord's edge sends it.

    Every discord.py wire quirk lives here:
    - ``Content-Type`` must be exactly ``application/json``: discord.py's ``json_or_text``
      compares the header for equality, and aiohttp's ``json_response`` appends
      ``; charset=utf-8``, which makes discord.py treat the body as text.
    - Every answer carries ``X-RateLimit-*`` headers. discord.py keys its buckets on
      ``X-RateLimit-Bucket`` and sleeps pre-emptively when ``X-RateLimit-Remaining`` reaches 0,
      so successes advertise a roomy bucket that resets quickly.
    - A 429 must carry a ``Via`` header (Discord answers through Google's edge, ``Via: 1.1
      google``): without it discord.py assumes a Cloudflare ban and raises instead of retrying.
      The retry delay it honours is the JSON body's ``retry_after``, not the header.
    - 204 answers have no body and no ``Content-Type``.
    """
    headers = {"Via": "1.1 google", "X-RateLimit-Bucket": bucket, "X-RateLimit-Limit": "50"}
    if retry_after is None:
        headers |= {
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Reset": f"{now + 1.0:.3f}",
        }
    else:
        headers |= {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Reset": f"{now + retry_after:.3f}",
            "X-RateLimit-Scope": "user",
        }
    if reply.status == 204:
        return web.Response(status=204, headers=headers)
    headers["Content-Type"] = "application/json"
    return web.Response(status=reply.status, body=json.dumps(reply.body).encode(), headers=headers)


def bucket_id(method: str, template: str) -> str:
    """Return the rate-limit bucket a route advertises."""
    return hashlib.blake2s(f"{method} {template}".encode(), digest_size=8).hexdigest()


async def read_body(request: web.Request) -> tuple[Any, tuple[Upload, ...]]:
    """Return the JSON body (or multipart payload_json) and any uploaded files."""
    if not request.body_exists:
        return None, ()
    if request.content_type == "multipart/form-data":
        body: Any = None
        uploads: list[Upload] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            data = bytes(await part.read())
            if part.name == "payload_json":
                body = json.loads(data)
            else:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                uploads.append(Upload(part.filename or "file", content_type, data))
        return body, tuple(uploads)
    raw = await request.read()
    if not raw:
        return None, ()
    try:
        return json.loads(raw), ()
    except ValueError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None


def check_content_length(content: Any) -> None:
    """Refuse message content over Discord's 2,000 characters."""
    too_long("content", content, MAX_CONTENT_LENGTH)


def too_long(where: str, text: Any, limit: int) -> None:
    """Refuse a text over ``limit`` characters as Discord does (nothing to say when absent)."""
    if text is not None and len(str(text)) > limit:
        raise invalid_form(where, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def too_many(where: str, items: Any, limit: int) -> list[Any]:
    """Return ``items`` when it is a list of at most ``limit``; refuse it as Discord does."""
    if not isinstance(items, list) or len(items) > limit:
        raise invalid_form(where, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return items


def check_embeds(embeds: Any) -> None:
    """Refuse embeds over Discord's limits (each part, and 6,000 characters in all)."""
    if embeds is None:
        return
    too_many("embeds", embeds, MAX_EMBEDS)
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            raise invalid_form(
                f"embeds.{index}",
                "MODEL_TYPE_CONVERT",
                "Only dictionaries may be used in a ModelType",
            )
        for key, limit in EMBED_TEXT_LIMITS.items():
            too_long(f"embeds.{index}.{key}", embed.get(key), limit)
            total += len(str(embed.get(key) or ""))
        for key, (inner, limit) in EMBED_PART_LIMITS.items():
            part = embed.get(key)
            text = part.get(inner) if isinstance(part, dict) else None
            too_long(f"embeds.{index}.{key}.{inner}", text, limit)
            total += len(str(text or ""))
        fields = too_many(f"embeds.{index}.fields", embed.get("fields") or [], MAX_EMBED_FIELDS)
        for number, item in enumerate(fields):
            item = item if isinstance(item, dict) else {}
            too_long(f"embeds.{index}.fields.{number}.name", item.get("name"), MAX_FIELD_NAME)
            too_long(f"embeds.{index}.fields.{number}.value", item.get("value"), MAX_FIELD_VALUE)
            total += len(str(item.get("name") or "")) + len(str(item.get("value") or ""))
    if total > MAX_EMBED_TOTAL:
        raise invalid_form(
            "embeds",
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
        )


def check_component(where: str, component: dict[str, Any]) -> None:
    """Refuse a button or select over Discord's limits (custom id, label, options)."""
    kind = component.get("type")
    custom_id = component.get("custom_id")
    if custom_id is not None and not 1 <= len(str(custom_id)) <= MAX_CUSTOM_ID:
        raise invalid_form(
            f"{where}.custom_id",
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between 1 and {MAX_CUSTOM_ID} in length.",
        )
    if kind == 2:
        too_long(f"{where}.label", component.get("label"), MAX_BUTTON_LABEL)
    elif kind in (3, 5, 6, 7, 8):
        too_long(f"{where}.placeholder", component.get("placeholder"), MAX_PLACEHOLDER)
        options = too_many(f"{where}.options", component.get("options") or [], MAX_SELECT_OPTIONS)
        for number, option in enumerate(options):
            option = option if isinstance(option, dict) else {}
            for key in ("label", "value", "description"):
                too_long(f"{where}.options.{number}.{key}", option.get(key), MAX_OPTION_TEXT)


def check_components(components: Any) -> None:
    """Refuse message components over Discord's limits (rows, buttons, labels, ids, options)."""
    if components is None:
        return
    too_many("components", components, MAX_ROWS)
    for index, row in enumerate(components):
        if not isinstance(row, dict):
            raise invalid_form(
                f"components.{index}",
                "MODEL_TYPE_CONVERT",
                "Only dictionaries may be used in a ModelType",
            )
        if row.get("type") != 1:
            check_component(f"components.{index}", row)
            continue
        inner = too_many(
            f"components.{index}.components", row.get("components") or [], MAX_ROW_BUTTONS
        )
        for number, component in enumerate(inner):
            if isinstance(component, dict):
                check_component(f"components.{index}.components.{number}", component)


def check_message_limits(body: dict[str, Any]) -> None:
    """Refuse content, embeds or components over Discord's limits."""
    check_content_length(body.get("content"))
    check_embeds(body.get("embeds"))
    check_components(body.get("components"))


def validate_message_body(body: dict[str, Any], files: tuple[Upload, ...]) -> None:
    """Refuse a new message Discord would refuse: over a limit, or empty."""
    content = body.get("content")
    check_message_limits(body)
    if not (
        content
        or body.get("embeds")
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
        or files
    ):
        raise ApiError(400, 50006, "Cannot send an empty message")


def validate_choices(choices: Any) -> None:
    """Refuse an autocomplete answer Discord would refuse."""
    for choice in too_many("data.choices", choices, MAX_CHOICES):
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_CHOICE_NAME:
            raise invalid_form(
                "data.choices.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        value = choice.get("value")
        if not isinstance(value, str | int | float):
            raise invalid_form("data.choices.value", "BASE_TYPE_REQUIRED", "This field is required")
        if isinstance(value, str) and len(value) > MAX_CHOICE_NAME:
            raise invalid_form(
                "data.choices.value", "BASE_TYPE_BAD_LENGTH", "Must be 100 or fewer in length."
            )


def emoji_payload(emoji: str) -> dict[str, Any]:
    """Return the gateway form of a unicode or custom (``name:id``, ``<:name:id>``) emoji."""
    text = emoji[1:-1] if emoji.startswith("<") and emoji.endswith(">") else emoji
    animated = text.startswith("a:")
    name, _, emoji_id = text.removeprefix("a:").lstrip(":").rpartition(":")
    if not (name and emoji_id.isdigit()):
        return {"id": None, "name": emoji}
    return {"id": emoji_id, "name": name, "animated": animated}


def emoji_key(emoji: dict[str, Any]) -> str:
    """Return what tells two reactions' emoji apart."""
    return str(emoji["id"]) if emoji.get("id") else str(emoji["name"])
