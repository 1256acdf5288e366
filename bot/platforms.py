"""Attach the configured front ends (Discord, Slack) to a runtime."""

from __future__ import annotations

from bot.runtime import Runtime


def attach_platforms(runtime: Runtime) -> None:
    """Create the front ends for which tokens are configured."""
    # Filled in by the platforms issue (bot/discord, bot/slack).
    return None
