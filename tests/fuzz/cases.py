"""What both command harnesses share: the two seeded runs, the log watch, the row checks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sized
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, Phase, given, note, seed, settings
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.runtime import Runtime
from bot.services import rituals, ugc
from bot.services.callers import Caller, resolve_actor
from bot.services.channels import set_channel
from tests.fuzz import values
from tests.fuzz.observe import LogWatch, Rows, changed_tables, snapshot

EXAMPLES = 100  # per seed, per platform, in CI
SETTLE = 0.05  # the bot is done when it has made no call for this long
SETTLE_AT_MOST = 3.0


def seeded_runs(
    run: Callable[[Any, values.Case], Awaitable[None]],
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Return two tests running ``run(harness, case)``: a fixed seed and a rotating one."""

    def make(seed_value: int, label: str) -> Callable[..., Any]:
        @settings(
            max_examples=values.examples(EXAMPLES),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            # No shrinking: each case runs against the state the earlier ones left, so a
            # shrunk case would not replay the same; the failing case is shown as it ran.
            phases=[Phase.explicit, Phase.generate],
        )
        @seed(seed_value)
        @given(case=values.cases())
        async def test(harness: Any, case: values.Case) -> None:
            note(f"{label} seed {seed_value}: replay with FLYWHEEL_FUZZ_SEED={seed_value}")
            await run(harness, case)

        return test

    return make(20261201, "fixed"), make(values.ROTATING_SEED, "rotating")


@contextmanager
def watching() -> Iterator[LogWatch]:
    """Watch every log record, the refusals the front ends note among them."""
    watch = LogWatch()
    root, refusals = logging.getLogger(), logging.getLogger("bot.refusals")
    previous = refusals.level
    refusals.setLevel(logging.INFO)
    root.addHandler(watch)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        refusals.setLevel(previous)


def owed(untried: int, done: int) -> bool:
    """Return whether the rest of a run is needed to try every command once.

    A case picks a command, a click or a form; with many commands, chance alone can leave
    some untried in a short run, so the last cases go to the commands not tried yet.
    """
    return untried > 0 and untried >= values.examples(EXAMPLES) - done


def report(cases: int, outcomes: dict[str, int], untried: set[Any]) -> None:
    """Print what a run did; fail if a full run left a command untried."""
    print(f"fuzzed {cases} cases: {outcomes}")
    if cases >= values.examples(EXAMPLES):  # a run cut short by a failure tried fewer
        assert not untried, f"never tried: {untried}"


class RowCheck:
    """Checks that a refused request changed no row, one request at a time."""

    def __init__(self, engine: AsyncEngine, watch: LogWatch) -> None:
        self.engine, self.watch = engine, watch
        self._seen = 0

    async def before(self) -> Rows:
        """Return the rows before a request."""
        return await snapshot(self.engine)

    def new_case(self) -> None:
        """Forget the refusals of earlier cases."""
        self.watch.clear()
        self._seen = 0

    async def unchanged_if_refused(self, before: Rows) -> list[str]:
        """Check that a refused request changed no row; return the refusals since the last."""
        refusals = self.watch.refusals()[self._seen :]
        self._seen += len(refusals)
        if refusals:
            changed = changed_tables(before, await snapshot(self.engine))
            assert not changed, f"refused ({', '.join(refusals)}) yet rows changed: {changed}"
        return refusals


async def settle(calls: Sized) -> None:
    """Wait until the bot has made no call to the sandbox for a moment (at most 3 s).

    Work after an acknowledgement has no event to wait on; a quiet moment is the end of it.
    """
    seen = -1
    for _ in range(int(SETTLE_AT_MOST / SETTLE)):
        if len(calls) == seen:
            return
        seen = len(calls)
        await asyncio.sleep(SETTLE)


async def seed_posted_ritual(runtime: Runtime, moderator: Caller, channel_id: str) -> None:
    """Create and post one ritual, so there is a ritual to name and a button to click."""
    async with runtime.sessions() as session, session.begin():
        mod = await resolve_actor(
            session, runtime.clock, community_id=runtime.community_id, caller=moderator
        )
        spec = rituals.RitualSpec(
            name="Office Hours",
            schedule="weekly fri 12:00",
            timezone="UTC",
            prompt="Bring a question",
            channel_id=channel_id,
        )
        await rituals.create_ritual(session, runtime.clock, mod, spec)
        await rituals.run_now(session, runtime.clock, mod, "Office Hours")
    await runtime.dispatcher.drain()


async def seed_ugc(runtime: Runtime, moderator: Caller, member: Caller, channel_id: str) -> None:
    """Post one submission to the review queue and announce one prompt, so their buttons
    (Approve, Reject, Feature, Share yours) are there to click."""
    async with runtime.sessions() as session, session.begin():
        clock = runtime.clock
        mod = await resolve_actor(
            session, clock, community_id=runtime.community_id, caller=moderator
        )
        who = await resolve_actor(session, clock, community_id=runtime.community_id, caller=member)
        for purpose in ("ugc-review", "showcase", "announcements"):
            await set_channel(session, clock, mod, purpose, channel_id)
        spec = ugc.PromptSpec(title="Show your desk", template="My desk has…")
        await ugc.create_prompt(session, clock, mod, spec, timezone="UTC")
        draft = ugc.Draft(title="My desk", story="A cat on it", consent="public_named")
        rules = ugc.UgcRules.of(runtime.settings)
        await ugc.submit(session, clock, who, draft, store=runtime.media, rules=rules)
    await runtime.dispatcher.drain()
