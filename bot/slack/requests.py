"""Slack's HTTP requests, checked before bolt parses them: signature, age, replay, then shape.

Bolt parses a request's body before it verifies the signature, and reads the fields of the
payload without checking their types, so anyone on the internet could make it raise (a 500)
with a malformed body. :class:`RequestCheck` runs first, on the raw bytes: the HMAC of Slack's
signing scheme (constant-time, five minutes of tolerance), a signature seen before is a replay,
and only then is the body decoded and its shape checked (``payload_problem``). Each refusal
says what was wrong; none of them is logged as an error, since none of them is our fault.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() also takes "١٢" and " 12"

# Fields bolt reads while it builds a request's context, by the type they must have.
_STRINGS = (
    "type",
    "team_id",
    "user_id",
    "channel_id",
    "enterprise_id",
    "thread_ts",
    "response_url",
    "trigger_id",
    "api_app_id",
    "command",
    "text",
    "callback_id",
    "challenge",
    "function_execution_id",
    "bot_access_token",
    "user_team",
    "context_team_id",
    "context_enterprise_id",
)
_REFERENCES = ("enterprise", "team", "user", "channel")  # a string id, null, or {"id": "…"}
_OBJECTS = ("view", "message", "previous_message", "item", "assistant_thread", "function_data")
_NESTED = ("event", "message", "previous_message", "item", "assistant_thread")
_LISTS_OF_OBJECTS = ("authorizations", "actions", "response_urls")


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused, and the status to answer with."""

    status: int
    reason: str


class RequestCheck:
    """Verify Slack's signature on raw bytes and refuse a request seen before."""

    def __init__(self, signing_secret: str, *, now: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self._now = now
        # Signatures accepted within the tolerance window; older ones are stale anyway.
        self._seen: dict[bytes, int] = {}

    def verify(self, headers: Mapping[str, str], body: bytes) -> Refusal | None:
        """Return why the request is not a fresh, correctly signed one from Slack, or None."""
        stamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "").encode("utf-8", "surrogateescape")
        if not stamp or not signature:
            return Refusal(
                401, "unsigned: X-Slack-Request-Timestamp and X-Slack-Signature are required"
            )
        if not _TIMESTAMP.fullmatch(stamp):
            return Refusal(401, "X-Slack-Request-Timestamp is not a Unix time in seconds")
        now = self._now()
        sent = int(stamp)
        if abs(now - sent) > TOLERANCE_SECONDS:
            return Refusal(401, "X-Slack-Request-Timestamp is more than 5 minutes away from now")
        base = b"v0:" + stamp.encode() + b":" + body
        expected = b"v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(expected, signature):
            return Refusal(401, "X-Slack-Signature does not match: check SLACK_SIGNING_SECRET")
        self._forget_before(now - TOLERANCE_SECONDS)
        if signature in self._seen:
            return Refusal(401, "replayed: this signed request was already answered")
        self._seen[signature] = sent
        return None

    def _forget_before(self, oldest: float) -> None:
        for known, sent in list(self._seen.items()):
            if sent < oldest:
                del self._seen[known]


def payload_problem(body: object) -> str | None:
    """Return what is wrong with the shape of a parsed Slack body, or None when bolt can read it."""
    if not isinstance(body, dict):
        return f"the body is a JSON {type(body).__name__}, not an object"
    if ("command" in body or "ssl_check" in body) and all(
        isinstance(v, str) for v in body.values()
    ):
        return None  # a slash command or Slack's SSL check: a form, every field a string
    if not isinstance(body.get("type"), str):
        return "type must be a string"
    if body["type"] == "url_verification" and not isinstance(body.get("challenge"), str):
        return "challenge must be a string"
    if body["type"] == "event_callback" and not isinstance(body.get("event"), dict):
        return "event must be an object"
    return _fields_problem(body, "", depth=0)


def _fields_problem(body: dict[str, Any], where: str, *, depth: int) -> str | None:
    for key in _STRINGS:
        if body.get(key) is not None and not isinstance(body[key], str):
            return f"{where}{key} must be a string"
    for key in _REFERENCES:
        value = body.get(key)
        if isinstance(value, dict):
            if not isinstance(value.get("id", ""), str):
                return f"{where}{key}.id must be a string"
        elif value is not None and not isinstance(value, str):
            return f"{where}{key} must be an id or an object with one"
    if "event" in body and not isinstance(body["event"], dict):
        return f"{where}event must be an object"
    for key in _OBJECTS:
        if body.get(key) is not None and not isinstance(body[key], dict):
            return f"{where}{key} must be an object"
    for key in _LISTS_OF_OBJECTS:
        value = body.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(item, dict) for item in value)
        ):
            return f"{where}{key} must be a list of objects"
    if "is_ext_shared_channel" in body and not isinstance(body["is_ext_shared_channel"], bool):
        return f"{where}is_ext_shared_channel must be true or false"
    if depth >= 3:
        return None
    nested = [(key, body[key]) for key in _NESTED if isinstance(body.get(key), dict)]
    authorizations = body.get("authorizations")
    if authorizations:
        nested.append(("authorizations[0]", authorizations[0]))
    for key, inner in nested:
        problem = _fields_problem(inner, f"{where}{key}.", depth=depth + 1)
        if problem:
            return problem
    return None
