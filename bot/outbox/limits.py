"""Pacing: sliding-window rate limits per bucket, on the injected clock."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.outbox.effects import RateLimit


@dataclass
class _Window:
    limit: RateLimit
    sent: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class RateLimiter:
    """Sliding-window limits per bucket, on the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def _window(self, bucket: str, limit: RateLimit) -> _Window:
        window = self._windows.get(bucket)
        if window is None or window.limit != limit:
            # Keep what was sent and any block the platform imposed when the limit changes.
            window = _Window(
                limit=limit,
                sent=window.sent if window else deque(),
                blocked_until=window.blocked_until if window else 0.0,
            )
            self._windows[bucket] = window
        return window

    def reserve(self, buckets: Iterable[tuple[str, RateLimit]]) -> float:
        """Take a slot in every bucket and return 0, or take none and return the wait."""
        now = self._clock.monotonic()
        windows = [self._window(bucket, limit) for bucket, limit in buckets]
        wait = 0.0
        for window in windows:
            while window.sent and window.sent[0] <= now - window.limit.per_seconds:
                window.sent.popleft()
            wait = max(wait, window.blocked_until - now)
            if len(window.sent) >= window.limit.count:
                wait = max(wait, window.sent[0] + window.limit.per_seconds - now)
        if wait > 0:
            return wait
        for window in windows:
            window.sent.append(now)
        return 0.0

    def block(self, bucket: str, seconds: float) -> None:
        """Hold a bucket closed (the platform said so)."""
        window = self._windows.get(bucket)
        if window is None:
            window = self._windows[bucket] = _Window(limit=RateLimit(1_000_000, 1.0))
        window.blocked_until = max(window.blocked_until, self._clock.monotonic() + seconds)
