"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when asked), clocks, runtimes.

The database comes from FLYWHEEL_TEST_DATABASE_URL when set (CI runs the suite once on
SQLite and once on PostgreSQL); otherwise a temporary SQLite file. The schema is built by
running the migrations. ``session`` runs each test inside a transaction that is rolled back;
``committed`` gives tests that need several real connections a database that is emptied
afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

import bot.models  # noqa: F401 - every table on the metadata
from bot.clock import FakeClock
from bot.db import Base, create_engine
from bot.db.migrate import upgrade
from bot.services.communities import SpaceRef, ensure_community, ensure_space
from bot.settings import load_settings
from tests.log_waiter import LogWaiter

TEST_DATABASE_URL = os.environ.get("FLYWHEEL_TEST_DATABASE_URL", "")


def _reset_postgres(url: str) -> None:
    async def reset() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of a database migrated to head for this test session."""
    if TEST_DATABASE_URL:
        if not TEST_DATABASE_URL.startswith("postgresql+asyncpg://"):
            raise pytest.UsageError("FLYWHEEL_TEST_DATABASE_URL must be postgresql+asyncpg://…")
        _reset_postgres(TEST_DATABASE_URL)
        url = TEST_DATABASE_URL
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    upgrade(url)
    return url


@pytest.fixture
def backend(database_url: str) -> str:
    """Return 'sqlite' or 'postgresql'."""
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def clock() -> FakeClock:
    """Return a clock that tests move by hand."""
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Open an engine on the session's database."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Open a connection whose outer transaction is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        if transaction.is_active:
            await transaction.rollback()


@pytest.fixture
def sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Return a sessionmaker whose commits become savepoints of the rolled-back transaction."""
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest_asyncio.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Return a session inside the test's rolled-back transaction."""
    async with sessions() as session:
        yield session


@pytest_asyncio.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Return a sessionmaker that really commits; every table is emptied afterwards."""
    yield async_sessionmaker(engine, expire_on_commit=False)
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))


async def make_spaces(session: AsyncSession, clock: FakeClock) -> tuple[SpaceRef, SpaceRef]:
    """Create a community with a Discord guild and a Slack workspace."""
    community_id = await ensure_community(
        session, clock, slug="acme", name="Acme Makers", timezone="Europe/Berlin"
    )
    discord = await ensure_space(
        session, clock, community_id=community_id, platform="discord", external_id="111"
    )
    slack = await ensure_space(
        session, clock, community_id=community_id, platform="slack", external_id="T0001"
    )
    return discord, slack


@pytest_asyncio.fixture
async def spaces(session: AsyncSession, clock: FakeClock) -> tuple[SpaceRef, SpaceRef]:
    """Return a community's Discord and Slack spaces, in the rolled-back transaction."""
    return await make_spaces(session, clock)


@pytest.fixture
def project_root() -> Path:
    """Return the repository root."""
    return Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every Flywheel-related variable from the environment."""
    for name in list(os.environ):
        if name.startswith(("FLYWHEEL_", "DISCORD_", "SLACK_", "STRIPE_")):
            monkeypatch.delenv(name)


def default_settings(database_url: str) -> object:
    """Return settings with only a database configured."""
    return load_settings(environ={"FLYWHEEL_DATABASE_URL": database_url})


@pytest.fixture
def log_waiter(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[str], LogWaiter]]:
    """Return a function that starts collecting a logger's INFO records."""
    attached: list[tuple[logging.Logger, LogWaiter]] = []

    def watch(name: str) -> LogWaiter:
        caplog.set_level(logging.INFO, logger=name)
        waiter = LogWaiter()
        logger = logging.getLogger(name)
        logger.addHandler(waiter)
        attached.append((logger, waiter))
        return waiter

    yield watch
    for logger, waiter in attached:
        logger.removeHandler(waiter)
