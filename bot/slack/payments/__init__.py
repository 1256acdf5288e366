"""Payments on Slack: one module per part, each adding its verbs, listeners and buttons here."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.front import SlackFront
from bot.slack.payments import access, buying, claims

__all__ = ["register"]


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add payments' parts (one line per part)."""
    access.register(app, front)
    claims.register(app, front)
    buying.register(app, front)
