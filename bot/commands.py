"""How a member types a command on each platform, for the messages the core writes.

Discord has a slash command per feature (``/ritual remind``); Slack has one slash command
with verbs (``/flywheel ritual remind``), named by ``[slack] command``. The verbs are the
same on both, so the core names a command by its verbs and each platform spells it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.messages import Code

DEFAULT_SLACK_COMMAND = "/flywheel"


@dataclass(frozen=True)
class CommandNames:
    """The command names of this deployment."""

    slack_command: str = DEFAULT_SLACK_COMMAND

    def typed(self, platform: str, verbs: str) -> str:
        """Return the command exactly as a member of ``platform`` types it."""
        if platform == "slack":
            return f"{self.slack_command} {verbs}"
        return f"/{verbs}"

    def code(self, platform: str, verbs: str) -> Code:
        """Return the command as a code span of a message body."""
        return Code(text=self.typed(platform, verbs))

    def spell(self, platform: str, verbs: str) -> str:
        """Return the command as a member of ``platform`` types it, in backticks."""
        return f"`{self.typed(platform, verbs)}`"
