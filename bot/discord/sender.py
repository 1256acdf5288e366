"""Delivers outbox effects to Discord over its REST API, paced to Discord's limits.

Targets: ``channel:<id>`` and ``thread:<id>`` (post), ``user:<id>`` (DM),
``message:<channel>:<id>`` (edit), ``member:<guild>:<user>`` (role_add / role_remove).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp

from bot.outbox import Effect, PermanentFailure, RateLimit, RateLimiter, RetryLater

log = logging.getLogger(__name__)

DISCORD_API = "https://discord.com/api/v10"
GLOBAL_LIMIT = RateLimit(50, 1.0)  # Discord: 50 requests per second per bot
CHANNEL_LIMIT = RateLimit(5, 5.0)  # Discord: about 5 messages per 5 seconds per channel
GLOBAL_BUCKET = "discord:global"
BUTTON_STYLES = {"primary": 1, "secondary": 2, "success": 3, "danger": 4}
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


def nonce_for(key: str) -> str:
    """Derive the message nonce (at most 25 characters) from the outbox key."""
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32encode(digest).decode()[:25].lower()


class DiscordSender:
    """The outbox's Discord platform."""

    platform = "discord"

    def __init__(
        self, token: str, *, api_base: str = DISCORD_API, limiter: RateLimiter | None = None
    ) -> None:
        self._token = token
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
        if kind in ("channel", "thread"):
            return rest
        if kind == "message":
            return rest.split(":", 1)[0]
        if kind == "user":
            return self._dm_channels.get(rest)
        return None

    async def send(self, effect: Effect) -> str | None:
        """Perform the effect; return the Discord id of what was created."""
        kind, _, rest = effect.target.partition(":")
        if effect.action in ("post", "thread_post") and kind in ("channel", "thread"):
            return await self._post(rest, effect)
        if effect.action == "dm" and kind == "user":
            channel = await self._dm_channel(rest)
            return await self._post(channel, effect)
        if effect.action == "edit" and kind == "message":
            channel, _, message = rest.partition(":")
            body = self._message_body(effect.payload, nonce=None)
            answer = await self._request(
                "PATCH", f"/channels/{channel}/messages/{message}", channel, json_body=body
            )
            return str(answer["id"])
        if effect.action in ("role_add", "role_remove") and kind == "member":
            guild, _, user = rest.partition(":")
            role = effect.payload.get("role_id")
            method = "PUT" if effect.action == "role_add" else "DELETE"
            reason = str(effect.payload.get("reason", "Flywheel"))[:512]
            await self._request(
                method,
                f"/guilds/{guild}/members/{user}/roles/{role}",
                None,
                headers={"X-Audit-Log-Reason": reason},
            )
            return None
        raise PermanentFailure(f"Flywheel cannot {effect.action!r} a Discord {kind!r} target")

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

    @staticmethod
    def _message_body(payload: dict[str, Any], *, nonce: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            # Nobody is pinged unless the feature names exactly whom to ping.
            "allowed_mentions": {"parse": [], "users": list(payload.get("mention_user_ids", []))},
        }
        if "text" in payload:
            body["content"] = str(payload["text"])[:2000]
        for key in ("embeds", "components"):
            if key in payload:
                body[key] = payload[key]
        if payload.get("buttons"):
            body["components"] = [
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 2,
                            "style": BUTTON_STYLES.get(str(button.get("style")), 2),
                            "label": str(button["label"])[:80],
                            "custom_id": str(button["id"])[:100],
                        }
                        for button in payload["buttons"][:5]
                    ],
                }
            ]
        if payload.get("reply_to"):
            body["message_reference"] = {
                "message_id": str(payload["reply_to"]),
                "fail_if_not_exists": False,
            }
        if nonce:
            # Discord refuses a second message with the same nonce in the same channel for a
            # few minutes: this closes the gap between "sent" and "marked sent" when a
            # dispatcher dies right after sending and the row is taken up again.
            body["nonce"] = nonce
            body["enforce_nonce"] = True
        return body

    async def _post(self, channel: str, effect: Effect) -> str:
        body = self._message_body(effect.payload, nonce=nonce_for(effect.key))
        upload = effect.payload.get("file")
        if isinstance(upload, dict):
            form = aiohttp.FormData()
            body["attachments"] = [{"id": 0, "filename": str(upload["name"])}]
            form.add_field("payload_json", json.dumps(body), content_type="application/json")
            form.add_field(
                "files[0]",
                str(upload["content"]).encode(),
                filename=str(upload["name"]),
                content_type="application/json",
            )
            answer = await self._request(
                "POST", f"/channels/{channel}/messages", channel, data=form
            )
        else:
            answer = await self._request(
                "POST", f"/channels/{channel}/messages", channel, json_body=body
            )
        message_id = str(answer["id"])
        thread = effect.payload.get("thread")
        if isinstance(thread, dict):
            await self._start_thread(channel, message_id, str(thread.get("name") or "Thread"))
        return message_id

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
    ) -> dict[str, Any]:
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
                raise PermanentFailure(
                    f"Discord refused {method} {path}: {what} (code {code}, HTTP {response.status})"
                )
            return answer if isinstance(answer, dict) else {}

    def _note_headers(self, headers: Any, bucket: str) -> None:
        # Honour Discord's own accounting too: when a bucket is spent, wait out its reset.
        if self._limiter is None or headers.get("X-RateLimit-Remaining") != "0":
            return
        reset_after = headers.get("X-RateLimit-Reset-After")
        if reset_after:
            self._limiter.block(bucket, float(reset_after))
