"""The parts one Flywheel process shares: settings, clock, database, events, outbox, scheduler."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.commands import CommandNames
from bot.db import create_engine
from bot.db.hooks import session_info
from bot.events import EventBus
from bot.outbox import Dispatcher
from bot.scheduler import Scheduler
from bot.services import rituals
from bot.services.communities import ensure_community
from bot.settings import Settings

log = logging.getLogger(__name__)
RITUAL_TICK_SECONDS = 20.0  # occurrences post within this of their time


class Platform(Protocol):
    """A front end (Discord, Slack) that the process starts and stops."""

    name: str

    @property
    def status(self) -> str:
        """Return a one-word state for /healthz."""

    async def start(self) -> None:
        """Connect and serve until stopped."""

    async def stop(self) -> None:
        """Disconnect gracefully."""


@dataclass
class Runtime:
    """Everything a front end, job or web handler needs, built once per process."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    dispatcher: Dispatcher
    scheduler: Scheduler
    commands: CommandNames = field(default_factory=CommandNames)
    community_id: int = 0
    platforms: list[Platform] = field(default_factory=list)

    async def close(self) -> None:
        """Release the database."""
        await self.engine.dispose()


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """Wire the shared parts together (no I/O yet)."""
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url, echo=settings.file.database.echo)
    plain = async_sessionmaker(engine, expire_on_commit=False)
    bus = EventBus(
        plain,
        clock,
        max_attempts=settings.outbox.max_attempts,
        backoff_seconds=settings.outbox.backoff_base_seconds,
        poll_seconds=settings.outbox.poll_seconds,
    )
    dispatcher = Dispatcher(plain, clock, settings.outbox)
    # Sessions handed to features wake the event and outbox loops when they commit.
    sessions = async_sessionmaker(
        engine, expire_on_commit=False, info=session_info(bus.wake, dispatcher.wake)
    )
    runtime = Runtime(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        bus=bus,
        dispatcher=dispatcher,
        scheduler=Scheduler(),
        commands=CommandNames(slack_command=settings.slack.command),
    )
    runtime.scheduler.every(
        RITUAL_TICK_SECONDS,
        "rituals",
        lambda: rituals.tick(runtime.sessions, runtime.clock, runtime.commands),
    )
    return runtime


async def bootstrap_community(runtime: Runtime) -> int:
    """Make sure the configured community exists and remember its id."""
    community = runtime.settings.community
    async with runtime.sessions() as session, session.begin():
        runtime.community_id = await ensure_community(
            session,
            runtime.clock,
            slug=community.slug,
            name=community.name,
            timezone=community.timezone,
        )
    return runtime.community_id
