"""The chat queue: a bounded in-process queue of :class:`MessageSeen`, written in batches.

A front end awaits :meth:`IngestPipeline.submit`; the pipeline's loop writes the queue
every ``flush_seconds``, or as soon as a batch is full, one transaction per batch
(:func:`~bot.services.recognition.ingest.ingest_batch`). A full queue makes ``submit`` wait
(back-pressure, counted for ``/metrics``). A graceful stop writes what is queued. A hard
kill loses what was queued and the batch being written (at most ``queue_size`` +
``batch_size`` messages, and at most ``flush_seconds`` of chat when the queue keeps up):
purchases, rewards and decisions never go through this queue, they are written at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.services.recognition.chat import ChatRules, MessageSeen
from bot.services.recognition.ingest import ingest_batch
from bot.settings import RecognitionSettings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass
class IngestStats:
    """Running totals of one pipeline (read by ``/metrics``)."""

    received: int = 0
    counted: int = 0
    batches: int = 0
    backpressure: int = 0
    dropped: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


class IngestPipeline:
    """The bounded queue between the front ends and the ledger, and its flusher loop."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: RecognitionSettings,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self.rules = ChatRules.from_settings(settings)
        # A deque and two events rather than an asyncio.Queue: a batch is taken in one
        # slice, not message by message (at tens of thousands a second that showed).
        self._queue: deque[MessageSeen] = deque()
        self._room = asyncio.Event()
        self._full = asyncio.Event()
        self._arrived = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._written = asyncio.Condition()
        self.stats = IngestStats()

    @property
    def depth(self) -> int:
        """Return how many messages wait to be written."""
        return len(self._queue)

    async def submit(self, event: MessageSeen) -> None:
        """Queue a message; wait while the queue is full (back-pressure)."""
        queue = self._queue
        if len(queue) >= self._settings.queue_size:
            self.stats.backpressure += 1
            self._full.set()
            while len(queue) >= self._settings.queue_size:
                self._room.clear()
                await self._room.wait()
        queue.append(event)
        self.stats.received += 1
        self._arrived.set()
        if len(queue) >= self._settings.batch_size:
            self._full.set()

    def _take(self) -> list[MessageSeen]:
        queue = self._queue
        batch = [queue.popleft() for _ in range(min(len(queue), self._settings.batch_size))]
        if batch:
            self._room.set()
        return batch

    async def _write(self, batch: list[MessageSeen]) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self._sessions() as session, session.begin():
                    result = await ingest_batch(session, self._clock, self.rules, batch)
            except Exception:
                if attempt == MAX_ATTEMPTS:
                    log.exception("chat points: dropping a batch of %d messages", len(batch))
                    self.stats.dropped += len(batch)
                    return
                log.exception("chat points: writing a batch failed; retrying")
                await asyncio.sleep(min(0.1 * 2**attempt, self._settings.flush_seconds))
                continue
            self.stats.batches += 1
            self.stats.counted += result.counted
            self.stats.skipped.update(result.skipped)
            async with self._written:
                self._written.notify_all()
            return

    async def wait_received(self, count: int) -> None:
        """Return once this many messages were submitted in all (for tests and the demo)."""
        while self.stats.received < count:
            self._arrived.clear()
            await self._arrived.wait()

    async def wait_written(self, batches: int) -> None:
        """Return once this many batches have been written (for tests and the demo's check)."""
        async with self._written:
            await self._written.wait_for(lambda: self.stats.batches >= batches)

    async def flush(self) -> int:
        """Write everything queued now, batch by batch; return how many messages were taken."""
        taken = 0
        async with self._write_lock:
            while batch := self._take():
                taken += len(batch)
                await self._write(batch)
        return taken

    async def run(self, stop: asyncio.Event) -> None:
        """Write the queue every ``flush_seconds`` or when a batch is full; flush on stop."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            deadline = loop.time() + self._settings.flush_seconds
            while len(self._queue) < self._settings.batch_size and not stop.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._full.clear()
                full = asyncio.ensure_future(self._full.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {full, stopper}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                full.cancel()
                stopper.cancel()
            await self.flush()
        await self.flush()
