"""`flywheel demo`: the whole bot against local Discord and Slack sandboxes.

``tour`` seeds the community and runs the scripted tour (``flywheel demo --check``); ``live``
simulates activity on an accelerated clock (``flywheel demo``).
"""

from __future__ import annotations

import asyncio

from bot.demo.live import run_interactive
from bot.demo.tour import run_check


def main(check: bool, port: int = 8080) -> int:
    """Entry point of `flywheel demo`."""
    if check:
        return asyncio.run(run_check())
    try:
        return asyncio.run(run_interactive(port=port))
    except KeyboardInterrupt:
        return 0
