"""Badges on Discord: /badge award|revoke|create for moderators, /badges for everyone.

The service (:mod:`bot.services.recognition`) checks the role, the badge and the member;
this module resolves the Discord member named in an option, calls it and renders the answer.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncSession

from bot.discord.bot import FlywheelBot, send_ephemeral, send_modal
from bot.discord.forms import ReopeningModal, reprompt
from bot.discord.render import fit_choices, paged
from bot.errors import Invalid
from bot.inputs import shorten
from bot.services import recognition
from bot.services.callers import Actor, Caller, Role, require, resolve_actor
from bot.text import discord_escape

Interaction = discord.Interaction[FlywheelBot]
CREATE_FORM = "badge-create"
PER_PAGE = 10


def echo(text: str, limit: int = 60) -> str:
    """Return member or moderator text to quote back: cut, then escaped."""
    return discord_escape(shorten(text, limit))


def _badge(view: recognition.BadgeView) -> str:
    return f"{echo(view.emoji, 32)} **{echo(view.name)}**"


async def badge_choices(interaction: Interaction, typed: str) -> list[app_commands.Choice[str]]:
    """Offer the badges whose names contain what is typed."""
    runtime = interaction.client.runtime
    async with runtime.sessions() as session:
        names = await recognition.badge_names(session, runtime.community_id, typed)
    return [
        app_commands.Choice(name=name, value=value)
        for name, value in fit_choices((n, n) for n in names)
    ]


async def _member(
    bot: FlywheelBot, session: AsyncSession, actor: Actor, member: discord.Member | discord.User
) -> int:
    """Return the member id of a Discord member named in an option (never reviving the erased)."""
    if member.bot:
        raise Invalid("Bots don't hold badges; name a member.", field="member")
    caller = Caller(
        "discord", actor.caller.space_id, str(member.id), member.display_name, Role.MEMBER
    )
    found = await resolve_actor(
        session,
        bot.runtime.clock,
        community_id=actor.community_id,
        caller=caller,
        explicit=False,
    )
    return found.member_id


class BadgeModal(ReopeningModal):
    """The /badge create form: name, emoji, description and an optional rule."""

    def __init__(self, bot: FlywheelBot, typed: dict[str, str] | None = None) -> None:
        super().__init__(title="New badge", custom_id=CREATE_FORM)
        self.bot = bot
        shown = typed or {}

        def field(key: str, label: str, **options: object) -> discord.ui.TextInput[BadgeModal]:
            text = discord.ui.TextInput[BadgeModal](
                custom_id=key,
                label=label,
                default=shown.get(key) or None,
                **options,  # type: ignore[arg-type]
            )
            self.add_item(text)
            return text

        self.name = field("name", "Name", max_length=60)
        self.emoji = field("emoji", "Emoji", max_length=32)
        self.description = field(
            "description",
            "What it is for (optional)",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=300,
        )
        self.rule = field(
            "rule",
            "Rule (empty: only moderators give it)",
            placeholder="e.g. rituals_attended >= 4, or points >= 500",
            required=False,
            max_length=60,
        )

    def reopened(self) -> BadgeModal:
        """Return the form as the moderator typed it."""
        typed = {
            "name": self.name.value,
            "emoji": self.emoji.value,
            "description": self.description.value,
            "rule": self.rule.value,
        }
        return BadgeModal(self.bot, typed)

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Create the badge."""
        draft = recognition.BadgeDraft(
            name=self.name.value,
            emoji=self.emoji.value,
            description=self.description.value,
            rule=self.rule.value,
        )
        try:
            async with self.bot.acting(interaction) as (session, actor):
                made = await recognition.create_badge(session, self.bot.runtime.clock, actor, draft)
        except Invalid as error:
            await reprompt(interaction, error, self.reopened)
            return
        await send_ephemeral(interaction, f"Created the badge {_badge(made.badge)}: {made.how}.")


class Badges(commands.Cog):
    """/badge for moderators (award, revoke, create) and /badges for everyone."""

    badge = app_commands.Group(
        name="badge", description="Give, take back and create badges", guild_only=True
    )

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    @app_commands.autocomplete(badge=badge_choices)
    @badge.command(name="award", description="Give a member a badge (moderators)")
    @app_commands.describe(member="Who gets it", badge="The badge")
    async def award(self, interaction: Interaction, member: discord.Member, badge: str) -> None:
        """Give a member a badge by hand."""
        async with self.bot.acting(interaction) as (session, actor):
            require(actor, Role.MODERATOR)
            target = await _member(self.bot, session, actor, member)
            given = await recognition.award(session, self.bot.runtime.clock, actor, target, badge)
        await send_ephemeral(
            interaction,
            f"{echo(member.display_name, 40)} now has {_badge(given.badge)}; "
            + (recognition.AWARD_TOLD if given.announced else recognition.AWARD_TOLD_QUIETLY),
        )

    @app_commands.autocomplete(badge=badge_choices)
    @badge.command(name="revoke", description="Take a badge back (moderators)")
    @app_commands.describe(member="Who loses it", badge="The badge")
    async def revoke(self, interaction: Interaction, member: discord.Member, badge: str) -> None:
        """Take a badge back."""
        async with self.bot.acting(interaction) as (session, actor):
            require(actor, Role.MODERATOR)
            target = await _member(self.bot, session, actor, member)
            taken = await recognition.revoke(session, self.bot.runtime.clock, actor, target, badge)
        await send_ephemeral(
            interaction,
            f"{echo(member.display_name, 40)} no longer has {_badge(taken.badge)}.",
        )

    @badge.command(name="create", description="Create a badge (moderators)")
    async def create(self, interaction: Interaction) -> None:
        """Open the badge form."""
        async with self.bot.looking_up(interaction) as (_, caller):
            require(caller, Role.MODERATOR)
        await send_modal(interaction, BadgeModal(self.bot))

    @app_commands.command(name="badges", description="A member's badges, and every badge there is")
    @app_commands.describe(member="Whose badges (default: yours)", page="Page of the list")
    @app_commands.guild_only()
    async def badges(
        self,
        interaction: Interaction,
        member: discord.Member | None = None,
        page: app_commands.Range[int, 1, 100] = 1,
    ) -> None:
        """List a member's badges, then the catalogue and how each badge is earned."""
        async with self.bot.acting(interaction) as (session, actor):
            if member is None or member.id == interaction.user.id:
                whose, name = actor.member_id, "Your"
            else:
                whose = await _member(self.bot, session, actor, member)
                name = f"{echo(member.display_name, 40)}'s"
            held = await recognition.held_badges(session, whose)
            every = await recognition.catalogue(session, actor.community_id)
        lines = [f"**{name} badges**"]
        lines += [f"{_badge(h.badge)} · {h.awarded_at:%d %b %Y}" for h in held] or ["None yet."]
        lines.append("**Every badge**")
        lines += [
            f"{_badge(e.badge)} · {e.how} · {e.holders} hold it"
            + (f"\n> {echo(e.description, 150)}" if e.description else "")
            for e in every
        ]
        await send_ephemeral(interaction, paged(lines, page, "/badges", PER_PAGE))
