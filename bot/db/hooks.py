"""Run callbacks once the session's transaction has committed, and the loops they wake."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

WAKERS = "wakers"
_WAKE = "wake_after_commit"


@event.listens_for(Session, "after_commit")
def _wake(session: Session) -> None:
    if session.info.pop(_WAKE, False):
        for wake in session.info.get(WAKERS, ()):
            wake()


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous: object) -> None:
    session.info.pop(_WAKE, None)


def wake_after_commit(session: AsyncSession) -> None:
    """Ask the session to call the configured wakers (``info={"wakers": [...]}``) after commit.

    A flag, not a listener per session: one listener on every Session reads it (setting up
    a listener cost a webhook as much as two of its statements).
    """
    session.sync_session.info[_WAKE] = True


def session_info(*wakers: Callable[[], Any]) -> dict[str, Any]:
    """Build the ``info`` dict for a sessionmaker whose commits wake the given loops."""
    return {WAKERS: list(wakers)}


class Wakeups:
    """What a background loop (events, outbox) waits on between passes: a commit's wake,
    its next due time, or stop.

    Passes start at most once per ``settle`` seconds when commits wake the loop: a burst of
    commits (webhooks, chat) is handled in a few passes over many rows rather than a pass
    per commit, each with its own transactions. The first commit after a quiet spell is
    handled at once.
    """

    def __init__(self, settle: float) -> None:
        self._event = asyncio.Event()
        self._settle = settle
        self._started = -math.inf

    def set(self) -> None:
        """Wake the loop: there may be new rows."""
        self._event.set()

    def starting(self) -> None:
        """Note that a pass starts now (it sees every commit made before this)."""
        self._event.clear()
        self._started = asyncio.get_running_loop().time()

    async def wait(self, stop: asyncio.Event, within: float) -> None:
        """Return after a wake (settled), ``within`` seconds, or once ``stop`` is set."""
        waiter = asyncio.ensure_future(self._event.wait())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait(
                {waiter, stopper}, timeout=within, return_when=asyncio.FIRST_COMPLETED
            )
            rest = self._started + self._settle - asyncio.get_running_loop().time()
            if waiter.done() and not stop.is_set() and rest > 0:
                await asyncio.wait({stopper}, timeout=min(rest, within))
        finally:
            waiter.cancel()
            stopper.cancel()
