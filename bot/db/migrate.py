"""Bring a database to the newest schema, and tell whether it is there."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(database_url: str | None = None, connection: Connection | None = None) -> Config:
    """Return an Alembic config pointing at our migrations (and a database, if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if database_url:
        config.attributes["database_url"] = database_url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """Return the newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def upgrade(database_url: str) -> None:
    """Upgrade the database at ``database_url`` to head (blocking; not inside an event loop)."""
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_connection(connection: AsyncConnection) -> None:
    """Upgrade through an open async connection (used by tests and the demo)."""

    def _run(sync_connection: Connection) -> None:
        command.upgrade(alembic_config(connection=sync_connection), "head")

    await connection.run_sync(_run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the revision the database is at, or None if it was never migrated."""

    def _read(sync_connection: Connection) -> str | None:
        return MigrationContext.configure(sync_connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_read)


async def schema_is_current(engine: AsyncEngine) -> bool:
    """Say whether the database is at the newest revision."""
    return await current_revision(engine) == head_revision()


def refuse_cascading_rebuild(bind: Connection, table: str) -> None:
    """Stop a migration that would rebuild a SQLite table whose children cascade.

    SQLite batch mode rebuilds a table by dropping it; with foreign keys enforced, that drop
    deletes every row referencing it (ON DELETE CASCADE). ``flywheel migrate`` connects
    without enforcing them; refuse any other connection that does, when there are rows.
    """
    if bind.dialect.name != "sqlite":
        return
    enforced = bind.exec_driver_sql("PRAGMA foreign_keys").scalar()
    has_rows = bind.exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1").scalar()  # noqa: S608 - a table name from the migration
    if enforced and has_rows:
        raise RuntimeError(
            "this migration rebuilds SQLite tables: run it with `flywheel migrate`, "
            "whose connection does not enforce foreign keys"
        )
