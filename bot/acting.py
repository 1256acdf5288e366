"""How every front end runs a service for someone: one transaction, one actor, one error id.

Both front ends (the Discord bot and the Slack front) call :func:`acting` to resolve who is
calling and own the transaction a service runs in, and :func:`unexpected_failure` when
something broke that is not the member's fault. Platform-neutral: nothing here knows a
platform library.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import FlywheelError, Invalid
from bot.services.callers import Actor, Caller, resolve_actor

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
# One line per refused request (bad input, no permission, not found): what owners read to see
# where members struggle, and what the fuzz harness watches. Never the member's text.
refusals = logging.getLogger("bot.refusals")


def new_error_id() -> str:
    """Return a short id that links what a member was told to the log line."""
    return secrets.token_hex(4)


def unexpected_error_text(error_id: str) -> str:
    """Return what a member is told when something broke that is not their fault."""
    return f"Something went wrong (error id {error_id}); the team has been told."


def unexpected_failure(
    error: BaseException, where: str, *, logger: logging.Logger | None = None
) -> str:
    """Log an unexpected error under a new error id and return the text to show the member."""
    error_id = new_error_id()
    (logger or log).error("%s failed (error id %s)", where, error_id, exc_info=error)
    return unexpected_error_text(error_id)


def refused(reason: FlywheelError | str, where: str) -> None:
    """Note that a request was refused: a reason code, never the input itself."""
    if isinstance(reason, str):
        code = reason
    else:
        code = reason.code if isinstance(reason, Invalid) else type(reason).__name__
    field = f" ({reason.field})" if isinstance(reason, Invalid) and reason.field else ""
    refusals.info("refused %s: %s%s", where, code, field, extra={"refusal": code})


@asynccontextmanager
async def acting(
    runtime: Runtime, caller: Caller, *, explicit: bool = True
) -> AsyncIterator[tuple[AsyncSession, Actor]]:
    """Open a transaction and resolve the caller to a member; commit when the block ends.

    ``explicit`` is False for passive signals (a reaction, a thread reply), which never
    bring back someone who asked to be erased.
    """
    async with runtime.sessions() as session, session.begin():
        actor = await resolve_actor(
            session,
            runtime.clock,
            community_id=runtime.community_id,
            caller=caller,
            explicit=explicit,
        )
        yield session, actor
