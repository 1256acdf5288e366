"""``flywheel demo``: the seeded community on an accelerated clock, members checking in."""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

from bot.clock import AcceleratedClock, SystemClock
from bot.demo.tour import FIRST_NAMES, GUILD, RITUALS, start_demo, stop_demo


async def run_interactive(out: Callable[[str], None] = print, *, port: int = 8080) -> int:
    """Run the demo on an accelerated clock (1 s = 1 simulated minute) until Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="flywheel-demo-") as workdir:
        clock = AcceleratedClock(SystemClock().now().replace(second=0, microsecond=0), factor=60.0)
        demo = await start_demo(check=False, workdir=Path(workdir), clock=clock, port=port)
        base = f"http://127.0.0.1:{demo.port}"
        out(
            "Flywheel demo is running against local Discord and Slack sandboxes (1 s = 1 simulated minute)."
        )
        out(f"  health:   {base}/healthz")
        out(f"  metrics:  {base}/metrics")
        out(
            f"  Discord sandbox API: {demo.discord.api_base}   Slack sandbox API: {demo.slack.api_base}"
        )
        out(
            "  Rituals 'Office Hours' and 'Monday Wins' fire within ~10 s; members check in as they post."
        )
        out("Press Ctrl-C to stop.")
        rng = random.Random(11)
        seen: set[str] = set()
        try:
            while not demo.stop.is_set():
                await asyncio.sleep(1)
                for message in list(demo.discord.messages[RITUALS]):
                    if message["id"] in seen:
                        continue
                    seen.add(message["id"])
                    first_line = str(message.get("content", "")).split("\n")[0]
                    out(f"[{clock.now():%a %H:%M}] #rituals: {first_line}")
                    for button in (
                        c
                        for row in message.get("components", [])
                        for c in row.get("components", [])
                    ):
                        for index in rng.sample(range(len(FIRST_NAMES)), 5):
                            await demo.discord.send_component(
                                button["custom_id"],
                                message_id=int(message["id"]),
                                guild_id=GUILD,
                                channel_id=RITUALS,
                                user_id=900_000_000_000_001_000 + index,
                            )
                        out(f"[{clock.now():%a %H:%M}]   5 members checked in")
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass
        finally:
            await stop_demo(demo)
    return 0
