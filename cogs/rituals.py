"""Rituals on Discord: /ritual commands, the check-in button, reactions and thread replies."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.acting import acting
from bot.discord.bot import ConfirmView, FlywheelBot, send_ephemeral, send_modal
from bot.discord.forms import ReopeningModal
from bot.discord.render import fit_choices, pages
from bot.errors import FlywheelError
from bot.services import rituals
from bot.services.callers import Caller, Role, require, resolve_actor
from bot.text import discord_escape

log = logging.getLogger(__name__)
Interaction = discord.Interaction[FlywheelBot]
TEMPLATE_CHOICES = [
    app_commands.Choice(name=template.name, value=key)
    for key, template in rituals.TEMPLATES.items()
]
PAGE = 10  # at most this many rituals a page, fewer when their lines are long
CONFIRM_SECONDS = 120.0


def _when(view: rituals.RitualView) -> str:
    if view.paused:
        return "paused"
    if view.next_fire is None:
        return "no upcoming time"
    return f"next <t:{int(view.next_fire.timestamp())}:F>"


def _form_values(spec: rituals.RitualSpec) -> dict[str, str]:
    """Return the form's fields as text, from a spec (a template, or the ritual as it is)."""
    return {
        "name": spec.name,
        "schedule": spec.schedule,
        "timezone": spec.timezone,
        "prompt": spec.prompt,
        "reminders": ", ".join(f"{m}m" for m in spec.reminder_minutes),
    }


class RitualModal(ReopeningModal):
    """The create/edit form: five fields, validated by the service on submit.

    A refusal is answered with a Fix it button that reopens the form as it was typed.
    """

    def __init__(
        self,
        bot: FlywheelBot,
        *,
        spec: rituals.RitualSpec,
        editing: str | None,
        typed: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title="Edit ritual" if editing else "New ritual", custom_id="ritual-form")
        self.bot = bot
        self.spec = spec
        self.editing = editing
        shown = typed or _form_values(spec)
        self.name = discord.ui.TextInput[RitualModal](
            custom_id="name", label="Name", default=shown["name"], max_length=80
        )
        self.schedule = discord.ui.TextInput[RitualModal](
            custom_id="schedule",
            label="Schedule (e.g. weekly fri 12:00)",
            default=shown["schedule"],
            max_length=60,
        )
        self.timezone = discord.ui.TextInput[RitualModal](
            custom_id="timezone",
            label="Time zone (IANA, e.g. Europe/Berlin)",
            default=shown["timezone"],
            max_length=64,
        )
        self.prompt = discord.ui.TextInput[RitualModal](
            custom_id="prompt",
            label="Prompt members see",
            default=shown["prompt"],
            style=discord.TextStyle.paragraph,
            max_length=1500,
        )
        self.reminders = discord.ui.TextInput[RitualModal](
            custom_id="reminders",
            label="Reminders before (e.g. 24h, 1h; empty = none)",
            default=shown["reminders"],
            required=False,
            max_length=40,
        )
        for item in (self.name, self.schedule, self.timezone, self.prompt, self.reminders):
            self.add_item(item)

    def reopened(self) -> RitualModal:
        """Return the same form holding what the member typed."""
        typed = {
            "name": self.name.value,
            "schedule": self.schedule.value,
            "timezone": self.timezone.value,
            "prompt": self.prompt.value,
            "reminders": self.reminders.value or "",
        }
        return RitualModal(self.bot, spec=self.spec, editing=self.editing, typed=typed)

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Create or update the ritual from the form."""
        clock = self.bot.runtime.clock
        leads = rituals.parse_minutes(self.reminders.value or "")
        async with self.bot.acting(interaction) as (session, actor):
            if self.editing:
                changes = rituals.RitualChanges(
                    name=self.name.value,
                    schedule=self.schedule.value,
                    timezone=self.timezone.value,
                    prompt=self.prompt.value,
                    reminder_minutes=leads,
                )
                view = await rituals.edit_ritual(session, clock, actor, self.editing, changes)
            else:
                spec = replace(
                    self.spec,
                    name=self.name.value,
                    schedule=self.schedule.value,
                    timezone=self.timezone.value,
                    prompt=self.prompt.value,
                    reminder_minutes=leads,
                )
                view = await rituals.create_ritual(session, clock, actor, spec)
        verb = "Updated" if self.editing else "Created"
        await send_ephemeral(
            interaction,
            f"{verb} **{discord_escape(view.name)}**: {view.schedule} ({view.timezone}), {_when(view)}.",
        )


class CheckinButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"ritual-checkin:(?P<occurrence>[0-9a-z]{1,24})",
):
    """The check-in button under every ritual post; it works across restarts."""

    def __init__(self, occurrence_uid: str) -> None:
        super().__init__(
            discord.ui.Button(label="Check in", custom_id=rituals.checkin_button_id(occurrence_uid))
        )
        self.occurrence_uid = occurrence_uid

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> CheckinButton:
        """Rebuild the button from its custom id."""
        return cls(match["occurrence"])

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Check the clicker in, once."""
        bot = interaction.client
        try:
            async with bot.acting(interaction) as (session, actor):
                result = await rituals.checkin(
                    session,
                    bot.runtime.clock,
                    occurrence_uid=self.occurrence_uid,
                    member_id=actor.member_id,
                    method="button",
                )
        except FlywheelError as exc:
            await send_ephemeral(interaction, exc.message)
            return
        name = discord_escape(result.ritual_name)
        if result.counted:
            text = f"Checked in to {name}: +{result.points} points. {result.total_checkins} here so far."
        else:
            text = f"You're already checked in to {name}."
        await send_ephemeral(interaction, text)


async def ritual_name_choices(
    interaction: Interaction, typed: str
) -> list[app_commands.Choice[str]]:
    """Offer the community's ritual names that contain what the member has typed."""
    runtime = interaction.client.runtime
    async with runtime.sessions() as session:
        names = await rituals.ritual_names(session, runtime.community_id, typed)
    return [
        app_commands.Choice(name=label, value=value)
        for label, value in fit_choices((name, name) for name in names)
    ]


class Rituals(commands.Cog):
    """/ritual and the ways members check in."""

    ritual = app_commands.Group(
        name="ritual", description="Weekly community moments", guild_only=True
    )
    host = app_commands.Group(name="host", description="Hosts of a ritual", parent=ritual)

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Make check-in buttons of earlier posts work after a restart."""
        self.bot.add_dynamic_items(CheckinButton)

    @property
    def clock(self) -> Any:
        """Return the runtime's clock."""
        return self.bot.runtime.clock

    @ritual.command(name="create", description="Create a ritual (moderators)")
    @app_commands.describe(template="Start from a classic ritual")
    @app_commands.choices(template=TEMPLATE_CHOICES)
    async def create(
        self, interaction: Interaction, template: app_commands.Choice[str] | None = None
    ) -> None:
        """Open the ritual form, prefilled from a template if one was chosen."""
        # The first answer is the modal: no deferral, no transaction (see looking_up).
        async with self.bot.looking_up(interaction) as (_, caller):
            require(caller, Role.MODERATOR)
        settings = self.bot.runtime.settings
        channel = str(interaction.channel_id)
        if template:
            spec = rituals.spec_from_template(
                template.value,
                timezone=settings.community.timezone,
                channel_id=channel,
            )
        else:
            spec = rituals.RitualSpec(
                name="",
                schedule="weekly fri 12:00",
                timezone=settings.community.timezone,
                prompt="",
                channel_id=channel,
            )
        await send_modal(interaction, RitualModal(self.bot, spec=spec, editing=None))

    @app_commands.autocomplete(name=ritual_name_choices)
    @ritual.command(name="edit", description="Edit a ritual (moderators)")
    async def edit(self, interaction: Interaction, name: str) -> None:
        """Open the form with the ritual's current values."""
        async with self.bot.looking_up(interaction) as (session, caller):
            require(caller, Role.MODERATOR)
            found = await rituals.ritual_spec(
                session, self.bot.runtime.community_id, name, platform="discord"
            )
        await send_modal(interaction, RitualModal(self.bot, spec=found, editing=found.name))

    async def _toggle(self, interaction: Interaction, name: str, paused: bool) -> None:
        async with self.bot.acting(interaction) as (session, actor):
            view = await rituals.set_paused(session, self.clock, actor, name, paused)
        state = "Paused" if paused else "Resumed"
        await send_ephemeral(
            interaction, f"{state} **{discord_escape(view.name)}** ({_when(view)})."
        )

    @app_commands.autocomplete(name=ritual_name_choices)
    @ritual.command(name="pause", description="Pause a ritual (moderators)")
    async def pause(self, interaction: Interaction, name: str) -> None:
        """Stop a ritual from firing until resumed."""
        await self._toggle(interaction, name, True)

    @app_commands.autocomplete(name=ritual_name_choices)
    @ritual.command(name="resume", description="Resume a paused ritual (moderators)")
    async def resume(self, interaction: Interaction, name: str) -> None:
        """Let a paused ritual fire again from now on."""
        await self._toggle(interaction, name, False)

    @app_commands.autocomplete(name=ritual_name_choices)
    @ritual.command(name="delete", description="Delete a ritual and its history (moderators)")
    async def delete(self, interaction: Interaction, name: str) -> None:
        """Ask the moderator to confirm, with buttons only they can press."""
        async with self.bot.acting(interaction) as (session, actor):
            require(actor, Role.MODERATOR)
            # Look it up now, so a typo is answered before anyone is asked to confirm.
            found = await rituals.ritual_spec(session, actor.community_id, name, platform="discord")
        escaped = discord_escape(found.name)

        async def delete(clicked: Interaction) -> str:
            # The service checks the clicker's role again.
            deleted = await self.bot.in_transaction(
                clicked,
                lambda session, actor: rituals.delete_ritual(
                    session, self.clock, actor, found.name
                ),
            )
            return f"Deleted **{discord_escape(deleted)}**."

        prompt = ConfirmView(
            interaction,
            on_confirm=delete,
            confirm_label="Delete it",
            cancel_label="Keep it",
            cancelled_text="Nothing was deleted.",
            expired_text="This request expired; nothing was deleted.",
            timeout=CONFIRM_SECONDS,
        )
        await send_ephemeral(
            interaction,
            f"**Delete {escaped}?** Its schedule, past occurrences and check-ins go with it; "
            "points already earned stay. This cannot be undone.",
            view=prompt,
        )

    @app_commands.autocomplete(name=ritual_name_choices)
    @ritual.command(name="run-now", description="Post a ritual right now (moderators)")
    async def run_now(self, interaction: Interaction, name: str) -> None:
        """Fire a ritual outside its schedule."""
        async with self.bot.acting(interaction) as (session, actor):
            await rituals.run_now(session, self.clock, actor, name)
        await send_ephemeral(interaction, f"Posting **{discord_escape(name)}** now.")

    @ritual.command(name="list", description="List the community's rituals")
    async def list_(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List rituals, soonest first, ten per page."""
        async with self.bot.acting(interaction) as (session, actor):
            views = await rituals.list_rituals(session, self.clock, actor.community_id)
        if not views:
            await send_ephemeral(
                interaction, "No rituals yet. Moderators create one with `/ritual create`."
            )
            return
        lines = [
            f"**{discord_escape(v.name)}**: {v.schedule} ({v.timezone}), {_when(v)}" for v in views
        ]
        # Ten a page, and as many fewer as it takes to fit Discord's 2,000 characters.
        found = [
            part
            for start in range(0, len(lines), PAGE)
            for part in pages(lines[start : start + PAGE])
        ]
        shown = min(page, len(found))
        text = found[shown - 1]
        if len(found) > 1:
            following = (
                f"`/ritual list page:{shown + 1}` for more"
                if shown < len(found)
                else "the last page"
            )
            text += f"\nPage {shown} of {len(found)}: {following}."
        await send_ephemeral(interaction, text)

    @app_commands.autocomplete(name=ritual_name_choices)
    @ritual.command(name="preview", description="Show a ritual's next five times")
    async def preview(self, interaction: Interaction, name: str) -> None:
        """Show the next fire times, local and UTC."""
        async with self.bot.acting(interaction) as (session, actor):
            times = await rituals.preview(session, self.clock, actor.community_id, name)
        lines = [f"{t.local:%a %d %b %Y %H:%M %Z} · {t.utc:%H:%M} UTC" for t in times]
        await send_ephemeral(
            interaction, f"Next times of **{discord_escape(name)}**:\n" + "\n".join(lines)
        )

    @app_commands.autocomplete(name=ritual_name_choices)
    @ritual.command(name="remind", description="Get (or stop) a DM before a ritual")
    async def remind(self, interaction: Interaction, name: str, on: bool) -> None:
        """Opt in or out of reminder DMs."""
        async with self.bot.acting(interaction) as (session, actor):
            await rituals.set_reminder(session, actor, name, on)
        text = "I'll DM you before it starts." if on else "No more reminder DMs for it."
        await send_ephemeral(interaction, f"**{discord_escape(name)}**: {text}")

    @app_commands.autocomplete(name=ritual_name_choices)
    @ritual.command(name="checkin", description="Check in to the ritual happening now")
    async def checkin(self, interaction: Interaction, name: str | None = None) -> None:
        """Check in without the button."""
        async with self.bot.acting(interaction) as (session, actor):
            result = await rituals.checkin_current(session, self.clock, actor, name)
        done = f"+{result.points} points" if result.counted else "you were already checked in"
        await send_ephemeral(interaction, f"{discord_escape(result.ritual_name)}: {done}.")

    @app_commands.autocomplete(name=ritual_name_choices)
    @host.command(name="add", description="Add a host or co-host (moderators)")
    async def host_add(self, interaction: Interaction, name: str, member: discord.Member) -> None:
        """Make a member a host of a ritual."""
        async with self.bot.acting(interaction) as (session, actor):
            caller = Caller(
                "discord",
                str(interaction.guild_id),
                str(member.id),
                member.display_name,
                Role.MEMBER,
            )
            hosted = await resolve_actor(
                session, self.clock, community_id=actor.community_id, caller=caller
            )
            added = await rituals.add_host(session, self.clock, actor, name, hosted.member_id)
        already = "" if added else "already "
        await send_ephemeral(
            interaction,
            f"{discord_escape(member.display_name)} {already}hosts **{discord_escape(name)}**.",
        )

    async def _member_checkin(self, guild_id: int, user: discord.abc.User, work: Any) -> None:
        caller = Caller("discord", str(guild_id), str(user.id), user.display_name, Role.MEMBER)
        try:
            # A reaction or a reply is passive: it never brings back an erased member.
            async with acting(self.bot.runtime, caller, explicit=False) as (session, actor):
                await work(session, actor)
        except FlywheelError as exc:
            log.info("check-in by %s not counted: %s", user.id, exc.message)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """A reaction on a ritual post checks the member in."""
        if payload.guild_id is None or payload.member is None or payload.member.bot:
            return
        if not self.bot.serves(payload.guild_id):
            return
        # Most reactions are not on a ritual post: find out without a write transaction
        # (which would create the member and bind the guild for nothing).
        async with self.bot.reads() as session:
            occurrence = await rituals.occurrence_for_post(
                session, platform="discord", message_id=str(payload.message_id)
            )
        if occurrence is None:
            return

        async def work(session: Any, actor: Any) -> None:
            await rituals.checkin(
                session,
                self.clock,
                occurrence_uid=occurrence,
                member_id=actor.member_id,
                method="reaction",
            )

        await self._member_checkin(payload.guild_id, payload.member, work)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A reply in a ritual's thread checks the member in and counts the links shared."""
        if (
            message.author.bot
            or message.guild is None
            or not isinstance(message.channel, discord.Thread)
            or not self.bot.serves(message.guild.id)
        ):
            return
        thread_id = str(message.channel.id)  # a thread started from a message has that message's id

        async def work(session: Any, actor: Any) -> None:
            await rituals.checkin_by_reply(
                session,
                self.clock,
                platform="discord",
                parent_id=thread_id,
                member_id=actor.member_id,
                text=message.content,
            )

        await self._member_checkin(message.guild.id, message.author, work)


async def setup(bot: FlywheelBot) -> None:
    """Load the rituals cog."""
    await bot.add_cog(Rituals(bot))
