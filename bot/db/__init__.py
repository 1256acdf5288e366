"""Engine, sessions and the declarative base."""

from bot.db.base import Base, UTCDateTime
from bot.db.engine import create_engine, create_sessionmaker, dialect_insert, read_sessions

__all__ = [
    "Base",
    "UTCDateTime",
    "create_engine",
    "create_sessionmaker",
    "dialect_insert",
    "read_sessions",
]
