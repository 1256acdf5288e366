"""Recognition on Slack: one module per part (chat and reactions, accepted answers, badges,
the boards and the Home tab summary), each adding its verbs, listeners and buttons here.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.front import SlackFront
from bot.slack.recognition import answers, badges, boards, chat

__all__ = ["register"]


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add recognition's parts (one line per part)."""
    chat.register_events(front)  # events go through front.events
    boards.register(app, front)
    answers.register(app, front)
    badges.register(app, front)
