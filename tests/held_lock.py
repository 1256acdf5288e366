"""Hold the database's write lock from another connection, as a burst of writers would."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def write_lock_held(database_url: str) -> Iterator[None]:
    """Hold SQLite's write lock until the block ends (skips the test on PostgreSQL)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("holds SQLite's single write lock")
    path = database_url.split("///", 1)[1]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()
