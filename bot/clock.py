"""The one clock: nothing else in Flywheel reads the wall clock."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where the current time comes from; injected so tests can move it."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""

    def monotonic(self) -> float:
        """Return seconds on a clock that never goes backwards."""

    async def sleep(self, seconds: float) -> None:
        """Wait for the given number of seconds on this clock."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return the process's monotonic time."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to, or when somebody sleeps on it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._offset = 0.0

    def now(self) -> datetime:
        """Return the simulated time."""
        return self._start + timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        """Return simulated seconds since the clock was made."""
        return self._offset

    async def sleep(self, seconds: float) -> None:
        """Advance the simulated time instead of waiting, then yield once."""
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move the simulated time forward."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._offset += seconds

    def set(self, when: datetime) -> None:
        """Jump to a later moment."""
        self.advance((when - self.now()).total_seconds())


class AcceleratedClock:
    """A clock that runs ``factor`` times faster than real time (the demo's simulated weeks)."""

    def __init__(self, start: datetime, factor: float) -> None:
        if start.tzinfo is None:
            raise ValueError("AcceleratedClock needs a timezone-aware start time")
        if factor <= 0:
            raise ValueError("factor must be positive")
        self._start = start
        self._factor = factor
        self._origin = time.monotonic()
        self._skipped = 0.0

    def now(self) -> datetime:
        """Return the simulated time."""
        return self._start + timedelta(seconds=self.monotonic())

    def monotonic(self) -> float:
        """Return simulated seconds since the clock was made."""
        return (time.monotonic() - self._origin) * self._factor + self._skipped

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of simulated time."""
        await asyncio.sleep(max(0.0, seconds) / self._factor)

    def advance(self, seconds: float) -> None:
        """Jump ahead (the demo skips quiet hours this way)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._skipped += seconds
