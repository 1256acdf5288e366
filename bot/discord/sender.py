"""Delivers outbox effects to Discord over its REST API, paced to Discord's limits.

Targets: ``channel:<id>`` (a post; a reply goes into the thread of the earlier post, or
answers it when it opened none), ``user:<id>`` (a DM), ``subject:…`` (an edit of the post
the registry found), ``member:<guild>:<user>`` (a role change: the access key's role from
``[discord.access]``). Messages are rendered by :mod:`bot.discord.render`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from bot.discord.access_errors import (
    MISSING_PERMISSIONS,
    UNKNOWN_MEMBER,
    UNKNOWN_ROLE,
    diagnose,
    unset_access,
)
from bot.discord.render import message_body
from bot.messages import DirectMessage, Edit, Post, RoleChange
from bot.outbox import (
    Blocked,
    Effect,
    PermanentFailure,
    Posted,
    RateLimit,
    RateLimiter,
    RetryLater,
)

log = logging.getLogger(__name__)

DISCORD_API = "https://discord.com/api/v10"
GLOBAL_LIMIT = RateLimit(50, 1.0)  # Discord: 50 requests per second per bot
CHANNEL_LIMIT = RateLimit(5, 5.0)  # Discord: about 5 messages per 5 seconds per channel
GLOBAL_BUCKET = "discord:global"
THREAD_ALREADY_EXISTS = 160004

# Discord's JSON error codes that no retry can fix, with what an owner should read.
PERMANENT_CODES = {
    10003: "the channel no longer exists",
    10004: "the server no longer exists",
    10007: "the member has left the server",
    10008: "the message no longer exists",
    10011: "the role no longer exists",
    10013: "the user does not exist",
    50001: "the bot cannot see that channel (missing access)",
    50007: "the member does not accept direct messages from this server",
    50013: "the bot is missing a permission there",
    50035: "Discord rejected the message as invalid",
}


class Refused(PermanentFailure):
    """Discord refused a request with an error code (``code``) and HTTP ``status``."""

    def __init__(self, reason: str, *, code: int, status: int) -> None:
        super().__init__(reason)
        self.code = code
        self.status = status


def nonce_for(key: str) -> str:
    """Derive the message nonce (at most 25 characters) from the outbox key."""
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32encode(digest).decode()[:25].lower()


class DiscordSender:
    """The outbox's Discord platform."""

    platform = "discord"

    def __init__(
        self,
        token: str,
        *,
        api_base: str = DISCORD_API,
        limiter: RateLimiter | None = None,
        access: Mapping[str, int] | None = None,
    ) -> None:
        self._token = token
        self._access = dict(access or {})
        self._api = api_base.rstrip("/")
        self._limiter = limiter
        self._session: aiohttp.ClientSession | None = None
        self._dm_channels: dict[str, str] = {}

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def limits(self, effect: Effect) -> Sequence[tuple[str, RateLimit]]:
        """Count every effect globally, and posts per channel."""
        buckets = [(GLOBAL_BUCKET, GLOBAL_LIMIT)]
        if effect.action == "dm":
            user = effect.target.removeprefix("user:")
            if user not in self._dm_channels:
                # Opening the DM channel is a second request against the global limit.
                buckets.append(("discord:dm-open", RateLimit(GLOBAL_LIMIT.count // 2, 1.0)))
        channel = self._channel_of(effect)
        if channel:
            buckets.append((f"discord:channel:{channel}", CHANNEL_LIMIT))
        return buckets

    def _channel_of(self, effect: Effect) -> str | None:
        kind, _, rest = effect.target.partition(":")
        if effect.original is not None:
            return effect.original.channel_id
        if effect.thread is not None:
            return effect.thread.thread_id or effect.thread.channel_id
        if kind == "channel":
            return rest
        if kind == "user":
            return self._dm_channels.get(rest)
        return None

    async def send(self, effect: Effect) -> Posted | None:
        """Perform the effect; return where the message is (None for a role change)."""
        kind, _, rest = effect.target.partition(":")
        message = effect.message
        if isinstance(message, Post) and kind == "channel":
            return await self._post_in_channel(rest, message, effect)
        if isinstance(message, DirectMessage) and kind == "user":
            channel = await self._dm_channel(rest)
            return await self._post(channel, effect, message_body(message.body, message.buttons))
        if isinstance(message, Edit) and effect.original is not None:
            original = effect.original
            body = message_body(message.body, message.buttons, edit=True)
            await self._request(
                "PATCH",
                f"/channels/{original.channel_id}/messages/{original.message_id}",
                original.channel_id,
                json_body=body,
            )
            return Posted(original.channel_id, original.message_id, original.thread_id)
        if isinstance(message, RoleChange) and kind == "member":
            await self._change_role(rest, message)
            return None
        raise PermanentFailure(
            f"Flywheel cannot deliver a {effect.action!r} to the Discord target {effect.target!r}"
        )

    async def _post_in_channel(self, channel: str, message: Post, effect: Effect) -> Posted:
        body = message_body(message.body, message.buttons)
        earlier = effect.thread
        if earlier is not None and earlier.thread_id:
            # The earlier post opened a thread: the reply goes in it.
            return await self._post(earlier.thread_id, effect, body)
        if earlier is not None:
            body["message_reference"] = {
                "message_id": earlier.message_id,
                "fail_if_not_exists": False,
            }
            channel = earlier.channel_id
        delivered = await self._post(channel, effect, body)
        if message.thread is not None:
            try:
                await self._start_thread(channel, delivered.message_id, message.thread.name)
            except PermanentFailure as exc:
                # The message is out and its button works: record it, without a thread.
                log.warning("outbox %s: posted, but no thread: %s", effect.key, exc.reason)
                return delivered
            # A thread started from a message has the message's id.
            return Posted(channel, delivered.message_id, delivered.message_id)
        return delivered

    async def _change_role(self, address: str, message: RoleChange) -> None:
        guild, _, user = address.partition(":")
        role = self._access.get(message.access)
        if role is None:
            raise Blocked(unset_access(message.access))
        try:
            await self._request(
                "PUT" if message.grant else "DELETE",
                f"/guilds/{guild}/members/{user}/roles/{role}",
                None,
                headers={"X-Audit-Log-Reason": message.reason[:512]},
            )
        except Refused as exc:
            if exc.code == UNKNOWN_MEMBER and not message.grant:
                return  # they left the server, and their roles went with them
            if exc.code not in (UNKNOWN_ROLE, MISSING_PERMISSIONS):
                raise
            try:
                reason = await diagnose(self, guild, role, message.access)
            except PermanentFailure as unseen:
                log.warning("cannot tell why Discord refused a role change: %s", unseen.reason)
                reason = exc.reason
            raise Blocked(reason) from exc

    async def _dm_channel(self, user_id: str) -> str:
        cached = self._dm_channels.get(user_id)
        if cached:
            return cached
        if self._limiter is not None:
            # The dispatcher reserved one global slot for this effect, but opening the DM
            # channel is a second request: take a slot for it too, or wait (the first slot
            # stays spent, which errs on the safe side of Discord's 50 per second).
            wait = self._limiter.reserve([(GLOBAL_BUCKET, GLOBAL_LIMIT)])
            if wait > 0:
                raise RetryLater(wait)
        answer = await self._request(
            "POST", "/users/@me/channels", None, json_body={"recipient_id": user_id}
        )
        channel = str(answer["id"])
        self._dm_channels[user_id] = channel
        return channel

    async def _post(self, channel: str, effect: Effect, body: dict[str, Any]) -> Posted:
        # Discord refuses a second message with the same nonce in the same channel for a few
        # minutes: this closes the gap between "sent" and "marked sent" when a dispatcher
        # dies right after sending and the row is taken up again.
        body = {**body, "nonce": nonce_for(effect.key), "enforce_nonce": True}
        files = effect.message.files if isinstance(effect.message, DirectMessage) else ()
        if files:
            form = aiohttp.FormData()
            body["attachments"] = [
                {"id": index, "filename": file.name} for index, file in enumerate(files)
            ]
            form.add_field("payload_json", json.dumps(body), content_type="application/json")
            for index, file in enumerate(files):
                form.add_field(
                    f"files[{index}]",
                    file.content.encode(),
                    filename=file.name,
                    content_type=file.content_type,
                )
            answer = await self._request(
                "POST", f"/channels/{channel}/messages", channel, data=form
            )
        else:
            answer = await self._request(
                "POST", f"/channels/{channel}/messages", channel, json_body=body
            )
        return Posted(channel, str(answer["id"]))

    async def _start_thread(self, channel: str, message_id: str, name: str) -> None:
        # A retried effect finds its message again through the nonce; its thread may exist.
        try:
            await self._request(
                "POST",
                f"/channels/{channel}/messages/{message_id}/threads",
                channel,
                json_body={"name": name[:100], "auto_archive_duration": 1440},
            )
        except PermanentFailure as exc:
            if f"code {THREAD_ALREADY_EXISTS}" not in exc.reason:
                raise

    async def _request(
        self,
        method: str,
        path: str,
        channel: str | None,
        *,
        json_body: dict[str, Any] | None = None,
        data: aiohttp.FormData | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        all_headers = {
            "Authorization": f"Bot {self._token}",
            "User-Agent": "DiscordBot (flywheel, 0.1)",
        }
        all_headers.update(headers or {})
        async with self._session.request(
            method, f"{self._api}{path}", json=json_body, data=data, headers=all_headers
        ) as response:
            text = await response.text()
            answer: Any = json.loads(text) if text else {}
            bucket = f"discord:channel:{channel}" if channel else GLOBAL_BUCKET
            if response.status == 429:
                retry_after = float(
                    answer.get("retry_after") or response.headers.get("Retry-After") or 1.0
                )
                scope_global = (
                    bool(answer.get("global"))
                    or response.headers.get("X-RateLimit-Global") == "true"
                )
                raise RetryLater(retry_after, bucket=GLOBAL_BUCKET if scope_global else bucket)
            self._note_headers(response.headers, bucket)
            if response.status >= 500:
                raise ConnectionError(f"Discord answered {response.status} on {method} {path}")
            if response.status == 401:
                raise PermanentFailure("Discord rejected the bot token (401); check DISCORD_TOKEN")
            if response.status >= 400:
                code = int(answer.get("code", 0)) if isinstance(answer, dict) else 0
                what = PERMANENT_CODES.get(code, str(answer.get("message", "request refused")))
                raise Refused(
                    f"Discord refused {method} {path}: {what} (code {code}, HTTP {response.status})",
                    code=code,
                    status=response.status,
                )
            return answer

    async def get(self, path: str) -> Any:
        """Return Discord's JSON answer to a GET (a list or an object)."""
        return await self._request("GET", path, None)

    def _note_headers(self, headers: Any, bucket: str) -> None:
        # Honour Discord's own accounting too: when a bucket is spent, wait out its reset.
        if self._limiter is None or headers.get("X-RateLimit-Remaining") != "0":
            return
        reset_after = headers.get("X-RateLimit-Reset-After")
        if reset_after:
            self._limiter.block(bucket, float(reset_after))
