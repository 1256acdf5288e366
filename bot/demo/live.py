"""``flywheel demo``: the seeded community on an accelerated clock, members checking in."""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

from bot.clock import AcceleratedClock, SystemClock
from bot.demo.buying import BUYER, buy_link
from bot.demo.community import FIRST_NAMES, GUILD, RITUALS, Demo, start_demo, stop_demo
from bot.demo.payments import PAID_ROLE
from bot.demo.recognition import chatter
from bot.demo.ugc import (
    decide_on_discord,
    decide_on_slack,
    share_on_discord,
    share_on_slack,
    showcased,
)

# What happens in the live demo's UGC scene, and when (seconds after the start).
UGC_SCENE = (5, 15)
# Members chat every this many seconds (each message counts once a minute per member).
CHAT_EVERY = 7


async def _ugc_scene(demo: Demo, act: int, out: Callable[[str], None]) -> None:
    """Act one part of the UGC scene: a Discord member's post approved, a Slack one's featured."""
    now = demo.runtime.clock.now()
    if act == 0:
        shared = await share_on_discord(
            demo, 900_000_000_000_001_007, "My first cake with the kit", "public_named"
        )
        out(
            f"[{now:%a %H:%M}] Hana shared “{shared.title}” with /share submit: it is in #ugc-review"
        )
        await decide_on_discord(demo, shared, "approve")
        await showcased(demo, shared.title, featured=False)
        out(
            f"[{now:%a %H:%M}]   the founder approved it: Hana got a DM and 25 points; #showcase has it"
        )
    else:
        shared = await share_on_slack(demo, "U0M009", "Thirty days later", "public_anonymous")
        out(f"[{now:%a %H:%M}] Jun shared “{shared.title}” from Slack (publicly, without the name)")
        await decide_on_slack(demo, shared, "feature")
        await showcased(demo, shared.title, featured=True)
        out(f"[{now:%a %H:%M}]   the founder featured it: ⭐ in #showcase, and on /proof.json")


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
        out(f"  proof:    {base}/proof.json  (the approved, public member posts)")
        out(
            f"  Discord sandbox API: {demo.discord.api_base}   Slack sandbox API: {demo.slack.api_base}"
        )
        out(
            "  Rituals 'Office Hours' and 'Monday Wins' fire within ~10 s; members check in as they post."
        )
        out(
            "  Members chat in #general every few seconds and earn points: try /rank and /leaderboard."
        )
        out("  shop:     Hana's personal /buy link (the sandbox's pay page; click Pay):")
        out(f"            {await buy_link(demo, BUYER, 'Hana')}")
        out("            once paid, Hana gets the Insider role in the Discord sandbox.")
        out("Press Ctrl-C to stop.")
        insider = False
        rng = random.Random(11)
        seen: set[str] = set()
        elapsed = 0
        try:
            while not demo.stop.is_set():
                await asyncio.sleep(1)
                elapsed += 1
                if elapsed in UGC_SCENE:
                    try:
                        await _ugc_scene(demo, UGC_SCENE.index(elapsed), out)
                    except Exception as exc:  # the demo goes on; say what did not happen
                        out(f"  (the UGC scene stopped: {type(exc).__name__}: {exc})")
                if not insider and PAID_ROLE in demo.discord.member_roles(GUILD, BUYER):
                    insider = True
                    out(
                        f"[{clock.now():%a %H:%M}] Hana paid: the Insider role is hers (/access why)"
                    )
                if elapsed % CHAT_EVERY == 0:
                    try:
                        await chatter(demo, rng, out)
                    except Exception as exc:  # the demo goes on; say what did not happen
                        out(f"  (the chat stopped: {type(exc).__name__}: {exc})")
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
