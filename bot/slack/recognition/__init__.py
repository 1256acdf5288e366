"""Recognition on Slack: one module per part (chat and reactions, accepted answers, badges,
the boards and the Home tab summary), each adding its verbs, listeners and buttons here.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.front import SlackFront
from bot.slack.recognition import badges

__all__ = ["register"]


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add recognition's parts (one line per part)."""
    badges.register(app, front)
