"""A local fake Slack: a Web API server and a sender of signed requests, for tests and demos.

`SlackSandbox` serves the Web API on 127.0.0.1 with aiohttp, so the real slack-bolt `AsyncApp` and
slack-sdk `AsyncWebClient` run unmodified against it (`AsyncWebClient(base_url=sandbox.api_base)`).
`SlackEventSender` plays Slack's other half: it posts slash commands, interactivity payloads and
Events API envelopes to the bot's request URL, signed with the signing secret as Slack signs them.

It speaks the wire protocol and keeps a small workspace state (users, channels, DMs, messages,
views, user groups); every call is recorded so tests can wait for the call they expect.

Fidelity notes (what a bot sees here, as on Slack):
- Every Web API answer is HTTP 200 with `{"ok": ...}`, except rate limits (HTTP 429, `Retry-After`
  in whole seconds, body `{"ok": false, "error": "ratelimited"}`).
- `auth.test` answers with `bot_id` and the `x-oauth-scopes` header: bolt reads `bot_id` to tell a
  bot token from a user token, and the header for `context.bot_scopes`.
- `close_dms(user)` models a deactivated account, the state in which Slack refuses a bot's DM:
  `conversations.open` then answers `user_disabled` and `chat.postMessage` to the user (by user ID
  or DM channel ID) answers `is_archived`, because Slack archives a deactivated user's DMs.
  (`cannot_dm_bot` is what Slack answers when the target is a bot user, the sandbox's own included.)
- Trigger IDs are single-use and expire after 3 s (`invalid_trigger_id`, `exchanged_trigger_id`,
  `expired_trigger_id`), so a bot that does slow work before `views.open` fails here as on Slack.
- Files go up as `files_upload_v2` sends them: `files.getUploadURLExternal`, a POST of the bytes to
  the returned upload URL (recorded as "upload_url"), then `files.completeUploadExternal`, which
  shares the file in the conversation with the initial comment as the message text.
- `chat.postMessage` keeps `metadata` (`{"event_type", "event_payload"}`, else
  `invalid_metadata_format`); `conversations.history` (newest first, top-level messages only) and
  `conversations.replies` (parent first) return it only with `include_all_metadata`, and page with
  `limit`, `cursor` and `response_metadata.next_cursor`, bounded by `oldest` and `latest`.
- Socket Mode: `apps.connections.open` (app token only) hands out a WebSocket URL; the sandbox greets
  with `hello`, `socket_send()` pushes an envelope and the client's acknowledgement is recorded as a
  "socket_ack" call (a new connection as "socket_connect").
- Scopes: `auth.test` reports `scopes` in `x-oauth-scopes`; of them only the history scopes are
  enforced (`conversations.history`/`.replies` answer `missing_scope` with `needed`).
- Not modelled: multi-person DMs, channel membership (the bot is in every seeded channel), other scopes,
  the five-uses limit of a response URL, and retries of unanswered events.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

from aiohttp import ClientSession, ClientTimeout, web

JsonObject = dict[str, Any]
Clock = Callable[[], float]
CallPredicate = Callable[["RecordedCall"], bool]

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
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_]{1,255}")

# slack-sdk sends these as JSON strings when a method posts a form or query string.
_JSON_ENCODED_ARGS = frozenset({"blocks", "attachments", "view", "metadata"})
_DEFAULT_SCOPES = (
    "commands,chat:write,im:write,users:read,users:read.email,channels:read,"
    "reactions:read,reactions:write,usergroups:read,usergroups:write,files:write,"
    "channels:history,groups:history,im:history"
)


@dataclass(frozen=True)
class RecordedCall:
    """One request the sandbox answered: a Web API method or a response_url post."""

    method: str
    args: dict[str, Any]
    at: float  # on the sandbox's clock, in seconds
    status: int
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Tell whether Slack would have answered `ok: true`."""
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass(frozen=True)
class BotReply:
    """The bot's HTTP answer to a request the sender posted."""

    status: int
    body: str
    headers: dict[str, str]
    elapsed: float

    def json(self) -> Any:
        """Parse the body as JSON (None when the body is empty, as after a bare `ack()`)."""
        return json.loads(self.body) if self.body else None


class _ApiError(Exception):
    """Raised by a Web API handler to answer `{"ok": false, "error": ...}`."""

    def __init__(self, error: str, **detail: str) -> None:
        super().__init__(error)
        self.error = error
        # Extra fields Slack sends beside the error (missing_scope: needed, provided).
        self.detail = detail


def sign_slack_request(signing_secret: str, timestamp: int, body: bytes) -> str:
    """Return the `X-Slack-Signature` value Slack computes for a request body."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def _truthy(value: Any) -> bool:
    # Form and query posts carry booleans as "1"/"0" or "true"/"false".
    if isinstance(value, str):
        return value.lower() in {"1", "true", "yes"}
    return bool(value)


def _split_ids(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return []


def _method_is(method: str) -> CallPredicate:
    def matches(call: RecordedCall) -> bool:
        return call.method == method

    return matches


def _json_copy(value: Any) -> Any:
    # A deep copy that also proves the value is JSON, as it must be on the wire.
    return json.loads(json.dumps(value))


def _check_blocks(blocks: Any, limit: int) -> None:
    if blocks is None:
        return
    if (
        not isinstance(blocks, list)
        or len(blocks) > limit
        or not all(isinstance(block, dict) and "type" in block for block in blocks)
    ):
        raise _ApiError("invalid_blocks")


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if (
        not isinstance(metadata, dict)
        or not _EVENT_TYPE.fullmatch(str(metadata.get("event_type", "")))
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise _ApiError("invalid_metadata_format")


def _page(messages: list[JsonObject], args: JsonObject, *, newest_first: bool) -> JsonObject:
    """One page of a conversation read, as conversations.history and .replies answer it.

    ``oldest`` and ``latest`` bound the read, both exclusive unless ``inclusive``; the cursor
    names the last message handed out, so a message posted between pages shifts nothing.
    """
    try:
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else None
        limit = int(args.get("limit") or DEFAULT_PAGE)
    except (TypeError, ValueError):
        raise _ApiError("invalid_arguments") from None
    if limit < 1:
        raise _ApiError("invalid_arguments")
    after: float | None = None
    if args.get("cursor"):
        try:
            after = float(base64.b64decode(str(args["cursor"])).decode().removeprefix("next_ts:"))
        except (ValueError, UnicodeDecodeError):
            raise _ApiError("invalid_cursor") from None
    inclusive = _truthy(args.get("inclusive"))

    def wanted(ts: float) -> bool:
        if after is not None and (ts >= after if newest_first else ts <= after):
            return False
        if inclusive:
            return ts >= oldest and (latest is None or ts <= latest)
        return ts > oldest and (latest is None or ts < latest)

    within = [message for message in messages if wanted(float(message["ts"]))]
    chosen = [_json_copy(message) for message in within[: min(limit, MAX_PAGE)]]
    if not _truthy(args.get("include_all_metadata")):
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


async def _read_args(request: web.Request) -> JsonObject:
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
            for key in _JSON_ENCODED_ARGS & args.keys():
                if isinstance(args[key], str):
                    try:
                        args[key] = json.loads(args[key])
                    except json.JSONDecodeError:
                        raise _ApiError("invalid_arguments") from None
    return args


class SlackSandbox:
    """A local Slack workspace and Web API that the real slack-sdk client can talk to."""

    def __init__(
        self,
        *,
        team_id: str = "T0001",
        bot_user_id: str = "U0BOT",
        signing_secret: str = "sandbox-signing-secret",  # noqa: S107 - a sandbox secret
        bot_token: str = "xoxb-sandbox",  # noqa: S107 - bolt needs the xoxb- prefix
        bot_id: str = "B0BOT",
        app_token: str = "xapp-sandbox",  # noqa: S107 - Socket Mode needs the xapp- prefix
        app_id: str = "A0SANDBOX",
        team_domain: str = "sandbox",
        clock: Clock = time.time,
    ) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.team_domain = team_domain
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.app_token = app_token
        self.scopes = _DEFAULT_SCOPES
        self.trigger_ttl = TRIGGER_TTL_SECONDS
        self.clock = clock

        self.calls: list[RecordedCall] = []
        self.users: dict[str, JsonObject] = {}
        self.channels: dict[str, JsonObject] = {}
        self.messages: dict[str, list[JsonObject]] = {}
        self.ephemeral_messages: list[JsonObject] = []
        self.views: dict[str, JsonObject] = {}
        self.home_views: dict[str, JsonObject] = {}
        self.usergroups: dict[str, JsonObject] = {}
        # Files uploaded through files.getUploadURLExternal → upload URL → completeUploadExternal;
        # "content" holds the uploaded bytes once the upload URL received them.
        self.files: dict[str, JsonObject] = {}
        # What each handed-out response URL answers for: channel, user and, for actions, message.
        self.response_urls: dict[str, JsonObject] = {}

        self._calls_changed = asyncio.Condition()
        self._rate_limits: dict[str, list[int]] = {}
        self._failures: dict[str, list[str]] = {}
        self._triggers: dict[str, float] = {}
        self._exchanged_triggers: set[str] = set()
        self._disabled_users: set[str] = set()
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._senders: list[SlackEventSender] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_tickets: set[str] = set()
        self._handlers: dict[str, Callable[[JsonObject], JsonObject]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "reactions.add": self._reactions_add,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "usergroups.users.update": self._usergroups_users_update,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }
        self.add_user(bot_user_id, "flywheel", real_name="Flywheel", is_bot=True)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the Web API and response URLs on host:port (port 0 picks a free port)."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/respond/{token}", self._handle_response_url)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/socket", self._handle_socket)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Close the senders this sandbox made and stop serving."""
        for sender in self._senders:
            await sender.close()
        self._senders.clear()
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """Return the port the sandbox listens on."""
        if self._port is None:
            raise RuntimeError("the Slack sandbox is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """Return the sandbox's root URL, without a trailing slash."""
        return f"http://{self._host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Return the Web API base URL for `AsyncWebClient(base_url=...)`; it ends with /api/."""
        # slack-sdk joins with urljoin, so without the trailing slash "/api" would be dropped.
        return f"{self.base_url}/api/"

    def sender(self, bot_url: str, *, clock: Clock | None = None) -> SlackEventSender:
        """Make a sender that posts signed requests to the bot's URL; stop() closes it."""
        sender = SlackEventSender(self, bot_url, clock=clock)
        self._senders.append(sender)
        return sender

    # -- seeding ---------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        *,
        is_bot: bool = False,
    ) -> None:
        """Add a workspace member as users.info describes one."""
        profile: JsonObject = {
            "real_name": real_name or name,
            "display_name": name,
            "real_name_normalized": real_name or name,
            "display_name_normalized": name,
        }
        if email is not None:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name or name,
            "deleted": False,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "tz": "Etc/UTC",
            "tz_offset": 0,
            "profile": profile,
        }

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False) -> None:
        """Add a channel the bot is a member of."""
        self.channels[channel_id] = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "is_archived": False,
            "is_general": False,
            "is_member": True,
            "created": int(self.clock()),
            "context_team_id": self.team_id,
        }
        self.messages.setdefault(channel_id, [])

    def add_usergroup(
        self,
        usergroup_id: str,
        handle: str,
        name: str | None = None,
        users: list[str] | None = None,
    ) -> None:
        """Add a user group (Slack calls them subteams; their IDs start with S)."""
        now = int(self.clock())
        self.usergroups[usergroup_id] = {
            "id": usergroup_id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": name or handle,
            "description": "",
            "handle": handle,
            "is_external": False,
            "date_create": now,
            "date_update": now,
            "date_delete": 0,
            "created_by": self.bot_user_id,
            "updated_by": self.bot_user_id,
            "users": list(users or []),
            "user_count": len(users or []),
        }

    def close_dms(self, user_id: str) -> None:
        """Deactivate a member, so the bot can no longer DM them (see the module notes)."""
        user = self.users[user_id]
        user["deleted"] = True
        self._disabled_users.add(user_id)
        dm = self.channels.get(self.dm_channel_id(user_id))
        if dm is not None:
            dm["is_archived"] = True

    def dm_channel_id(self, user_id: str) -> str:
        """Return the ID of the bot's DM with a member (the sandbox derives it from the user ID)."""
        return f"D{user_id}"

    def rate_limit_next(self, method: str, retry_after: int = 1, count: int = 1) -> None:
        """Answer the next `count` calls to `method` with HTTP 429 and Retry-After seconds."""
        self._rate_limits.setdefault(method, []).extend([retry_after] * count)

    def fail_next(self, method: str, error: str = "internal_error", count: int = 1) -> None:
        """Answer the next `count` calls to `method` with ``{"ok": false, "error": error}``."""
        self._failures.setdefault(method, []).extend([error] * count)

    def file_content(self, file_id: str) -> bytes:
        """Return the bytes uploaded for a file."""
        content = self.files[file_id]["content"]
        if not isinstance(content, bytes):
            raise KeyError(f"file {file_id} was never uploaded")
        return content

    def messages_in(self, channel_id: str) -> list[JsonObject]:
        """Return the messages posted in a channel, oldest first, thread replies included."""
        return list(self.messages.get(channel_id, []))

    # -- recording -------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Return the recorded calls to one method (e.g. "chat.postMessage", "response_url")."""
        return [call for call in self.calls if call.method == method]

    async def wait_for_call(
        self,
        predicate: str | CallPredicate,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default keeps test code short
        *,
        since: int = 0,
    ) -> RecordedCall:
        """Wait for the first call from index `since` that matches (a str matches the method)."""
        matches = _method_is(predicate) if isinstance(predicate, str) else predicate
        index = since
        try:
            async with asyncio.timeout(timeout), self._calls_changed:
                while True:
                    while index < len(self.calls):
                        call = self.calls[index]
                        index += 1
                        if matches(call):
                            return call
                    await self._calls_changed.wait()
        except TimeoutError:
            seen = ", ".join(call.method for call in self.calls[since:]) or "none"
            raise TimeoutError(
                f"no matching Slack call within {timeout} s; calls seen: {seen}"
            ) from None

    async def _record(
        self, method: str, args: JsonObject, status: int, response: JsonObject
    ) -> None:
        call = RecordedCall(
            method=method,
            args=_json_copy(args),
            at=self.clock(),
            status=status,
            response=_json_copy(response),
        )
        async with self._calls_changed:
            self.calls.append(call)
            self._calls_changed.notify_all()

    # -- handed-out identifiers --------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def _next_ts(self) -> str:
        # Message timestamps are IDs on Slack: unique and increasing within a channel.
        self._last_ts = max(self.clock(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def issue_trigger_id(self) -> str:
        """Hand out a trigger_id that views.open or views.push can exchange once, within 3 s."""
        trigger_id = f"{int(self.clock())}.{next(self._ids)}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = time.monotonic()
        return trigger_id

    def issue_response_url(
        self, channel_id: str | None, user_id: str, message_ts: str | None = None
    ) -> str:
        """Hand out a response URL that posts back into a channel for a user."""
        token = secrets.token_urlsafe(18)
        self.response_urls[token] = {
            "channel": channel_id,
            "user": user_id,
            "message_ts": message_ts,
        }
        return f"{self.base_url}/respond/{token}"

    # -- HTTP handlers -----------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args = await _read_args(request)
        except _ApiError as error:
            args, body = {}, {"ok": False, "error": error.error}
            await self._record(method, args, 200, body)
            return web.json_response(body)
        token = args.pop("token", None)
        pending = self._rate_limits.get(method)
        if pending:
            retry_after = pending.pop(0)
            body = {"ok": False, "error": "ratelimited"}
            await self._record(method, args, 429, body)
            return web.json_response(body, status=429, headers={"Retry-After": str(retry_after)})
        failures = self._failures.get(method)
        if failures:
            body = {"ok": False, "error": failures.pop(0)}
        else:
            body = self._dispatch(method, args, _bearer_token(request) or token)
        await self._record(method, args, 200, body)
        headers = {"x-oauth-scopes": self.scopes} if method == "auth.test" else None
        return web.json_response(body, headers=headers)

    def _dispatch(self, method: str, args: JsonObject, token: Any) -> JsonObject:
        if not token:
            return {"ok": False, "error": "not_authed"}
        if method == "apps.connections.open":
            # The one method that takes the app-level token, and only it.
            if token == self.bot_token:
                return {"ok": False, "error": "not_allowed_token_type"}
            if token != self.app_token:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, **self._apps_connections_open(args)}
        if token != self.bot_token:
            return {"ok": False, "error": "invalid_auth"}
        handler = self._handlers.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            return {"ok": True, **handler(args)}
        except _ApiError as error:
            return {"ok": False, "error": error.error, **error.detail}

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        origin = self.response_urls.get(request.match_info["token"])
        try:
            args = await _read_args(request)
        except _ApiError:
            args = {}
        if isinstance(args.get("payload"), str):
            # A response_url also accepts the interactivity-style form with one JSON field.
            try:
                payload = json.loads(args["payload"])
            except json.JSONDecodeError:
                payload = None
            args = payload if isinstance(payload, dict) else args
        if origin is None:
            await self._record("response_url", args, 404, {"ok": False, "error": "no_service"})
            return web.Response(status=404, text="no_service")
        try:
            self._apply_response(origin, args)
        except _ApiError as error:
            body = {"ok": False, "error": error.error}
        else:
            body = {"ok": True}
        await self._record("response_url", args, 200, body)
        return web.json_response(body)

    def _apply_response(self, origin: JsonObject, args: JsonObject) -> None:
        # Slack treats a response_url post as a reply in the original context.
        _check_blocks(args.get("blocks"), MAX_MESSAGE_BLOCKS)
        channel = origin["channel"]
        original = None
        if channel and origin["message_ts"]:
            original = self.find_message(channel, origin["message_ts"])
        if _truthy(args.get("delete_original")) and original is not None:
            self.messages[channel].remove(original)
        elif _truthy(args.get("replace_original")) and original is not None:
            original.update(self._message_content(args))
            original["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        elif args.get("response_type") == "in_channel" and channel:
            message = self._new_message(args)
            self.messages.setdefault(channel, []).append(message)
        else:
            message = self._new_message(args)
            message.update({"channel": channel, "recipient": origin["user"]})
            self.ephemeral_messages.append(message)

    # -- workspace helpers -------------------------------------------------------------------

    def _message_content(self, args: JsonObject) -> JsonObject:
        content: JsonObject = {"text": str(args.get("text", ""))}
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                content[key] = args[key]
        return content

    def _new_message(self, args: JsonObject) -> JsonObject:
        message: JsonObject = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": self._next_ts(),
            **self._message_content(args),
        }
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        return message

    def find_message(self, channel: str, ts: Any) -> JsonObject | None:
        """Return the message with timestamp `ts` in a channel, if any."""
        for message in self.messages.get(channel, []):
            if message["ts"] == str(ts):
                return message
        return None

    def open_dm(self, user_id: str) -> str:
        """Open (or reuse) the bot's DM with a member and return its channel ID."""
        channel_id = self.dm_channel_id(user_id)
        if channel_id not in self.channels:
            self.channels[channel_id] = {
                "id": channel_id,
                "is_im": True,
                "is_channel": False,
                "is_group": False,
                "is_mpim": False,
                "is_private": True,
                "is_archived": user_id in self._disabled_users,
                "is_org_shared": False,
                "user": user_id,
                "created": int(self.clock()),
                "context_team_id": self.team_id,
            }
            self.messages.setdefault(channel_id, [])
        return channel_id

    def _channel_for_post(self, requested: Any) -> str:
        # chat.postMessage takes a channel ID, a channel name, or a user ID (meaning the app's DM).
        if not requested:
            raise _ApiError("channel_not_found")
        channel = str(requested)
        if channel in self.users:
            if channel in self._disabled_users:
                raise _ApiError("is_archived")
            channel = self.open_dm(channel)
        elif channel not in self.channels:
            by_name = [
                cid
                for cid, info in self.channels.items()
                if info.get("name") == channel.lstrip("#")
            ]
            if not by_name:
                raise _ApiError("channel_not_found")
            channel = by_name[0]
        if self.channels[channel].get("is_archived"):
            raise _ApiError("is_archived")
        return channel

    def _message_for_change(self, args: JsonObject) -> tuple[str, JsonObject]:
        channel = str(args.get("channel", ""))
        if channel not in self.channels:
            raise _ApiError("channel_not_found")
        message = self.find_message(channel, args.get("ts") or args.get("timestamp"))
        if message is None:
            raise _ApiError("message_not_found")
        return channel, message

    def _exchange_trigger(self, trigger_id: Any) -> None:
        if not trigger_id:
            raise _ApiError("invalid_arguments")
        issued = self._triggers.get(str(trigger_id))
        if issued is None:
            raise _ApiError("invalid_trigger_id")
        if trigger_id in self._exchanged_triggers:
            raise _ApiError("exchanged_trigger_id")
        if time.monotonic() - issued > self.trigger_ttl:
            raise _ApiError("expired_trigger_id")
        self._exchanged_triggers.add(str(trigger_id))

    def _build_view(self, view: Any, *, view_id: str | None = None) -> JsonObject:
        if not isinstance(view, dict) or view.get("type") not in {"modal", "home"}:
            raise _ApiError("invalid_arguments")
        _check_blocks(view.get("blocks", []), MAX_VIEW_BLOCKS)
        view_id = view_id or self._next_id("V")
        built: JsonObject = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        built.update({key: value for key, value in view.items() if key not in {"id", "hash"}})
        return built

    def find_view(self, view_id: str) -> JsonObject | None:
        """Return a modal or Home tab view the bot opened or published, by view ID."""
        if view_id in self.views:
            return self.views[view_id]
        return next((v for v in self.home_views.values() if v["id"] == view_id), None)

    # -- Web API methods ---------------------------------------------------------------------

    def _auth_test(self, args: JsonObject) -> JsonObject:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain.title(),
            "user": self.users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JsonObject) -> JsonObject:
        channel = self._channel_for_post(args.get("channel"))
        if not any(args.get(key) for key in ("text", "blocks", "attachments")):
            raise _ApiError("no_text")
        if len(str(args.get("text", ""))) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")
        _check_blocks(args.get("blocks"), MAX_MESSAGE_BLOCKS)
        _check_metadata(args.get("metadata"))
        message = self._new_message(args)
        thread_ts = message.get("thread_ts")
        if thread_ts is not None:
            parent = self.find_message(channel, thread_ts)
            if parent is not None:
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self.messages[channel].append(message)
        return {"channel": channel, "ts": message["ts"], "message": message}

    def _chat_post_ephemeral(self, args: JsonObject) -> JsonObject:
        channel = self._channel_for_post(args.get("channel"))
        user = str(args.get("user", ""))
        if user not in self.users:
            raise _ApiError("user_not_found")
        if not any(args.get(key) for key in ("text", "blocks", "attachments")):
            raise _ApiError("no_text")
        _check_blocks(args.get("blocks"), MAX_MESSAGE_BLOCKS)
        message = self._new_message(args)
        message.update({"channel": channel, "recipient": user})
        self.ephemeral_messages.append(message)
        return {"message_ts": message["ts"]}

    def _chat_update(self, args: JsonObject) -> JsonObject:
        channel, message = self._message_for_change(args)
        _check_blocks(args.get("blocks"), MAX_MESSAGE_BLOCKS)
        message.update(self._message_content(args))
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": message,
        }

    def _chat_delete(self, args: JsonObject) -> JsonObject:
        channel, message = self._message_for_change(args)
        self.messages[channel].remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _views_open(self, args: JsonObject) -> JsonObject:
        self._exchange_trigger(args.get("trigger_id"))
        view = self._build_view(args.get("view"))
        self.views[view["id"]] = view
        return {"view": view}

    def _views_push(self, args: JsonObject) -> JsonObject:
        return self._views_open(args)

    def _views_update(self, args: JsonObject) -> JsonObject:
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        current = self.find_view(str(view_id)) if view_id else None
        if current is None and external_id:
            current = next(
                (v for v in self.views.values() if v.get("external_id") == external_id), None
            )
        if current is None:
            raise _ApiError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        view = self._build_view(args.get("view"), view_id=current["id"])
        view["root_view_id"] = current["root_view_id"]
        if view["type"] == "home":
            owner = next(user for user, v in self.home_views.items() if v["id"] == current["id"])
            self.home_views[owner] = view
        else:
            self.views[view["id"]] = view
        return {"view": view}

    def _views_publish(self, args: JsonObject) -> JsonObject:
        user_id = str(args.get("user_id", ""))
        if user_id not in self.users:
            raise _ApiError("user_not_found")
        view = args.get("view")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise _ApiError("invalid_arguments")
        current = self.home_views.get(user_id)
        if current is not None and args.get("hash") and args["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        built = self._build_view(view, view_id=current["id"] if current else None)
        self.home_views[user_id] = built
        return {"view": built}

    def _conversations_open(self, args: JsonObject) -> JsonObject:
        if args.get("channel"):
            channel = str(args["channel"])
            if not self.channels.get(channel, {}).get("is_im"):
                raise _ApiError("channel_not_found")
            return {"no_op": True, "already_open": True, "channel": {"id": channel}}
        users = _split_ids(args.get("users"))
        if not users:
            raise _ApiError("users_list_not_supplied")
        if len(users) > 1:
            # Multi-person DMs are not modelled; fail loudly rather than pretend.
            raise _ApiError("sandbox_unsupported_mpim")
        user_id = users[0]
        user = self.users.get(user_id)
        if user is None:
            raise _ApiError("user_not_found")
        if user["is_bot"]:
            raise _ApiError("cannot_dm_bot")
        if user_id in self._disabled_users:
            raise _ApiError("user_disabled")
        already_open = self.dm_channel_id(user_id) in self.channels
        channel_id = self.open_dm(user_id)
        info = self.channels[channel_id] if _truthy(args.get("return_im")) else {"id": channel_id}
        return {"no_op": already_open, "already_open": already_open, "channel": info}

    def _conversations_info(self, args: JsonObject) -> JsonObject:
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None:
            raise _ApiError("channel_not_found")
        return {"channel": channel}

    def _require_history_scope(self, channel: str) -> None:
        # Reading a conversation needs the history scope of its kind; Slack says which.
        info = self.channels[channel]
        kind = "im" if info.get("is_im") else "groups" if info.get("is_private") else "channels"
        needed = f"{kind}:history"
        if needed not in self.scopes.split(","):
            raise _ApiError("missing_scope", needed=needed, provided=self.scopes)

    def _conversations_history(self, args: JsonObject) -> JsonObject:
        channel = str(args.get("channel", ""))
        if channel not in self.channels:
            raise _ApiError("channel_not_found")
        self._require_history_scope(channel)
        top_level = [
            message
            for message in reversed(self.messages[channel])
            if message.get("thread_ts") in (None, message["ts"])
        ]
        return _page(top_level, args, newest_first=True)

    def _conversations_replies(self, args: JsonObject) -> JsonObject:
        channel = str(args.get("channel", ""))
        if channel not in self.channels:
            raise _ApiError("channel_not_found")
        self._require_history_scope(channel)
        parent = self.find_message(channel, args.get("ts"))
        if parent is None:
            raise _ApiError("thread_not_found")
        replies = [
            message
            for message in self.messages[channel]
            if message.get("thread_ts") == parent["ts"] and message is not parent
        ]
        return _page([parent, *replies], args, newest_first=False)

    def _users_info(self, args: JsonObject) -> JsonObject:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": user}

    def _reactions_add(self, args: JsonObject) -> JsonObject:
        _, message = self._message_for_change(args)
        name = str(args.get("name", ""))
        if not name:
            raise _ApiError("invalid_name")
        reactions: list[JsonObject] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            raise _ApiError("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        return {}

    def _usergroups_list(self, args: JsonObject) -> JsonObject:
        include_users = _truthy(args.get("include_users"))
        groups = []
        for group in self.usergroups.values():
            listed = dict(group)
            if not include_users:
                del listed["users"]
            groups.append(listed)
        return {"usergroups": groups}

    def _usergroup(self, args: JsonObject) -> JsonObject:
        group = self.usergroups.get(str(args.get("usergroup", "")))
        if group is None:
            raise _ApiError("no_such_subteam")
        return group

    def _usergroups_users_list(self, args: JsonObject) -> JsonObject:
        return {"users": list(self._usergroup(args)["users"])}

    def _usergroups_users_update(self, args: JsonObject) -> JsonObject:
        group = self._usergroup(args)
        users = _split_ids(args.get("users"))
        # Slack cannot empty a group this way (that is usergroups.disable) nor add unknown IDs.
        if not users:
            raise _ApiError("no_users_provided")
        if any(user not in self.users for user in users):
            raise _ApiError("invalid_users")
        if any(self.users[user]["is_bot"] for user in users):
            raise _ApiError("invalid_user")
        group["users"] = users
        group["user_count"] = len(users)
        group["date_update"] = int(self.clock())
        group["updated_by"] = self.bot_user_id
        return {"usergroup": group}

    def _apps_connections_open(self, args: JsonObject) -> JsonObject:
        ticket = secrets.token_urlsafe(12)
        self._socket_tickets.add(ticket)
        ws_base = self.base_url.replace("http://", "ws://", 1)
        return {"url": f"{ws_base}/socket?ticket={ticket}"}

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._socket_tickets:
            return web.Response(status=401, text="invalid ticket")
        # A ticket opens one connection, as the URL from apps.connections.open does.
        self._socket_tickets.discard(ticket)
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await self._record("socket_connect", {"ticket": ticket}, 200, {"ok": True})
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "connection_info": {"app_id": self.app_id},
                "debug_info": {"host": "sandbox", "approximate_connection_time": 3600},
            }
        )
        try:
            async for frame in socket:
                if frame.type != web.WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(frame.data)
                except json.JSONDecodeError:
                    continue
                if isinstance(message, dict) and "envelope_id" in message:
                    await self._record("socket_ack", message, 200, {"ok": True})
        finally:
            if socket in self._sockets:
                self._sockets.remove(socket)
        return socket

    async def socket_send(
        self, kind: str, payload: JsonObject, *, accepts_response_payload: bool = False
    ) -> str:
        """Push an envelope (slash_commands, interactive, events_api) to the newest connection."""
        if not self._sockets:
            raise RuntimeError("no Socket Mode client is connected to the sandbox")
        envelope_id = secrets.token_hex(16)
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id

    def slash_command_payload(
        self,
        command: str,
        text: str,
        *,
        user_id: str,
        channel_id: str,
        trigger_id: str | None = None,
    ) -> dict[str, str]:
        """Return the fields Slack sends for a slash command, with a fresh response URL."""
        name = self.users.get(user_id, {}).get("name", user_id)
        channel = self.channels.get(channel_id, {})
        channel_name = (
            "directmessage"
            if channel.get("is_im") or channel_id.startswith("D")
            else str(channel.get("name", channel_id))
        )
        return {
            "token": "sandbox-verification-token",
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": str(name),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self.issue_response_url(channel_id, user_id),
            "trigger_id": trigger_id or self.issue_trigger_id(),
        }

    def _files_get_upload_url_external(self, args: JsonObject) -> JsonObject:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length", 0))
        except (TypeError, ValueError):
            length = 0
        if not filename or length <= 0:
            raise _ApiError("invalid_arguments")
        file_id = self._next_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "content": None,
            "created": int(self.clock()),
            "user": self.bot_user_id,
            "shares": {},
        }
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, args: JsonObject) -> JsonObject:
        listed = args.get("files")
        if isinstance(listed, str):
            try:
                listed = json.loads(listed)
            except json.JSONDecodeError:
                raise _ApiError("invalid_arguments") from None
        if not isinstance(listed, list) or not listed:
            raise _ApiError("invalid_arguments")
        files = []
        for item in listed:
            found = self.files.get(str(item.get("id", ""))) if isinstance(item, dict) else None
            # Slack refuses to complete an upload whose bytes never reached the upload URL.
            if found is None or found["content"] is None:
                raise _ApiError("file_not_found")
            if item.get("title"):
                found["title"] = str(item["title"])
            files.append(found)
        channel_arg = args.get("channel_id") or args.get("channels")
        if channel_arg:
            channel = self._channel_for_post(str(channel_arg).split(",")[0])
            message = self._new_message(
                {"text": args.get("initial_comment") or "", "thread_ts": args.get("thread_ts")}
            )
            message["files"] = [
                {"id": f["id"], "name": f["name"], "title": f["title"]} for f in files
            ]
            message["upload"] = True
            self.messages[channel].append(message)
            for found in files:
                found["shares"].setdefault(channel, []).append(message["ts"])
        return {"files": [{"id": f["id"], "title": f["title"]} for f in files]}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        found = self.files.get(file_id)
        body = await request.read()
        if found is None:
            await self._record("upload_url", {"file_id": file_id}, 404, {"ok": False})
            return web.Response(status=404, text="not_found")
        found["content"] = body
        # The upload URL answers in plain text, not JSON, as Slack's does.
        await self._record(
            "upload_url", {"file_id": file_id, "bytes": len(body)}, 200, {"ok": True}
        )
        return web.Response(text=f"OK - {len(body)}")


def _bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class SlackEventSender:
    """Slack's side of the request URL: post signed commands, actions and events to the bot."""

    def __init__(self, sandbox: SlackSandbox, bot_url: str, *, clock: Clock | None = None) -> None:
        self.sandbox = sandbox
        self.bot_url = bot_url
        self.clock = clock or sandbox.clock
        self._session: ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- payload pieces ------------------------------------------------------------------------

    def _user(self, user_id: str) -> JsonObject:
        name = self.sandbox.users.get(user_id, {}).get("name", user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self.sandbox.team_id}

    def _channel_name(self, channel_id: str) -> str:
        channel = self.sandbox.channels.get(channel_id, {})
        if channel.get("is_im") or channel_id.startswith("D"):
            return "directmessage"
        return str(channel.get("name", channel_id))

    def _team(self) -> JsonObject:
        return {"id": self.sandbox.team_id, "domain": self.sandbox.team_domain}

    def _interaction_base(self, kind: str, user_id: str) -> JsonObject:
        return {
            "type": kind,
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.sandbox.app_id,
            "token": "sandbox-verification-token",
            "trigger_id": self.sandbox.issue_trigger_id(),
            "is_enterprise_install": False,
            "enterprise": None,
        }

    # -- sending ---------------------------------------------------------------------------------

    async def send_slash_command(
        self,
        command: str = "/flywheel",
        text: str = "",
        *,
        user_id: str,
        channel_id: str,
        trigger_id: str | None = None,
        forge: bool = False,
        timestamp: int | None = None,
    ) -> BotReply:
        """Post a slash command as Slack does: a signed form with a response_url and trigger_id."""
        form = self.sandbox.slash_command_payload(
            command, text, user_id=user_id, channel_id=channel_id, trigger_id=trigger_id
        )
        return await self.send_raw(
            urlencode(form).encode(),
            "application/x-www-form-urlencoded",
            forge=forge,
            timestamp=timestamp,
        )

    async def send_block_action(
        self,
        action_id: str,
        value: str | None,
        *,
        user_id: str,
        channel_id: str | None = None,
        message_ts: str | None = None,
        block_id: str | None = None,
        view: Mapping[str, Any] | str | None = None,
        action_type: str = "button",
        forge: bool = False,
        timestamp: int | None = None,
    ) -> BotReply:
        """Post a block action from a message (channel_id) or from a view (a view or view ID)."""
        action: JsonObject = {
            "action_id": action_id,
            "block_id": block_id or f"{action_id}-block",
            "type": action_type,
            "action_ts": f"{self.clock():.6f}",
        }
        if value is not None:
            action["value"] = value
        payload = self._interaction_base("block_actions", user_id)
        payload["actions"] = [action]
        if view is not None:
            found = self.sandbox.find_view(view) if isinstance(view, str) else dict(view)
            if found is None:
                raise KeyError(f"the sandbox holds no view {view!r}")
            # Actions inside a modal or the Home tab carry the view and no response_url.
            payload["container"] = {"type": "view", "view_id": found.get("id", "")}
            payload["view"] = found
        elif channel_id is not None:
            message = self.sandbox.find_message(channel_id, message_ts) if message_ts else None
            ts = message_ts or self.sandbox._next_ts()
            payload["container"] = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                # Slack sends no message body for an action in an ephemeral message.
                "is_ephemeral": message is None,
            }
            payload["channel"] = {"id": channel_id, "name": self._channel_name(channel_id)}
            if message is not None:
                payload["message"] = message
            payload["response_url"] = self.sandbox.issue_response_url(channel_id, user_id, ts)
            payload["state"] = {"values": {}}
        else:
            raise ValueError("a block action comes from a message (channel_id) or a view")
        return await self._send_payload(payload, forge=forge, timestamp=timestamp)

    async def send_view_submission(
        self,
        callback_id: str,
        values: Mapping[str, Mapping[str, str | Mapping[str, Any]]],
        *,
        user_id: str,
        private_metadata: str = "",
        view_id: str | None = None,
        forge: bool = False,
        timestamp: int | None = None,
    ) -> BotReply:
        """Post a modal submission; a str value stands for a plain_text_input's text."""
        state = {
            block_id: {
                action_id: (
                    {"type": "plain_text_input", "value": value}
                    if isinstance(value, str)
                    else dict(value)
                )
                for action_id, value in actions.items()
            }
            for block_id, actions in values.items()
        }
        stored = self.sandbox.find_view(view_id) if view_id else None
        view: JsonObject = dict(stored) if stored else {}
        new_id = view_id or self.sandbox._next_id("V")
        view.setdefault("id", new_id)
        view.setdefault("team_id", self.sandbox.team_id)
        view.setdefault("type", "modal")
        view.setdefault("blocks", [])
        view.setdefault("hash", f"{int(self.clock())}.{secrets.token_hex(4)}")
        view.setdefault("root_view_id", new_id)
        view.setdefault("previous_view_id", None)
        view.setdefault("app_id", self.sandbox.app_id)
        view.setdefault("bot_id", self.sandbox.bot_id)
        view.update(
            {
                "callback_id": callback_id,
                "private_metadata": private_metadata or view.get("private_metadata", ""),
                "state": {"values": state},
            }
        )
        payload = self._interaction_base("view_submission", user_id)
        payload["view"] = view
        payload["response_urls"] = []
        return await self._send_payload(payload, forge=forge, timestamp=timestamp)

    async def send_event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        forge: bool = False,
        timestamp: int | None = None,
    ) -> BotReply:
        """Post an Events API event_callback envelope (a retry carries X-Slack-Retry-Num)."""
        now = self.clock()
        inner = {"event_ts": f"{now:.6f}", **event}
        envelope = {
            "token": "sandbox-verification-token",
            "team_id": self.sandbox.team_id,
            "api_app_id": self.sandbox.app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or self.sandbox._next_id("Ev"),
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.sandbox.team_id,
                    "user_id": self.sandbox.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": secrets.token_hex(8),
        }
        headers = None
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return await self.send_raw(
            json.dumps(envelope).encode(),
            "application/json",
            forge=forge,
            timestamp=timestamp,
            extra_headers=headers,
        )

    async def send_app_home_opened(self, user_id: str, *, tab: str = "home") -> BotReply:
        """Post the app_home_opened event Slack sends when a member opens the app's Home tab."""
        event: JsonObject = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.sandbox.open_dm(user_id),
            "tab": tab,
        }
        home = self.sandbox.home_views.get(user_id)
        if home is not None:
            event["view"] = home
        return await self.send_event(event)

    async def send_url_verification(self, challenge: str | None = None) -> BotReply:
        """Post the url_verification handshake Slack sends when the request URL is set."""
        body = {
            "token": "sandbox-verification-token",
            "challenge": challenge or secrets.token_urlsafe(24),
            "type": "url_verification",
        }
        return await self.send_raw(json.dumps(body).encode(), "application/json")

    async def _send_payload(
        self, payload: JsonObject, *, forge: bool, timestamp: int | None
    ) -> BotReply:
        # Interactivity arrives as a form with one field, payload, holding JSON.
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.send_raw(
            body, "application/x-www-form-urlencoded", forge=forge, timestamp=timestamp
        )

    async def send_raw(
        self,
        body: bytes,
        content_type: str,
        *,
        forge: bool = False,
        timestamp: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> BotReply:
        """Post a body signed as Slack signs it; forge signs with a wrong secret."""
        ts = int(self.clock()) if timestamp is None else timestamp
        secret = self.sandbox.signing_secret
        if forge:
            secret = "forged-" + secret
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign_slack_request(secret, ts, body),
            **(extra_headers or {}),
        }
        if self._session is None:
            # Slack gives up on a request URL after 3 s; the sandbox waits longer for slow CI.
            self._session = ClientSession(timeout=ClientTimeout(total=30))
        started = time.monotonic()
        async with self._session.post(self.bot_url, data=body, headers=headers) as response:
            text = await response.text()
            return BotReply(
                status=response.status,
                body=text,
                headers=dict(response.headers),
                elapsed=time.monotonic() - started,
            )
