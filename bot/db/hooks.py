"""Run callbacks once the session's transaction has committed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

WAKERS = "wakers"


def _wake(session: Session) -> None:
    for wake in session.info.get(WAKERS, ()):
        wake()


def wake_after_commit(session: AsyncSession) -> None:
    """Ask the session to call the configured wakers (``info={"wakers": [...]}``) after commit."""
    sync_session = session.sync_session
    if not event.contains(sync_session, "after_commit", _wake):
        event.listen(sync_session, "after_commit", _wake)


def session_info(*wakers: Callable[[], Any]) -> dict[str, Any]:
    """Build the ``info`` dict for a sessionmaker whose commits wake the given loops."""
    return {WAKERS: list(wakers)}
