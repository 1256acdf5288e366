"""Attach the configured front ends (Discord, Slack) and their outbox senders to a runtime.

This is the composition root: the one core module that reaches into the platform
adapters, and only when a token says the platform is wanted.
"""

from __future__ import annotations

from bot.runtime import Runtime


def attach_platforms(runtime: Runtime, *, slack_api: str | None = None) -> None:
    """Create the front ends for which tokens are configured (a sandbox Slack URL for the demo)."""
    settings = runtime.settings
    if settings.discord_enabled:
        from bot.discord.bot import DiscordPlatform

        runtime.platforms.append(DiscordPlatform(runtime))
    if settings.slack_enabled:
        from bot.slack.app import attach_slack

        attach_slack(runtime, api_base=slack_api)


def attach_web_only(runtime: Runtime) -> None:
    """Give `flywheel web` the HTTP-mode Slack endpoint and the outbox senders, without gateways."""
    settings = runtime.settings
    if settings.slack_enabled and settings.slack.mode == "http":
        from bot.slack.app import attach_slack

        attach_slack(runtime)
