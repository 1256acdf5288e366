"""Wait for the log line a silent listener writes (a join, a reaction nobody is answered to)."""

from __future__ import annotations

import asyncio
import logging
import re


class LogWaiter(logging.Handler):
    """Collect a logger's records so a test can wait for the one a silent listener writes."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self._changed.set()

    async def wait_for(self, pattern: str, timeout: float = 5.0) -> str:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                for message in self.messages:
                    if re.search(pattern, message):
                        return message
                self._changed.clear()
                await self._changed.wait()
