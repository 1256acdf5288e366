"""Outgoing webhooks: the outbox's sender for :class:`bot.messages.Webhook` effects.

Each request is a JSON POST signed with ``FLYWHEEL_SECRET_KEY``:
``Flywheel-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, with the
outbox key as ``Idempotency-Key`` so the receiver can drop a repeat. A 2xx is delivered; a
429 or a 5xx is retried with backoff; any other 4xx is dead-lettered with the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence

import aiohttp

from bot.clock import Clock
from bot.messages import Webhook
from bot.outbox import Effect, PermanentFailure, Posted, RateLimit, RetryLater

PLATFORM = "webhook"
LIMIT = RateLimit(10, 1.0)  # per receiving host: gentle on the owned platform
TIMEOUT_SECONDS = 10.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value for a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """Return whether ``header`` signs ``body`` with ``secret`` within the tolerance."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookSender:
    """Posts signed webhooks for the outbox dispatcher."""

    platform = PLATFORM

    def __init__(self, secret: str | None, clock: Clock) -> None:
        self._secret = secret
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def limits(self, effect: Effect) -> Sequence[tuple[str, RateLimit]]:
        """Pace requests per receiving host."""
        host = effect.target.split("/")[2] if effect.target.count("/") >= 2 else effect.target
        return [(f"webhook:{host}", LIMIT)]

    async def send(self, effect: Effect) -> Posted | None:
        """POST the signed event; raise on failure."""
        message = effect.message
        if not isinstance(message, Webhook):
            raise PermanentFailure(f"the webhook sender cannot deliver a {effect.action!r}")
        if not self._secret:
            raise PermanentFailure(
                "FLYWHEEL_SECRET_KEY is not set, so the webhook cannot be signed; set it and "
                "queue the webhook again"
            )
        body = json.dumps(
            {"id": effect.key, "event": message.event, "data": message.data},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "Flywheel-Signature": signature(self._secret, timestamp, body),
            "Idempotency-Key": effect.key,
            "User-Agent": "Flywheel-Webhooks/1",
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            )
        async with self._session.post(message.url, data=body, headers=headers) as response:
            answer = (await response.text())[:300]
            if response.status == 429:
                retry_after = response.headers.get("Retry-After", "")
                raise RetryLater(float(retry_after) if retry_after.isdigit() else 30.0)
            if response.status >= 500 or response.status == 408:
                raise ConnectionError(f"{message.url} answered {response.status}")
            if response.status >= 400:
                raise PermanentFailure(
                    f"{message.url} refused the webhook ({response.status}): {answer!r}"
                )
        return None
