"""What every local sandbox shares: serving on loopback, the recorded calls, injected faults.

A platform sandbox (Discord, Slack, later Stripe) subclasses `Sandbox`, adds its routes in
`add_routes`, records one call per request it answers with `record`, and consults
`take_injection` before answering, so that tests can make the next requests fail or be rate
limited. Tests then wait for the call they expect with `wait_for_call` instead of sleeping.

The wire form of an error differs per platform (Discord's ``{"message", "code"}``, Slack's
``{"ok": false, "error"}``, Stripe's ``{"error": {...}}``), so each sandbox's ``fail_next`` and
``rate_limit_next`` build the `Injected` answer in that form and hand it to `inject`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from aiohttp import web

Clock = Callable[[], float]

__all__ = [
    "Clock",
    "Injected",
    "RecordedCallLike",
    "Sandbox",
]


class RecordedCallLike(Protocol):
    """What the shared log needs of a platform's recorded call: when it arrived."""

    @property
    def at(self) -> float:
        """Return the sandbox clock's reading for this call."""
        ...


CallT = TypeVar("CallT", bound=RecordedCallLike)


@dataclass(frozen=True)
class Injected:
    """A canned answer for a request: its status, its JSON body and, for a 429, the delay."""

    status: int
    body: Any
    retry_after: float | None = None


# Which requests an injection answers: (HTTP verb, target), the target being a path or an RPC
# method name, whichever the platform routes on.
RequestMatcher = Callable[[str, str], bool]


@dataclass
class _Pending:
    matches: RequestMatcher
    answer: Injected
    remaining: int


class Sandbox(Generic[CallT]):
    """An aiohttp server on 127.0.0.1 (port 0 by default) that records every call it answers."""

    # How the sandbox names itself in a timeout message, e.g. "Slack".
    kind: str = "sandbox"
    # aiohttp's largest accepted request body, and how long stop() waits for open handlers.
    client_max_size: int = 1024**2
    shutdown_timeout: float = 60.0

    def __init__(self, *, clock: Clock) -> None:
        # Recorded calls are stamped with this clock, so a test that paces on a simulated clock
        # measures the pacing on that same clock.
        self.clock = clock
        self.calls: list[CallT] = []
        self._changed = asyncio.Condition()
        self._injections: list[_Pending] = []
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def add_routes(self, app: web.Application) -> None:
        """Add the platform's routes to the application about to be served."""
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start serving on host:port; port 0 picks a free port."""
        if self._runner is not None:
            raise RuntimeError(f"the {self.kind} sandbox is already running")
        app = web.Application(client_max_size=self.client_max_size)
        self.add_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner, self._host, self._port = runner, host, int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving (a subclass closes its own sockets first)."""
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """Return the bound TCP port."""
        if self._port is None:
            raise RuntimeError(f"the {self.kind} sandbox has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """Return the sandbox's root URL, without a trailing slash."""
        return f"http://{self._host}:{self.port}"

    # ------------------------------------------------------------------ recording and waiting

    def now(self) -> float:
        """Return the sandbox clock's reading."""
        return self.clock()

    async def record(self, call: CallT) -> None:
        """Append a call to the log and wake everybody waiting on it."""
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def describe(self, call: CallT) -> str:
        """Return a call as a timeout message lists it."""
        return repr(call)

    async def wait_for_call(
        self,
        predicate: Callable[[CallT], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout reads best in tests
        *,
        since: int = 0,
    ) -> CallT:
        """Return the first recorded call from index `since` that matches, waiting if needed."""
        found: list[CallT] = []
        scanned = since  # calls already tested; the predicate's answer for them cannot change

        def matched() -> bool:
            nonlocal scanned
            while scanned < len(self.calls):
                call = self.calls[scanned]
                scanned += 1
                if predicate(call):
                    found.append(call)
                    return True
            return False

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(matched)
        except TimeoutError:
            seen = ", ".join(self.describe(call) for call in self.calls[since:]) or "none"
            raise TimeoutError(
                f"no matching {self.kind} call within {timeout} s; calls seen: {seen}"
            ) from None
        return found[0]

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109 - a plain timeout reads best in tests
        what: str,
    ) -> None:
        """Wait until condition holds; it is re-tested whenever the sandbox calls `notify`."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(condition)
        except TimeoutError:
            raise TimeoutError(f"no {what} within {timeout} s") from None

    async def notify(self) -> None:
        """Wake the waiters of `wait_until` after a change that is not a recorded call."""
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ fault injection

    def inject(self, matches: RequestMatcher, answer: Injected, count: int = 1) -> None:
        """Answer the next `count` requests that match with a canned answer, in order added."""
        self._injections.append(_Pending(matches, answer, count))

    def take_injection(
        self, verb: str, target: str, *, only: Iterable[int] | None = None
    ) -> Injected | None:
        """Return (and use up one of) the first injection matching a request, if any.

        ``only`` restricts the search to answers with these statuses, for a platform that
        consults its rate limits before its other faults.
        """
        statuses = None if only is None else frozenset(only)
        for pending in self._injections:
            if statuses is not None and pending.answer.status not in statuses:
                continue
            if pending.matches(verb, target):
                pending.remaining -= 1
                if pending.remaining <= 0:
                    self._injections.remove(pending)
                return pending.answer
        return None
