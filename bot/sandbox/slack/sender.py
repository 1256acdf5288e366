"""Slack's side of the request URL: slash commands, interactivity and events, signed as Slack signs them."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode

from aiohttp import ClientSession, ClientTimeout, TCPConnector

from bot.sandbox.base import Clock
from bot.sandbox.slack.methods.files import public_file
from bot.sandbox.slack.wire import JsonObject, sign_slack_request

if TYPE_CHECKING:
    from bot.sandbox.slack.sandbox import SlackSandbox

# One input's submitted value: Slack's own state entry, a text or chosen option's value, or a
# file_input's files (file objects or IDs).
SubmittedValue = str | Mapping[str, Any] | Sequence[str | Mapping[str, Any]]


def _elements(view: JsonObject | None) -> dict[tuple[str, str], JsonObject]:
    """Return a view's input elements by (block_id, action_id)."""
    found: dict[tuple[str, str], JsonObject] = {}
    for block in (view or {}).get("blocks") or []:
        element = block.get("element") if isinstance(block, dict) else None
        if block.get("type") == "input" and isinstance(element, dict):
            found[(str(block.get("block_id")), str(element.get("action_id")))] = element
    return found


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
            ts = message_ts or self.sandbox.state.next_ts()
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

    async def send_message_action(
        self,
        callback_id: str,
        *,
        user_id: str,
        channel_id: str,
        message_ts: str,
        forge: bool = False,
        timestamp: int | None = None,
    ) -> BotReply:
        """Post a message shortcut (the message's ⋯ menu) run by ``user_id`` on a stored message.

        Slack's ``message_action`` payload: the shortcut's ``callback_id``, the message as
        the channel shows it, the channel, a ``trigger_id`` and a ``response_url``.
        """
        message = self.sandbox.find_message(channel_id, message_ts)
        if message is None:
            raise KeyError(f"no message {message_ts!r} in {channel_id!r}: add_user_message()")
        payload = self._interaction_base("message_action", user_id)
        payload |= {
            "callback_id": callback_id,
            "action_ts": f"{self.clock():.6f}",
            "message_ts": message_ts,
            "message": message,
            "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            "response_url": self.sandbox.issue_response_url(channel_id, user_id),
        }
        return await self._send_payload(payload, forge=forge, timestamp=timestamp)

    async def send_view_submission(
        self,
        callback_id: str,
        values: Mapping[str, Mapping[str, SubmittedValue]],
        *,
        user_id: str,
        private_metadata: str = "",
        view_id: str | None = None,
        forge: bool = False,
        timestamp: int | None = None,
    ) -> BotReply:
        """Post a modal submission: ``values[block_id][action_id]`` is what the member entered.

        A mapping is sent as it is (``{"type": ..., ...}``, Slack's own state shape). A str is
        a plain_text_input's text, or the chosen option's value of a radio_buttons or
        static_select when the view (``view_id``) declares one there. A list is a file_input's
        files: file objects (``add_user_file``) or their IDs.
        """
        stored = self.sandbox.find_view(view_id) if view_id else None
        elements = _elements(stored)
        state = {
            block_id: {
                action_id: self._state_value(value, elements.get((block_id, action_id)))
                for action_id, value in actions.items()
            }
            for block_id, actions in values.items()
        }
        view: JsonObject = dict(stored) if stored else {}
        new_id = view_id or self.sandbox.state.next_id("V")
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

    def _state_value(self, value: SubmittedValue, element: JsonObject | None) -> JsonObject:
        """Return one input's entry in view.state.values, in the shape Slack sends."""
        if isinstance(value, Mapping):
            return dict(value)
        declared = element or {}
        kind = declared.get("type")
        if isinstance(value, str):
            if kind in ("radio_buttons", "static_select"):
                groups = declared.get("option_groups") or []
                options = [o for g in groups for o in g["options"]]
                options += declared.get("options") or []
                chosen = next((o for o in options if o.get("value") == value), None)
                if chosen is None:
                    listed = [o.get("value") for o in options]
                    raise ValueError(f"the {kind} lists {listed}, not {value!r}")
                return {"type": kind, "selected_option": dict(chosen)}
            return {"type": "plain_text_input", "value": value}
        files = []
        for item in value:
            if isinstance(item, Mapping):
                files.append(dict(item))
                continue
            found = self.sandbox.files.get(item)
            if found is None:
                raise ValueError(f"unknown file {item!r}: seed it with add_user_file()")
            files.append(public_file(self.sandbox.state, found))
        return {"type": "file_input", "files": files}

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
            "event_id": event_id or self.sandbox.state.next_id("Ev"),
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

    async def send_user_message(
        self, user_id: str, channel_id: str, text: str, *, thread_ts: str | None = None
    ) -> str:
        """Post a member's message (kept in the channel, as Slack keeps it), send its event.

        A reply in a thread carries ``thread_ts`` and ``parent_user_id`` as Slack's do.
        Returns the message's ``ts``.
        """
        state = self.sandbox.state
        if user_id not in state.users:
            raise ValueError(f"unknown user {user_id!r}: add it with add_user()")
        channel = state.channels.get(channel_id)
        if channel is None:
            raise ValueError(f"unknown channel {channel_id!r}: add it with add_channel()")
        message: JsonObject = {
            "type": "message",
            "user": user_id,
            "text": text,
            "ts": state.next_ts(),
            "team": state.team_id,
            "client_msg_id": secrets.token_hex(16),
        }
        if thread_ts is not None:
            parent = state.find_message(channel_id, thread_ts)
            if parent is None:
                raise ValueError(f"no message {thread_ts} in {channel_id} to reply to")
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = parent.get("user")
        state.messages.setdefault(channel_id, []).append(message)
        kind = "group" if channel.get("is_private") else "channel"
        await self.send_event({**message, "channel": channel_id, "channel_type": kind})
        return str(message["ts"])

    async def send_reaction_added(
        self, user_id: str, channel_id: str, ts: str, reaction: str
    ) -> BotReply | None:
        """Add a member's reaction to a message and send ``reaction_added`` as Slack does.

        The event names the message's author in ``item_user``; a second identical reaction
        sends nothing and returns None (Slack keeps one per member and emoji).
        """
        state = self.sandbox.state
        if user_id not in state.users:
            raise ValueError(f"unknown user {user_id!r}: add it with add_user()")
        message = state.find_message(channel_id, ts)
        if message is None:
            raise ValueError(f"no message {ts} in {channel_id} to react to")
        reactions: list[JsonObject] = message.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == reaction), None)
        if entry is None:
            entry = {"name": reaction, "users": [], "count": 0}
            reactions.append(entry)
        if user_id in entry["users"]:
            return None
        entry["users"].append(user_id)
        entry["count"] += 1
        event: JsonObject = {
            "type": "reaction_added",
            "user": user_id,
            "reaction": reaction,
            "item": {"type": "message", "channel": channel_id, "ts": ts},
        }
        if message.get("user"):
            event["item_user"] = message["user"]
        return await self.send_event(event)

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
            # Slack opens as many connections as it has requests: no client-side queue.
            self._session = ClientSession(
                timeout=ClientTimeout(total=30), connector=TCPConnector(limit=0)
            )
        started = time.monotonic()
        async with self._session.post(self.bot_url, data=body, headers=headers) as response:
            text = await response.text()
            return BotReply(
                status=response.status,
                body=text,
                headers=dict(response.headers),
                elapsed=time.monotonic() - started,
            )
