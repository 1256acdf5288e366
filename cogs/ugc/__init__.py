"""UGC on Discord: /share (submit, withdraw, mine), /ugc (prompts, the queue) and the buttons
on the posts the outbox sends (Approve, Reject, Feature under a queue post; Share yours under a
prompt). Everything typed is checked by :mod:`bot.services.ugc`; this module parses, calls it
inside ``acting`` and renders the answer.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import ConfirmView, FlywheelBot, send_ephemeral, send_modal
from bot.discord.render import paged
from bot.models import Consent
from bot.services import ugc
from bot.services.callers import Role, require
from cogs.ugc._forms import PromptModal, SubmissionModal, my_submission_choices, prompt_choices
from cogs.ugc._review import DecisionButton, ShareButton
from cogs.ugc._shared import (
    CONFIRM_SECONDS,
    LIST_PAGE,
    MINE_LIMIT,
    QUEUE_PAGE,
    STATUS_WORDS,
    Interaction,
    age,
    echo,
    open_prompt,
    refuse_oversized,
)


def _prompt_line(view: ugc.PromptView) -> str:
    parts = [f"**{echo(view.title, 100)}**"]
    if not view.open:
        parts.append("closed")
    elif view.deadline_text:
        parts.append(f"open until {view.deadline_text}")
    if view.ritual:
        parts.append(f"in {echo(view.ritual)}")
    parts.append(f"{view.submissions} shared")
    line = " · ".join(parts)
    return f"{line}\n> {echo(view.brief, 150)}" if view.brief else line


class Ugc(commands.Cog):
    """/share for members, /ugc for prompts and the review queue."""

    share = app_commands.Group(
        name="share", description="Share your work with the community", guild_only=True
    )
    ugc_group = app_commands.Group(
        name="ugc", description="Prompts and the review queue", guild_only=True
    )
    prompt = app_commands.Group(name="prompt", description="UGC prompts", parent=ugc_group)

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Make the buttons of earlier posts work after a restart."""
        self.bot.add_dynamic_items(DecisionButton, ShareButton)

    @app_commands.autocomplete(prompt=prompt_choices)
    @share.command(name="submit", description="Share your work: moderators review it")
    @app_commands.describe(
        prompt="The prompt you are answering (optional)",
        file="A file, if the form's upload does not work for you",
    )
    async def submit(
        self,
        interaction: Interaction,
        prompt: str | None = None,
        file: discord.Attachment | None = None,
    ) -> None:
        """Open the submission form."""
        chosen = None
        # The first answer is the modal: no deferral, no transaction (see looking_up).
        async with self.bot.looking_up(interaction) as (session, _):
            if prompt is not None and prompt.strip():
                chosen = await open_prompt(self.bot, session, prompt)
        if file is not None:
            refuse_oversized(self.bot, [file])
        await send_modal(interaction, SubmissionModal(self.bot, prompt=chosen, fallback=file))

    @app_commands.autocomplete(submission=my_submission_choices)
    @share.command(name="withdraw", description="Take back something you shared")
    @app_commands.describe(
        submission="One of your submissions", delete="Delete it entirely, not only withdraw it"
    )
    async def withdraw(
        self, interaction: Interaction, submission: str, delete: bool = False
    ) -> None:
        """Withdraw consent for a submission, or (after asking) delete it."""
        runtime = self.bot.runtime
        if not delete:
            async with self.bot.acting(interaction) as (session, actor):
                view = await ugc.withdraw(
                    session, runtime.clock, actor, submission, delete=False, store=runtime.media
                )
            await send_ephemeral(
                interaction,
                f"“{echo(view.title)}” is withdrawn: it is shown nowhere public any more, and "
                "any post of it now says you withdrew it.",
            )
            return
        async with self.bot.acting(interaction) as (session, actor):
            mine = await ugc.my_submissions(session, actor, typed=submission, limit=2)
        named = mine[0].title if len(mine) == 1 else submission

        async def delete_it(clicked: Interaction) -> str:
            view = await self.bot.in_transaction(
                clicked,
                lambda session, actor: ugc.withdraw(
                    session, runtime.clock, actor, submission, delete=True, store=runtime.media
                ),
            )
            return (
                f"Deleted “{echo(view.title)}”: it and its files are gone, and any post of it "
                "now says you withdrew it."
            )

        confirm = ConfirmView(
            interaction,
            on_confirm=delete_it,
            confirm_label="Delete it",
            cancel_label="Keep it",
            cancelled_text="Nothing was deleted.",
            expired_text="This request expired; nothing was deleted.",
            timeout=CONFIRM_SECONDS,
        )
        await send_ephemeral(
            interaction,
            f"**Delete “{echo(named)}”?** Its text and files are removed for good; points "
            "already earned stay.",
            view=confirm,
        )

    @share.command(name="mine", description="What you have shared, and where it stands")
    async def mine(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List the member's submissions, newest first."""
        async with self.bot.acting(interaction) as (session, actor):
            views = await ugc.my_submissions(session, actor, limit=MINE_LIMIT)
        if not views:
            await send_ephemeral(
                interaction, "You have not shared anything yet: try `/share submit`."
            )
            return
        lines = []
        for view in views:
            status = "featured" if view.featured else STATUS_WORDS[view.status]
            extra = f" · for {echo(view.prompt)}" if view.prompt else ""
            files = f" · {view.files} file{'s' * (view.files != 1)}" if view.files else ""
            lines.append(
                f"**{echo(view.title, 100)}** · {status} · {view.submitted_at:%d %b %Y}{files}{extra}"
            )
        await send_ephemeral(interaction, paged(lines, page, "/share mine", LIST_PAGE))

    @prompt.command(name="create", description="Ask members to share something (moderators)")
    @app_commands.describe(announce="Post it to the announcements channel (default: yes)")
    async def prompt_create(self, interaction: Interaction, announce: bool = True) -> None:
        """Open the prompt form."""
        async with self.bot.looking_up(interaction) as (_, caller):
            require(caller, Role.MODERATOR)
        await send_modal(interaction, PromptModal(self.bot, announce=announce))

    @app_commands.autocomplete(prompt=prompt_choices)
    @prompt.command(name="close", description="Stop a prompt taking submissions (moderators)")
    async def prompt_close(self, interaction: Interaction, prompt: str) -> None:
        """Close a prompt."""
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            view = await ugc.close_prompt(
                session,
                runtime.clock,
                actor,
                prompt,
                timezone=runtime.settings.community.timezone,
            )
        await send_ephemeral(
            interaction, f"**{echo(view.title)}** is closed: it takes no more submissions."
        )

    async def _prompts(self, interaction: Interaction, page: int, *, everything: bool) -> None:
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            if everything:
                require(actor, Role.MODERATOR)
            views = await ugc.list_prompts(
                session,
                runtime.clock,
                actor.community_id,
                timezone=runtime.settings.community.timezone,
                include_closed=everything,
            )
        if not views:
            await send_ephemeral(interaction, "No prompts are open right now.")
            return
        more = "/ugc prompt list" if everything else "/ugc prompts"
        await send_ephemeral(
            interaction, paged([_prompt_line(v) for v in views], page, more, LIST_PAGE)
        )

    @prompt.command(name="list", description="Every prompt, closed ones too (moderators)")
    async def prompt_list(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List all prompts for moderators."""
        await self._prompts(interaction, page, everything=True)

    @ugc_group.command(name="prompts", description="What the community asks you to share")
    async def prompts(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List the open prompts."""
        await self._prompts(interaction, page, everything=False)

    @ugc_group.command(name="queue", description="Submissions waiting for review (moderators)")
    async def queue(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        """List pending submissions, oldest first."""
        async with self.bot.acting(interaction) as (session, actor):
            found = await ugc.queue(session, actor, page=page, per_page=QUEUE_PAGE)
        if not found.items:
            await send_ephemeral(interaction, "Nothing is waiting for review.")
            return
        now = self.bot.runtime.clock.now()
        lines = [
            f"**{echo(item.title)}** by {echo(item.author, 40)} · waiting "
            f"{age(item.submitted_at, now)}"
            + (" · community only" if item.consent == Consent.COMMUNITY else "")
            for item in found.items
        ]
        text = "\n".join(lines)
        if found.pages > 1:
            following = (
                f"`/ugc queue page:{found.page + 1}` for more"
                if found.page < found.pages
                else "the last page"
            )
            text += f"\nPage {found.page} of {found.pages} ({found.total} waiting): {following}."
        await send_ephemeral(interaction, text)


async def setup(bot: FlywheelBot) -> None:
    """Load the UGC cog."""
    await bot.add_cog(Ugc(bot))
