"""The outbox: queued once, sent once, paced, retried, dead-lettered, resumed after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import textwrap

from sqlalchemy import select

from bot.clock import FakeClock, SystemClock
from bot.models import OutboxMessage
from bot.outbox import (
    Dispatcher,
    Effect,
    PermanentFailure,
    Posted,
    RateLimit,
    RateLimiter,
    RetryLater,
)
from bot.settings import OutboxSettings
from tests.effects import enqueue_row


class RecordingSender:
    """An in-memory platform: records what it was asked to send, and when (on the clock)."""

    platform = "test"

    def __init__(self, clock, *, limit=None, fail_first=0, error=None):
        self.clock = clock
        self.limit = limit or RateLimit(100, 1.0)
        self.fail_first = fail_first
        self.error = error
        self.attempts: list[str] = []
        self.sent: list[tuple[str, float]] = []

    def limits(self, effect: Effect):
        return [("test:global", self.limit), (f"test:{effect.target}", RateLimit(1000, 1.0))]

    async def send(self, effect: Effect) -> Posted:
        self.attempts.append(effect.key)
        if self.error is not None:
            raise self.error
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("platform unreachable")
        self.sent.append((effect.key, self.clock.monotonic()))
        return Posted("1", f"msg-{len(self.sent)}")


def settings(**overrides) -> OutboxSettings:
    return OutboxSettings(**{"max_attempts": 5, "backoff_base_seconds": 1.0, **overrides})


async def _queue(sessions, clock, key, target="channel:1", text=None):
    async with sessions() as session, session.begin():
        return await enqueue_row(
            session, clock, key=key, platform="test", action="post", target=target, text=text or key
        )


async def test_an_effect_queued_twice_with_the_same_key_is_sent_once(sessions, clock):
    assert await _queue(sessions, clock, "ritual:1:post") is True
    assert await _queue(sessions, clock, "ritual:1:post") is False
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(sessions, clock, settings(), [sender])
    assert await dispatcher.drain() == 1
    assert await dispatcher.drain() == 0
    assert [key for key, _ in sender.sent] == ["ritual:1:post"]
    async with sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row.status == "sent" and row.external_id == "msg-1" and row.sent_at == clock.now()


async def test_a_sender_failing_three_times_then_succeeding_delivers_once(sessions, clock):
    await _queue(sessions, clock, "dm:1")
    sender = RecordingSender(clock, fail_first=3)
    dispatcher = Dispatcher(sessions, clock, settings(), [sender])
    started = clock.now()
    assert await dispatcher.drain() == 1
    assert sender.attempts == ["dm:1"] * 4 and len(sender.sent) == 1
    async with sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row.status == "sent" and row.attempts == 4 and row.last_error is None
    # Backoff 1 s, 2 s, 4 s (±20 %): the retries were spread out, not hammered.
    assert (clock.now() - started).total_seconds() >= 0.8 * 7


async def test_an_effect_that_always_fails_is_dead_lettered_with_the_reason(sessions, clock):
    await _queue(sessions, clock, "dm:2")
    sender = RecordingSender(clock, fail_first=100)
    dispatcher = Dispatcher(sessions, clock, settings(max_attempts=3), [sender])
    assert await dispatcher.drain() == 0
    async with sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row.status == "dead" and row.attempts == 3
    assert "gave up after 3 attempts" in row.last_error and "platform unreachable" in row.last_error


async def test_a_permanent_failure_is_dead_lettered_at_once(sessions, clock):
    await _queue(sessions, clock, "dm:3")
    sender = RecordingSender(clock, error=PermanentFailure("the member has DMs closed"))
    await Dispatcher(sessions, clock, settings(), [sender]).drain()
    async with sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row.status == "dead" and row.last_error == "the member has DMs closed"
    assert len(sender.attempts) == 1


async def test_a_rate_limit_answer_waits_without_using_up_attempts(sessions, clock):
    await _queue(sessions, clock, "post:429")

    class LimitedOnce(RecordingSender):
        async def send(self, effect):
            if not self.attempts:
                self.attempts.append(effect.key)
                raise RetryLater(30.0, bucket="test:global")
            return await super().send(effect)

    sender = LimitedOnce(clock)
    started = clock.monotonic()
    await Dispatcher(sessions, clock, settings(max_attempts=1), [sender]).drain()
    assert len(sender.sent) == 1 and sender.sent[0][1] - started >= 30.0


async def test_pacing_holds_the_configured_rate(sessions, clock):
    for index in range(60):
        await _queue(sessions, clock, f"burst:{index}", target=f"user:{index}")
    sender = RecordingSender(clock, limit=RateLimit(5, 1.0))
    await Dispatcher(sessions, clock, settings(), [sender]).drain()
    times = [at for _, at in sender.sent]
    assert len(times) == 60
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 5
    assert times[-1] - times[0] >= (60 / 5) - 1.0  # and it did not stall either


async def test_a_row_left_sending_by_a_dead_dispatcher_is_taken_up_after_its_lease(sessions, clock):
    await _queue(sessions, clock, "lease:1")

    class Hangs(RecordingSender):
        async def send(self, effect):
            raise asyncio.CancelledError  # the process died mid-send

    crashed = Dispatcher(sessions, clock, settings(lease_seconds=30), [Hangs(clock)])
    with contextlib.suppress(asyncio.CancelledError):
        await crashed.dispatch_due()
    seen: list[int] = []

    class Tells(RecordingSender):
        async def send(self, effect):
            seen.append(effect.attempts)
            return await super().send(effect)

    sender = Tells(clock)
    survivor = Dispatcher(sessions, clock, settings(lease_seconds=30), [sender])
    assert await survivor.dispatch_due() == 0  # still leased
    assert await survivor.drain() == 1
    assert len(sender.sent) == 1
    # The interrupted try counts: the sender knows it may already have reached the platform.
    assert seen == [1]


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from bot.clock import SystemClock
    from bot.db import create_engine
    from bot.outbox import Dispatcher, RateLimit
    from tests.effects import enqueue_row
    from bot.settings import OutboxSettings

    class Stuck:
        platform = "test"
        def limits(self, effect):
            return [("test:global", RateLimit(100, 1.0))]
        async def send(self, effect):
            print("sending", flush=True)
            await asyncio.Event().wait()

    async def main(url, claim):
        clock = SystemClock()
        engine = create_engine(url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            await enqueue_row(session, clock, key="crash:1", platform="test", action="dm",
                              target="user:9", text="hello")
        print("queued", flush=True)
        if claim:
            await Dispatcher(sessions, clock, OutboxSettings(lease_seconds=60), [Stuck()]).dispatch_due()
        await asyncio.Event().wait()

    asyncio.run(main(sys.argv[1], sys.argv[2] == "claim"))
    """
)


async def _run_and_kill(database_url: str, mode: str, wait_for: str) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, database_url, mode, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    while True:
        line = (await asyncio.wait_for(child.stdout.readline(), timeout=30)).decode().strip()
        assert line, "child exited early"
        if line == wait_for:
            break
    child.kill()
    await child.wait()


async def test_a_process_killed_after_queuing_sends_exactly_once_on_restart(
    committed, database_url
):
    await _run_and_kill(database_url, "queue", "queued")
    clock = FakeClock(SystemClock().now())
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(committed, clock, settings(), [sender])
    assert await dispatcher.drain() == 1
    assert await Dispatcher(committed, clock, settings(), [sender]).drain() == 0
    assert [key for key, _ in sender.sent] == ["crash:1"]


async def test_a_process_killed_mid_send_is_resumed_once_its_lease_expires(committed, database_url):
    await _run_and_kill(database_url, "claim", "sending")
    clock = FakeClock(SystemClock().now())
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(committed, clock, settings(lease_seconds=60), [sender])
    assert await dispatcher.drain() == 1
    assert [key for key, _ in sender.sent] == ["crash:1"]
    async with committed() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row.status == "sent" and row.claim_token is None


def test_a_platform_block_survives_the_first_use_of_the_bucket(clock):
    limiter = RateLimiter(clock)
    limiter.block("discord:channel:1", 10.0)
    assert limiter.reserve([("discord:channel:1", RateLimit(5, 5.0))]) == 10.0
    clock.advance(10.0)
    assert limiter.reserve([("discord:channel:1", RateLimit(5, 5.0))]) == 0.0


async def test_a_long_paced_batch_keeps_its_lease_so_no_other_dispatcher_sends_its_rows(
    sessions, clock
):
    for index in range(30):
        await _queue(sessions, clock, f"long:{index:02d}")
    other_sender = RecordingSender(clock)
    other = Dispatcher(sessions, clock, settings(lease_seconds=10), [other_sender])
    taken: list[int] = []

    class OneASecond(RecordingSender):
        async def send(self, effect):
            sent = await super().send(effect)
            if len(self.sent) == 20:  # 20 s into a batch claimed with a 10 s lease
                taken.append(await other.dispatch_due())
            return sent

    first = OneASecond(clock, limit=RateLimit(1, 1.0))
    assert (
        await Dispatcher(sessions, clock, settings(lease_seconds=10), [first]).dispatch_due() == 30
    )

    assert taken == [0] and other_sender.sent == []
    assert len({key for key, _ in first.sent}) == 30


async def test_a_row_that_keeps_stopping_the_process_is_dead_lettered_and_its_batch_is_not(
    sessions, clock
):
    for key in ("a:poison", "b:innocent", "c:innocent"):
        await _queue(sessions, clock, key)
    tried: list[str] = []

    class DiesOnPoison(RecordingSender):
        async def send(self, effect):
            tried.append(effect.key)
            if effect.key == "a:poison":
                raise asyncio.CancelledError  # the process died mid-send, again
            return await super().send(effect)

    for _ in range(3):
        crashing = Dispatcher(
            sessions, clock, settings(max_attempts=3, lease_seconds=30), [DiesOnPoison(clock)]
        )
        with contextlib.suppress(asyncio.CancelledError):
            await crashing.dispatch_due()
        clock.advance(31)
    sender = RecordingSender(clock)
    assert await Dispatcher(sessions, clock, settings(max_attempts=3), [sender]).drain() == 2

    assert tried == ["a:poison"] * 3  # the rest of the batch was never tried...
    async with sessions() as session:
        rows = {row.key: row for row in (await session.scalars(select(OutboxMessage))).all()}
    poison = rows["a:poison"]
    assert poison.status == "dead" and "stopped while sending it each time" in poison.last_error
    # ...so it is delivered as a first try, not counted as cut short.
    assert [key for key, _ in sender.sent] == ["b:innocent", "c:innocent"]
    assert rows["b:innocent"].attempts == rows["c:innocent"].attempts == 1


async def test_rows_claimed_but_never_tried_are_taken_up_after_the_lease_as_first_tries(
    sessions, clock
):
    for index in range(3):
        await _queue(sessions, clock, f"batch:{index}")
    seen: list[tuple[str, int]] = []

    class DiesAfterFirst(RecordingSender):
        async def send(self, effect):
            seen.append((effect.key, effect.attempts))
            if len(seen) == 1:
                await super().send(effect)
                raise asyncio.CancelledError  # sent, then the process died
            return await super().send(effect)

    sender = DiesAfterFirst(clock)
    with contextlib.suppress(asyncio.CancelledError):
        await Dispatcher(sessions, clock, settings(lease_seconds=30), [sender]).dispatch_due()
    clock.advance(31)
    await Dispatcher(sessions, clock, settings(lease_seconds=30), [sender]).drain()

    # The one whose try began is known to be a retry; the two never tried are first tries.
    assert seen == [("batch:0", 0), ("batch:0", 1), ("batch:1", 0), ("batch:2", 0)]
