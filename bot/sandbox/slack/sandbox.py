"""The Slack sandbox's control API: what tests call to seed, drive and watch a fake workspace."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.sandbox.base import Clock, Injected, Sandbox
from bot.sandbox.slack.methods import METHODS
from bot.sandbox.slack.methods.chat import apply_response
from bot.sandbox.slack.methods.files import add_user_file, receive_upload
from bot.sandbox.slack.sender import SlackEventSender
from bot.sandbox.slack.socket_mode import SocketMode
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import ApiError, JsonObject, bearer_token, json_copy, read_args

CallPredicate = Callable[["RecordedCall"], bool]


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


class SlackSandbox(Sandbox[RecordedCall]):
    """A local Slack workspace and Web API that the real slack-sdk client can talk to."""

    kind = "Slack"

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
        super().__init__(clock=clock)
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.app_token = app_token
        self.state = SlackState(
            team_id=team_id,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            clock=clock,
            base_url=lambda: self.base_url,
        )
        self.socket_mode = SocketMode(self.state, self._record)
        self._senders: list[SlackEventSender] = []
        self.add_user(bot_user_id, "flywheel", real_name="Flywheel", is_bot=True)

    # -- the workspace, as tests read it ------------------------------------------------------

    @property
    def team_id(self) -> str:
        """Return the workspace ID."""
        return self.state.team_id

    @property
    def team_domain(self) -> str:
        """Return the workspace's subdomain."""
        return self.state.team_domain

    @property
    def bot_user_id(self) -> str:
        """Return the bot's user ID."""
        return self.state.bot_user_id

    @property
    def bot_id(self) -> str:
        """Return the bot's bot ID (B…)."""
        return self.state.bot_id

    @property
    def app_id(self) -> str:
        """Return the app's ID."""
        return self.state.app_id

    @property
    def scopes(self) -> str:
        """Return the bot token's scopes, comma-separated, as auth.test reports them."""
        return self.state.scopes

    @scopes.setter
    def scopes(self, scopes: str) -> None:
        self.state.scopes = scopes

    @property
    def trigger_ttl(self) -> float:
        """Return how long a trigger_id can be exchanged, in seconds."""
        return self.state.trigger_ttl

    @trigger_ttl.setter
    def trigger_ttl(self, seconds: float) -> None:
        self.state.trigger_ttl = seconds

    @property
    def users(self) -> dict[str, JsonObject]:
        """Return the members by user ID, as users.info describes them."""
        return self.state.users

    @property
    def channels(self) -> dict[str, JsonObject]:
        """Return the conversations (channels and DMs) by ID."""
        return self.state.channels

    @property
    def messages(self) -> dict[str, list[JsonObject]]:
        """Return the messages per channel, oldest first."""
        return self.state.messages

    @property
    def ephemeral_messages(self) -> list[JsonObject]:
        """Return the ephemeral messages, each with its channel and recipient."""
        return self.state.ephemeral_messages

    @property
    def views(self) -> dict[str, JsonObject]:
        """Return the modals the bot opened, by view ID."""
        return self.state.views

    @property
    def home_views(self) -> dict[str, JsonObject]:
        """Return the Home tabs the bot published, by user ID."""
        return self.state.home_views

    @property
    def usergroups(self) -> dict[str, JsonObject]:
        """Return the user groups by ID."""
        return self.state.usergroups

    @property
    def files(self) -> dict[str, JsonObject]:
        """Return the uploaded files by ID."""
        return self.state.files

    @property
    def response_urls(self) -> dict[str, JsonObject]:
        """Return what each handed-out response URL answers for, by its token."""
        return self.state.response_urls

    # -- lifecycle -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Serve the Web API, response URLs, upload URLs, private file URLs and Socket Mode."""
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/respond/{token}", self._handle_response_url)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{team_file}/{name:.+}", self._handle_file)
        app.router.add_get("/signin", self._handle_signin)
        app.router.add_get("/socket", self.socket_mode.serve)

    async def stop(self) -> None:
        """Close the senders this sandbox made and stop serving."""
        for sender in self._senders:
            await sender.close()
        self._senders.clear()
        await self.socket_mode.close()
        await super().stop()

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
        self.state.users[user_id] = {
            "id": user_id,
            "team_id": self.state.team_id,
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

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        members: Iterable[str] = (),
        bot_is_member: bool = True,
    ) -> None:
        """Add a channel with these members (the bot is one unless bot_is_member is False)."""
        self.state.channels[channel_id] = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "is_archived": False,
            "is_general": False,
            "is_member": bot_is_member,
            "created": int(self.state.clock()),
            "context_team_id": self.state.team_id,
        }
        joined = [self.state.bot_user_id] if bot_is_member else []
        self.state.members[channel_id] = list(dict.fromkeys([*joined, *members]))
        self.state.messages.setdefault(channel_id, [])

    def add_usergroup(
        self,
        usergroup_id: str,
        handle: str,
        name: str | None = None,
        users: list[str] | None = None,
    ) -> None:
        """Add a user group (Slack calls them subteams; their IDs start with S)."""
        now = int(self.state.clock())
        self.state.usergroups[usergroup_id] = {
            "id": usergroup_id,
            "team_id": self.state.team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": name or handle,
            "description": "",
            "handle": handle,
            "is_external": False,
            "date_create": now,
            "date_update": now,
            "date_delete": 0,
            "created_by": self.state.bot_user_id,
            "updated_by": self.state.bot_user_id,
            "users": list(users or []),
            "user_count": len(users or []),
        }

    def add_user_file(
        self,
        user_id: str,
        name: str,
        data: bytes,
        mimetype: str | None = None,
        *,
        filetype: str | None = None,
        size: int | None = None,
        title: str | None = None,
    ) -> JsonObject:
        """Store a file a member uploaded (as into a file_input) and return its file object.

        Put the object (or its ID) in a file_input's value for ``send_view_submission``. The
        mimetype is kept as declared, ``size`` may claim another size than the bytes have, and
        ``filetype`` defaults to the name's extension. The bytes are at ``url_private`` for a
        request bearing the bot token; without it Slack redirects to its sign-in page.
        """
        return add_user_file(
            self.state, user_id, name, data, mimetype, filetype=filetype, size=size, title=title
        )

    def add_user_message(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        bot_id: str | None = None,
    ) -> JsonObject:
        """Store a message a member (or, with ``bot_id``, another app) posted; return it.

        With ``thread_ts`` it is a reply in that message's thread, and the parent gains
        Slack's thread fields (``thread_ts``, ``reply_count``, ``reply_users``,
        ``latest_reply``), as ``conversations.history`` and ``.replies`` show them. Nothing
        is sent to the bot: post the ``message`` event with the sender if it should see one.
        """
        if channel_id not in self.state.channels:
            raise KeyError(f"the sandbox holds no channel {channel_id!r}: add_channel() first")
        if user_id not in self.state.users:
            raise KeyError(f"the sandbox holds no user {user_id!r}: add_user() first")
        message: JsonObject = {
            "type": "message",
            "user": user_id,
            "text": text,
            "ts": self.state.next_ts(),
            "team": self.state.team_id,
        }
        if bot_id is not None:
            message |= {"subtype": "bot_message", "bot_id": bot_id}
        if thread_ts is not None:
            parent = self.state.find_message(channel_id, thread_ts)
            if parent is None:
                raise KeyError(f"no message {thread_ts!r} in {channel_id!r} to reply to")
            users = parent.setdefault("reply_users", [])
            if user_id not in users:
                users.append(user_id)
            parent |= {
                "thread_ts": parent["ts"],
                "reply_count": int(parent.get("reply_count", 0)) + 1,
                "reply_users_count": len(users),
                "latest_reply": message["ts"],
            }
            message |= {"thread_ts": parent["ts"], "parent_user_id": parent.get("user")}
        self.state.messages.setdefault(channel_id, []).append(message)
        copied: JsonObject = json_copy(message)
        return copied

    def delete_user_message(self, channel_id: str, ts: str) -> None:
        """Delete a member's message as Slack does: gone, or, when it has replies, a tombstone
        in its place (subtype ``tombstone``, by ``USLACKBOT``) that keeps the thread together."""
        message = self.state.find_message(channel_id, ts)
        if message is None:
            raise KeyError(f"no message {ts!r} in {channel_id!r} to delete")
        if not message.get("reply_count"):
            self.state.messages[channel_id].remove(message)
            return
        kept = {k: message[k] for k in ("ts", "thread_ts", "reply_count", "latest_reply")}
        message.clear()
        message |= {
            "type": "message",
            "subtype": "tombstone",
            "user": "USLACKBOT",
            "text": "This message was deleted.",
            "hidden": True,
            **kept,
        }

    def close_dms(self, user_id: str) -> None:
        """Deactivate a member, so the bot can no longer DM them (see the package notes)."""
        self.state.close_dms(user_id)

    def dm_channel_id(self, user_id: str) -> str:
        """Return the ID of the bot's DM with a member (the sandbox derives it from the user ID)."""
        return self.state.dm_channel_id(user_id)

    def open_dm(self, user_id: str) -> str:
        """Open (or reuse) the bot's DM with a member and return its channel ID."""
        return self.state.open_dm(user_id)

    # -- fault injection -------------------------------------------------------------------

    def rate_limit_next(self, method: str, retry_after: int = 1, count: int = 1) -> None:
        """Answer the next `count` calls to `method` with HTTP 429 and Retry-After seconds."""
        answer = Injected(429, {"ok": False, "error": "ratelimited"}, retry_after)
        self.inject(_method_matcher(method), answer, count)

    def fail_next(self, method: str, error: str = "internal_error", count: int = 1) -> None:
        """Answer the next `count` calls to `method` with ``{"ok": false, "error": error}``."""
        self.inject(_method_matcher(method), Injected(200, {"ok": False, "error": error}), count)

    def fail_uploads(self, status: int = 500, count: int = 1) -> None:
        """Answer the next `count` posts of file bytes to an upload URL with HTTP ``status``."""
        self.inject(_method_matcher("upload_url"), Injected(status, {"ok": False}), count)

    # -- reading state ---------------------------------------------------------------------

    def file_content(self, file_id: str) -> bytes:
        """Return the bytes uploaded for a file."""
        content = self.state.files[file_id]["content"]
        if not isinstance(content, bytes):
            raise KeyError(f"file {file_id} was never uploaded")
        return content

    def messages_in(self, channel_id: str) -> list[JsonObject]:
        """Return the messages posted in a channel, oldest first, thread replies included."""
        return list(self.state.messages.get(channel_id, []))

    def members_of(self, channel_id: str) -> list[str]:
        """Return the user IDs in a channel (the bot's included, when it is a member)."""
        return list(self.state.members.get(channel_id, []))

    def find_message(self, channel: str, ts: Any) -> JsonObject | None:
        """Return the message with timestamp `ts` in a channel, if any."""
        return self.state.find_message(channel, ts)

    def find_view(self, view_id: str) -> JsonObject | None:
        """Return a modal or Home tab view the bot opened or published, by view ID."""
        return self.state.find_view(view_id)

    # -- recording -------------------------------------------------------------------------

    def describe(self, call: RecordedCall) -> str:
        """Return a call as a timeout message lists it."""
        return call.method

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
        return await super().wait_for_call(matches, timeout, since=since)

    async def _record(
        self, method: str, args: JsonObject, status: int, response: JsonObject
    ) -> None:
        call = RecordedCall(
            method=method,
            args=json_copy(args),
            at=self.now(),
            status=status,
            response=json_copy(response),
        )
        await self.record(call)

    # -- handed-out identifiers --------------------------------------------------------------

    def issue_trigger_id(self) -> str:
        """Hand out a trigger_id that views.open or views.push can exchange once, within 3 s."""
        return self.state.issue_trigger_id()

    def issue_response_url(
        self, channel_id: str | None, user_id: str, message_ts: str | None = None
    ) -> str:
        """Hand out a response URL that posts back into a channel for a user."""
        return self.state.issue_response_url(channel_id, user_id, message_ts)

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
        name = self.state.users.get(user_id, {}).get("name", user_id)
        channel = self.state.channels.get(channel_id, {})
        channel_name = (
            "directmessage"
            if channel.get("is_im") or channel_id.startswith("D")
            else str(channel.get("name", channel_id))
        )
        return {
            "token": "sandbox-verification-token",
            "team_id": self.state.team_id,
            "team_domain": self.state.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": str(name),
            "command": command,
            "text": text,
            "api_app_id": self.state.app_id,
            "is_enterprise_install": "false",
            "response_url": self.state.issue_response_url(channel_id, user_id),
            "trigger_id": trigger_id or self.state.issue_trigger_id(),
        }

    # -- HTTP handlers -----------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args = await read_args(request)
        except ApiError as error:
            args, body = {}, {"ok": False, "error": error.error}
            await self._record(method, args, 200, body)
            return web.json_response(body)
        token = args.pop("token", None)
        # Rate limits come before any other fault, whichever was injected first.
        injected = self.take_injection(request.method, method, only=(429,))
        if injected is not None:
            await self._record(method, args, 429, injected.body)
            retry_after = str(injected.retry_after)
            return web.json_response(
                injected.body, status=429, headers={"Retry-After": retry_after}
            )
        injected = self.take_injection(request.method, method)
        if injected is not None:
            body = injected.body
        else:
            body = self._dispatch(method, args, bearer_token(request) or token)
        await self._record(method, args, 200, body)
        headers = {"x-oauth-scopes": self.state.scopes} if method == "auth.test" else None
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
            return {"ok": True, **self.socket_mode.connections_open(args)}
        if token != self.bot_token:
            return {"ok": False, "error": "invalid_auth"}
        handler = METHODS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            return {"ok": True, **handler(self.state, args)}
        except ApiError as error:
            return {"ok": False, "error": error.error, **error.detail}

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        origin = self.state.response_urls.get(request.match_info["token"])
        try:
            args = await read_args(request)
        except ApiError:
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
            apply_response(self.state, origin, args)
        except ApiError as error:
            body = {"ok": False, "error": error.error}
        else:
            body = {"ok": True}
        await self._record("response_url", args, 200, body)
        return web.json_response(body)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        body = await request.read()
        injected = self.take_injection(request.method, "upload_url")
        if injected is not None:  # files.slack.com failing: plain text, as Slack's host answers
            await self._record("upload_url", {"file_id": file_id}, injected.status, injected.body)
            return web.Response(status=injected.status, text="upload failed")
        if not receive_upload(self.state, file_id, body):
            await self._record("upload_url", {"file_id": file_id}, 404, {"ok": False})
            return web.Response(status=404, text="not_found")
        # The upload URL answers in plain text, not JSON, as Slack's does.
        await self._record(
            "upload_url", {"file_id": file_id, "bytes": len(body)}, 200, {"ok": True}
        )
        return web.Response(text=f"OK - {len(body)}")

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        team, _, file_id = request.match_info["team_file"].partition("-")
        found = self.state.files.get(file_id) if team == self.state.team_id else None
        authorized = bearer_token(request) == self.bot_token
        args = {"file_id": file_id, "authorized": authorized}
        if found is None or found["content"] is None:
            await self._record("file_download", args, 404, {"ok": False})
            return web.Response(status=404, text="file_not_found")
        if not authorized:
            # As Slack does: no token, no file; the browser's way in is the sign-in page.
            await self._record("file_download", args, 302, {"ok": False})
            raise web.HTTPFound(f"/signin?redir={quote(request.path_qs, safe='')}")
        await self._record("file_download", args, 200, {"ok": True})
        headers = {"Content-Type": str(found.get("mimetype") or "application/octet-stream")}
        if request.match_info["name"].startswith("download/"):
            headers["Content-Disposition"] = "attachment"
        return web.Response(body=found["content"], headers=headers)

    async def _handle_signin(self, request: web.Request) -> web.Response:
        page = (
            "<!DOCTYPE html><html><head><title>Sign in | Slack</title></head><body></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def socket_send(
        self, kind: str, payload: JsonObject, *, accepts_response_payload: bool = False
    ) -> str:
        """Push an envelope (slash_commands, interactive, events_api) to the newest connection."""
        return await self.socket_mode.send(
            kind, payload, accepts_response_payload=accepts_response_payload
        )


def _method_is(method: str) -> CallPredicate:
    def matches(call: RecordedCall) -> bool:
        return call.method == method

    return matches


def _method_matcher(method: str) -> Callable[[str, str], bool]:
    def matches(verb: str, target: str) -> bool:
        return target == method

    return matches
