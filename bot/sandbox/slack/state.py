"""The Slack sandbox's workspace: users, channels and their members, messages, views, files."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from typing import Any

from bot.sandbox.slack.wire import (
    DEFAULT_SCOPES,
    IMAGE_SIGNATURES,
    MAX_VIEW_BLOCKS,
    TRIGGER_TTL_SECONDS,
    ApiError,
    JsonObject,
    check_blocks,
    check_view,
    slack_files_in,
)


class SlackState:
    """Everything the fake Slack knows; the Web API methods and the control API share it."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        clock: Callable[[], float],
        base_url: Callable[[], str],
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.clock = clock
        self.base_url = base_url
        self.scopes = DEFAULT_SCOPES
        # User groups exist on paid plans only; False makes usergroups.* answer paid_teams_only.
        self.paid_plan = True
        self.trigger_ttl = TRIGGER_TTL_SECONDS

        self.users: dict[str, JsonObject] = {}
        self.channels: dict[str, JsonObject] = {}
        # Who is in each (non-DM) channel, in the order they joined; the bot included.
        self.members: dict[str, list[str]] = {}
        self.messages: dict[str, list[JsonObject]] = {}
        self.ephemeral_messages: list[JsonObject] = []
        self.views: dict[str, JsonObject] = {}
        self.home_views: dict[str, JsonObject] = {}
        self.usergroups: dict[str, JsonObject] = {}
        # Files uploaded through files.getUploadURLExternal → upload URL → completeUploadExternal;
        # "content" holds the uploaded bytes once the upload URL received them.
        self.files: dict[str, JsonObject] = {}
        # Slack processes an uploaded file (a malware scan) after completeUploadExternal; until
        # then an image block naming it is invalid_blocks. True keeps the bot's uploads there.
        self.processing_uploads = False
        # What each handed-out response URL answers for: channel, user and, for actions, message.
        self.response_urls: dict[str, JsonObject] = {}
        self.triggers: dict[str, float] = {}
        self.exchanged_triggers: set[str] = set()
        self.disabled_users: set[str] = set()
        self.ids = itertools.count(1)
        self.last_ts = 0.0

    # -- handed-out identifiers --------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        """Return a fresh ID with a type prefix (V for views, F for files...)."""
        return f"{prefix}{next(self.ids):08X}"

    def next_ts(self) -> str:
        """Return a fresh message timestamp."""
        # Message timestamps are IDs on Slack: unique and increasing within a channel.
        self.last_ts = max(self.clock(), self.last_ts + 0.000001)
        return f"{self.last_ts:.6f}"

    def issue_trigger_id(self) -> str:
        """Hand out a trigger_id that views.open or views.push can exchange once, within 3 s."""
        trigger_id = f"{int(self.clock())}.{next(self.ids)}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = time.monotonic()
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
        return f"{self.base_url()}/respond/{token}"

    def check_slack_files(self, blocks: Any) -> None:
        """Refuse image blocks naming a Slack file that is unknown, not uploaded, or no image.

        The file is named by id or by its ``url_private``; the bot posts only what it can
        see (its own uploads, or members' files).
        """
        for named in slack_files_in(blocks):
            file_id = str(named.get("id") or "")
            if not file_id:
                url = str(named.get("url") or "")
                file_id = next((f for f in self.files if f"-{f}/" in url), "")
            found = self.files.get(file_id)
            content = found.get("content") if found else None
            if not isinstance(content, bytes) or not content.startswith(IMAGE_SIGNATURES):
                raise ApiError("invalid_blocks")
            if found is not None and found.get("processing"):
                raise ApiError("invalid_blocks")

    def message_content(self, args: JsonObject) -> JsonObject:
        """Return the content fields of a message from a request's arguments."""
        self.check_slack_files(args.get("blocks"))
        content: JsonObject = {"text": str(args.get("text", ""))}
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                content[key] = args[key]
        return content

    def new_message(self, args: JsonObject) -> JsonObject:
        """Return a new message from the bot, not yet stored."""
        message: JsonObject = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": self.next_ts(),
            **self.message_content(args),
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
                "is_archived": user_id in self.disabled_users,
                "is_org_shared": False,
                "user": user_id,
                "created": int(self.clock()),
                "context_team_id": self.team_id,
            }
            self.messages.setdefault(channel_id, [])
        return channel_id

    def channel_for_post(self, requested: Any) -> str:
        """Return the channel a post goes to (an ID, a name, or a user ID meaning the DM)."""

        if not requested:
            raise ApiError("channel_not_found")
        channel = str(requested)
        if channel in self.users:
            if channel in self.disabled_users:
                raise ApiError("is_archived")
            channel = self.open_dm(channel)
        elif channel not in self.channels:
            by_name = [
                cid
                for cid, info in self.channels.items()
                if info.get("name") == channel.lstrip("#")
            ]
            if not by_name:
                raise ApiError("channel_not_found")
            channel = by_name[0]
        if self.channels[channel].get("is_archived"):
            raise ApiError("is_archived")
        return channel

    def message_for_change(self, args: JsonObject) -> tuple[str, JsonObject]:
        """Return the channel and message an update, delete or reaction names."""
        channel = str(args.get("channel", ""))
        if channel not in self.channels:
            raise ApiError("channel_not_found")
        message = self.find_message(channel, args.get("ts") or args.get("timestamp"))
        if message is None:
            raise ApiError("message_not_found")
        return channel, message

    def exchange_trigger(self, trigger_id: Any) -> None:
        """Use up a trigger_id, as views.open and views.push do."""
        if not trigger_id:
            raise ApiError("invalid_arguments")
        issued = self.triggers.get(str(trigger_id))
        if issued is None:
            raise ApiError("invalid_trigger_id")
        if trigger_id in self.exchanged_triggers:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - issued > self.trigger_ttl:
            raise ApiError("expired_trigger_id")
        self.exchanged_triggers.add(str(trigger_id))

    def build_view(self, view: Any, *, view_id: str | None = None) -> JsonObject:
        """Return a view as Slack stores it, from the view a request sent."""
        if not isinstance(view, dict) or view.get("type") not in {"modal", "home"}:
            raise ApiError("invalid_arguments")
        check_blocks(view.get("blocks", []), MAX_VIEW_BLOCKS)
        check_view(view)
        self.check_slack_files(view.get("blocks"))
        view_id = view_id or self.next_id("V")
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

    def close_dms(self, user_id: str) -> None:
        """Deactivate a member, so the bot can no longer DM them (see the module notes)."""
        user = self.users[user_id]
        user["deleted"] = True
        self.disabled_users.add(user_id)
        dm = self.channels.get(self.dm_channel_id(user_id))
        if dm is not None:
            dm["is_archived"] = True

    def dm_channel_id(self, user_id: str) -> str:
        """Return the ID of the bot's DM with a member (the sandbox derives it from the user ID)."""
        return f"D{user_id}"

    def require_scope(self, needed: str) -> None:
        """Refuse a call whose token lacks ``needed``, naming it as Slack does."""
        if needed not in self.scopes.split(","):
            raise ApiError("missing_scope", needed=needed, provided=self.scopes)

    def set_bot_membership(self, channel_id: str, *, member: bool) -> None:
        """Put the bot in a channel or take it out (a member removing the app, say)."""
        members = self.members.setdefault(channel_id, [])
        if member and self.bot_user_id not in members:
            members.insert(0, self.bot_user_id)
        if not member and self.bot_user_id in members:
            members.remove(self.bot_user_id)
        self.channels[channel_id]["is_member"] = member

    def require_history_scope(self, channel: str) -> None:
        """Refuse a read of a conversation without its history scope."""
        # Reading a conversation needs the history scope of its kind; Slack says which.
        info = self.channels[channel]
        kind = "im" if info.get("is_im") else "groups" if info.get("is_private") else "channels"
        self.require_scope(f"{kind}:history")
