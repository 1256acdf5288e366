"""The review buttons on Discord: Approve, Reject (with its form) and Feature under a queue post,
Share yours under a prompt; they outlive restarts (DynamicItem)."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.discord.bot import (
    report_failure,
    send_ephemeral,
    send_modal,
)
from bot.discord.forms import ReopeningModal
from bot.models import SubmissionStatus
from bot.services import ugc
from bot.services.callers import Role, require
from bot.text import discord_escape
from cogs.ugc._forms import SubmissionModal
from cogs.ugc._shared import REJECT_FORM, UID, Interaction, echo, open_prompt


def decided_text(result: ugc.DecisionResult) -> str:
    """Tell the moderator what their click did, or who decided first."""
    if not result.decided_now:
        if result.outcome == SubmissionStatus.WITHDRAWN:
            return "The member withdrew this submission; there is nothing to decide."
        by = discord_escape(result.decided_by or "a moderator")
        at = f" at <t:{int(result.decided_at.timestamp())}:t>" if result.decided_at else ""
        return f"Already {result.outcome} by {by}{at}; nothing changed."
    author = echo(result.author or "The member", 80)
    if result.outcome == "rejected":
        return f"Rejected: {author} gets a DM with the reason."
    gains = f"{result.points} points and a DM" if result.points else "a DM"
    if result.outcome == "featured":
        return f"Featured: {author} gets {gains}; the showcase marks it as featured."
    return f"Approved: {author} gets {gains}."


async def decide_for(
    interaction: Interaction, uid: str, decision: ugc.Decision, reason: str = ""
) -> None:
    bot = interaction.client
    runtime = bot.runtime
    async with bot.acting(interaction) as (session, actor):
        result = await ugc.decide(
            session,
            runtime.clock,
            actor,
            uid,
            decision,
            reason=reason,
            rules=ugc.UgcRules.of(runtime.settings),
            store=runtime.media,
            commands=runtime.commands,
        )
    await send_ephemeral(interaction, decided_text(result))


class RejectModal(ReopeningModal):
    """Why a submission is rejected: a listed reason, or the moderator's own words."""

    def __init__(self, uid: str, *, typed: dict[str, str] | None = None) -> None:
        super().__init__(title="Reject this submission", custom_id=REJECT_FORM)
        self.uid = uid
        shown = typed or {}
        self.listed = discord.ui.RadioGroup[RejectModal](
            custom_id="reason",
            required=False,
            options=[
                discord.RadioGroupOption(
                    label=words[:1].upper() + words[1:],
                    value=key,
                    default=key == shown.get("reason"),
                )
                for key, words in ugc.REJECT_REASONS.items()
            ],
        )
        self.own = discord.ui.TextInput[RejectModal](
            custom_id="own",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=ugc.REASON_LENGTH,
            default=shown.get("own") or None,
        )
        self.add_item(discord.ui.Label(text="Reason (the member is told)", component=self.listed))
        self.add_item(
            discord.ui.Label(
                text="Or in your own words",
                description="Used instead when given",
                component=self.own,
            )
        )

    def reopened(self) -> RejectModal:
        """Return the form as the moderator left it."""
        return RejectModal(
            self.uid, typed={"reason": self.listed.value or "", "own": self.own.value}
        )

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Reject with the moderator's words if given, else the listed reason."""
        reason = self.own.value if self.own.value.strip() else (self.listed.value or "")
        await decide_for(interaction, self.uid, ugc.Decision.REJECT, reason)


class DecisionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"ugc-(?:approve|reject|feature):{UID}",
):
    """Approve, Reject and Feature under a queue post; they work across restarts."""

    def __init__(self, custom_id: str) -> None:
        super().__init__(discord.ui.Button(label="Decide", custom_id=custom_id))

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> DecisionButton:
        """Rebuild the button from its custom id."""
        return cls(match.group(0))

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Decide at once, or ask why first (Reject)."""
        parsed = ugc.decision_of_button(self.custom_id)
        if parsed is None:
            return
        decision, uid = ugc.Decision(parsed[0]), parsed[1]
        try:
            if decision == ugc.Decision.REJECT:
                async with interaction.client.looking_up(interaction) as (_, caller):
                    require(caller, Role.MODERATOR)
                await send_modal(interaction, RejectModal(uid))
            else:
                await decide_for(interaction, uid, decision)
        except Exception as exc:  # every failure is answered by the one handler
            await report_failure(interaction, exc)


class ShareButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"ugc-share:(?P<prompt>{UID})"
):
    """Share yours, under a prompt's post: opens the form for that prompt."""

    def __init__(self, prompt_uid: str) -> None:
        super().__init__(
            discord.ui.Button(label="Share yours", custom_id=f"ugc-share:{prompt_uid}")
        )
        self.prompt_uid = prompt_uid

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> ShareButton:
        """Rebuild the button from its custom id."""
        return cls(match["prompt"])

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Open the submission form, its story started from the prompt's template."""
        bot = interaction.client
        try:
            async with bot.looking_up(interaction) as (session, _):
                prompt = await open_prompt(bot, session, self.prompt_uid)
            await send_modal(interaction, SubmissionModal(bot, prompt=prompt))
        except Exception as exc:  # every failure is answered by the one handler
            await report_failure(interaction, exc)
