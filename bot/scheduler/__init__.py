"""The scheduler: wakes due work that lives in the database.

APScheduler only provides the wake-ups. What must happen (a ritual occurrence, a
reminder) is a database row claimed by a unique key, so a second process or a restart
can never do it twice; no job lives only in memory or in a pickled job store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

Tick = Callable[[], Awaitable[object]]


@dataclass
class _Job:
    name: str
    tick: Tick
    every_seconds: float


class Scheduler:
    """Runs registered ticks at fixed intervals; each tick reads and claims due rows itself."""

    def __init__(self) -> None:
        self._jobs: list[_Job] = []
        self._aps: AsyncIOScheduler | None = None
        self.state = "stopped"

    def every(self, seconds: float, name: str, tick: Tick) -> None:
        """Call ``tick`` about every ``seconds`` while running."""
        self._jobs.append(_Job(name, tick, seconds))

    @property
    def jobs(self) -> list[str]:
        """Return the names of the registered ticks."""
        return [job.name for job in self._jobs]

    async def run_all_once(self) -> None:
        """Run every tick once, now (tests and the demo drive time this way)."""
        for job in self._jobs:
            await self._guarded(job)

    async def _guarded(self, job: _Job) -> None:
        try:
            await job.tick()
        except Exception:
            log.exception("scheduled job %s failed; it will run again at its next tick", job.name)

    async def run(self, stop: asyncio.Event) -> None:
        """Run the ticks until ``stop`` is set."""
        self._aps = AsyncIOScheduler()
        for job in self._jobs:
            self._aps.add_job(
                self._guarded,
                "interval",
                seconds=job.every_seconds,
                args=[job],
                id=job.name,
                max_instances=1,
                coalesce=True,
            )
        self._aps.start()
        self.state = "running"
        try:
            await stop.wait()
        finally:
            self._aps.shutdown(wait=False)
            self.state = "stopped"
