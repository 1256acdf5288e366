"""The parts one Flywheel process shares: settings, clock, database, events, outbox, scheduler, media."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.commands import CommandNames
from bot.db import create_engine
from bot.db.hooks import session_info
from bot.events import EventBus
from bot.features import Job, Subscription, discover
from bot.media import LocalMediaStore, MediaStore
from bot.outbox import Dispatcher
from bot.payments import StripeGateway, build_gateway
from bot.scheduler import Scheduler
from bot.services.channels import apply_configured
from bot.services.communities import ensure_community
from bot.services.recognition import IngestPipeline, sync_configured
from bot.settings import Settings
from bot.webhooks import WebhookSender

log = logging.getLogger(__name__)


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
    # Members' files (bot.media); tests may swap in a store on a tmp_path.
    media: MediaStore
    # Chat points: the bounded queue front ends submit messages to, written in batches.
    ingest: IngestPipeline
    commands: CommandNames = field(default_factory=CommandNames)
    community_id: int = 0
    platforms: list[Platform] = field(default_factory=list)
    # The Stripe client (bot.payments), when STRIPE_API_KEY is set.
    stripe: StripeGateway | None = None

    async def close(self) -> None:
        """Close the outbox senders, the Stripe client and release the database."""
        await self.dispatcher.close()
        if self.stripe is not None:
            await self.stripe.close()
        await self.engine.dispose()


def _bind_job(runtime: Runtime, job: Job) -> Callable[[], Awaitable[object]]:
    async def run() -> object:
        return await job.run(runtime)

    return run


def _bind_handler(
    runtime: Runtime, subscription: Subscription
) -> Callable[[AsyncSession, Any], Awaitable[None]]:
    async def handle(session: AsyncSession, event: Any) -> None:
        await subscription.handler(runtime, session, event)

    return handle


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
        settle_seconds=settings.outbox.settle_seconds,
    )
    dispatcher = Dispatcher(plain, clock, settings.outbox)
    secret = settings.secrets.FLYWHEEL_SECRET_KEY
    dispatcher.register(WebhookSender(secret.get_secret_value() if secret else None, clock))
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
        media=LocalMediaStore(settings.media.path, public_url=settings.web.public_url),
        commands=CommandNames(slack_command=settings.slack.command),
        ingest=IngestPipeline(sessions, clock, settings.recognition),
        stripe=build_gateway(settings),
    )
    for feature in discover():
        for job in feature.jobs:
            runtime.scheduler.every(job.cadence(settings), job.name, _bind_job(runtime, job))
        for subscription in feature.subscriptions:
            bus.subscribe(
                subscription.event, _bind_handler(runtime, subscription), name=subscription.name
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
        for platform, channels in runtime.settings.configured_channels().items():
            await apply_configured(session, runtime.clock, runtime.community_id, platform, channels)
        await sync_configured(session, runtime.clock, runtime.community_id, runtime.settings.badges)
    return runtime.community_id
