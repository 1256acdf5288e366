"""The Discord front end: the bot that loads ``cogs/``, its one error handler, and the platform.

Cogs stay thin: they parse the interaction, run one service inside :meth:`FlywheelBot.acting`
(or :meth:`FlywheelBot.in_transaction`), and render the result after the commit. Whatever a
command or a button raises ends in :func:`report_failure`, which answers the member briefly
and only them.

Two rules hold for every reply, so features need not think of them:
- **Acknowledge first.** :meth:`FlywheelBot.acting` defers the interaction (ephemeral,
  "thinking") before it opens the transaction, so no database wait can make Discord's 3 s
  pass; the answer then fills in the deferred message. A command whose first answer is a
  modal cannot defer: it uses :meth:`FlywheelBot.looking_up` (no transaction, no write)
  and :func:`send_modal`.
- **Everything fits.** :func:`send_ephemeral`, :func:`edit_reply`, :func:`send_modal` and
  autocomplete answers go through the fitters in :mod:`bot.discord.render`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
import discord
import discord.http
from discord import app_commands
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncSession

from bot import acting as core
from bot.db import read_sessions
from bot.discord.checks import caller_from
from bot.discord.render import fit_content, fit_modal, fit_view
from bot.discord.sender import DiscordSender
from bot.errors import ConfigError, FlywheelError, one_line
from bot.features import front_end_modules
from bot.runtime import Runtime, bootstrap_community
from bot.services.callers import Actor, Caller
from bot.settings import DiscordSettings
from bot.text import discord_escape

log = logging.getLogger(__name__)

T = TypeVar("T")
Interaction = discord.Interaction[Any]

COG_PACKAGE = "cogs"
NOT_ALLOWED = "You don't have permission to use this command."
WRONG_USER = "Only the person who asked can use these buttons."


def intents_for(settings: DiscordSettings) -> discord.Intents:
    """Return the gateway intents the features need, and nothing more."""
    intents = discord.Intents.none()
    intents.guilds = True  # channels and roles: where to post, who moderates
    intents.members = True  # joins and role changes (privileged: enable it in the portal)
    intents.guild_messages = True  # activity points from messages (counted, not read)
    intents.guild_reactions = True  # activity points from reactions
    intents.message_content = settings.message_content_intent
    return intents


def _permission_names(names: list[str]) -> str:
    return ", ".join(name.replace("_", " ").replace("guild", "server").title() for name in names)


def describe_failure(error: BaseException, context: str = "interaction") -> str:
    """Turn what a command or button raised into the text to show, logging unexpected errors."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, FlywheelError):
        core.refused(error, f"Discord {context}")
        return discord_escape(error.message)
    if isinstance(error, app_commands.CommandOnCooldown):
        core.refused("cooldown", f"Discord {context}")
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.MissingPermissions):
        core.refused("forbidden", f"Discord {context}")
        return f"You need the {_permission_names(error.missing_permissions)} permission to do that."
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = _permission_names(error.missing_permissions)
        return f"I'm missing the {missing} permission here; ask a moderator to grant it."
    if isinstance(error, app_commands.CheckFailure):
        core.refused("forbidden", f"Discord {context}")
        return NOT_ALLOWED
    if isinstance(error, app_commands.TransformerError):
        core.refused("option.unreadable", f"Discord {context}")
        return "That value doesn't fit this option; check it and try again."
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        # Discord still shows a command from before the last sync: not the member's fault.
        log.warning("stale Discord command: %s", error)
        return "This command has just changed; try again in a minute."
    return core.unexpected_failure(error, f"Discord {context}", logger=log)


# Set in Interaction.extras once the deferred ("thinking") message has been filled in.
_FILLED = "flywheel.deferred_filled"
# Set in Interaction.extras when the "thinking" message is public (see defer_public).
_PUBLIC = "flywheel.deferred_public"
NO_MENTIONS = discord.AllowedMentions.none()


async def acknowledge(interaction: Interaction) -> None:
    """Tell Discord at once that an answer is coming (ephemeral, "thinking"), if not yet answered.

    Discord forgets an interaction not answered within 3 seconds; under a burst the
    database alone can take longer, so work that touches it is acknowledged first.
    """
    if interaction.response.is_done() or interaction.type is discord.InteractionType.autocomplete:
        return
    await interaction.response.defer(ephemeral=True, thinking=True)


async def defer_public(interaction: Interaction) -> None:
    """Acknowledge with a "thinking" message everyone in the channel sees, if not yet answered.

    For answers meant for the channel (a leaderboard): :func:`send_public` fills it in.
    A refusal or a private answer still goes to the member alone: :func:`send_ephemeral`
    removes the public "thinking" message and follows up ephemerally.
    """
    if interaction.response.is_done():
        return
    await interaction.response.defer(thinking=True)
    interaction.extras[_PUBLIC] = True


async def send_public(
    interaction: Interaction,
    text: str,
    *,
    file: discord.File | None = None,
    view: discord.ui.View | None = None,
) -> None:
    """Fill in a public "thinking" message (:func:`defer_public`), fitted, pinging nobody."""
    content = fit_content(text)
    if view is not None:
        fit_view(view)
    interaction.extras[_FILLED] = True
    await interaction.edit_original_response(
        content=content,
        attachments=[file] if file is not None else [],
        view=view,
        allowed_mentions=NO_MENTIONS,
    )


async def send_ephemeral(
    interaction: Interaction,
    text: str,
    *,
    view: discord.ui.View | None = None,
    file: discord.File | None = None,
) -> None:
    """Answer only the member who interacted, fitted to Discord's limits, however it was answered.

    The first answer after :func:`acknowledge` fills in the "thinking" message; later ones
    are follow-ups. A public "thinking" message (:func:`defer_public`) is removed instead,
    so what only the member should see never shows in the channel.
    """
    content = fit_content(text)
    if view is not None:
        fit_view(view)
    extra: dict[str, Any] = {} if file is None else {"file": file}
    response = interaction.response
    if not response.is_done():
        if view is None:
            await response.send_message(content, ephemeral=True, **extra)
        else:
            await response.send_message(content, ephemeral=True, view=view, **extra)
        return
    deferred = response.type is discord.InteractionResponseType.deferred_channel_message
    if deferred and not interaction.extras.get(_FILLED) and interaction.extras.get(_PUBLIC):
        interaction.extras[_FILLED] = True
        await interaction.delete_original_response()
    if deferred and not interaction.extras.get(_FILLED):
        interaction.extras[_FILLED] = True
        if file is not None:
            extra = {"attachments": [file]}
        if view is None:
            await interaction.edit_original_response(content=content, **extra)
        else:
            await interaction.edit_original_response(content=content, view=view, **extra)
    elif view is None:
        await interaction.followup.send(content, ephemeral=True, **extra)
    else:
        await interaction.followup.send(content, ephemeral=True, view=view, **extra)


async def edit_reply(interaction: Interaction, text: str) -> None:
    """Replace the message whose button was clicked with ``text``, fitted, and no buttons."""
    content = fit_content(text)
    if interaction.response.is_done():
        await interaction.edit_original_response(content=content, view=None)
    else:
        await interaction.response.edit_message(content=content, view=None)


async def send_modal(interaction: Interaction, modal: discord.ui.Modal) -> None:
    """Answer with a form, fitted to Discord's limits (a modal can never be deferred)."""
    await interaction.response.send_modal(fit_modal(modal))


async def report_failure(interaction: Interaction, error: BaseException) -> None:
    """Tell the member, briefly and only them, why their command or click did not work."""
    command = interaction.command
    if command is not None:
        context = f"/{command.qualified_name}"
    else:
        custom_id = interaction.data.get("custom_id") if interaction.data else None
        context = f"component {custom_id}" if custom_id else "interaction"
    text = describe_failure(error, context)
    try:
        await send_ephemeral(interaction, text)
    except discord.HTTPException:
        # The interaction expired or Discord is down: the log is all that is left.
        log.warning("could not tell the Discord user about a failure: %s", text, exc_info=True)


class FlywheelTree(app_commands.CommandTree["FlywheelBot"]):
    """The application-command tree, with the bot's one error handler."""

    async def on_error(
        self, interaction: discord.Interaction[FlywheelBot], error: app_commands.AppCommandError, /
    ) -> None:
        """Answer a failed command through :func:`report_failure`."""
        await report_failure(interaction, error)


class PrivateView(discord.ui.View):
    """Buttons only the member they were shown to may press; failures go to the one handler."""

    def __init__(self, owner_id: int, *, timeout: float | None = 120.0) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id

    async def interaction_check(self, interaction: Interaction, /) -> bool:
        """Refuse, politely, anybody but the owner."""
        if interaction.user.id == self.owner_id:
            return True
        await send_ephemeral(interaction, WRONG_USER)
        return False

    async def on_error(
        self, interaction: Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        """Answer a failed click through :func:`report_failure`."""
        await report_failure(interaction, error)


class ConfirmView(PrivateView):
    """A yes/no prompt for something that cannot be undone; it is answered once, or expires.

    ``on_confirm`` runs for the asker's first yes and returns the text that replaces the
    prompt; a failure there is answered and takes the buttons away.
    """

    def __init__(
        self,
        asker: Interaction,
        *,
        on_confirm: Callable[[Interaction], Awaitable[str]],
        confirm_label: str,
        cancel_label: str,
        cancelled_text: str,
        expired_text: str,
        timeout: float = 120.0,
    ) -> None:
        super().__init__(asker.user.id, timeout=timeout)
        self.asker = asker
        self.answered = False
        self.on_confirm = on_confirm
        self.cancelled_text = cancelled_text
        self.expired_text = expired_text
        confirm = discord.ui.Button[ConfirmView](
            label=confirm_label, style=discord.ButtonStyle.danger
        )
        cancel = discord.ui.Button[ConfirmView](
            label=cancel_label, style=discord.ButtonStyle.secondary
        )
        confirm.callback = self._confirm  # type: ignore[method-assign]
        cancel.callback = self._cancel  # type: ignore[method-assign]
        self.add_item(confirm)
        self.add_item(cancel)

    def answer_once(self) -> bool:
        """Return True for the first answer only (a double click must not act twice)."""
        if self.answered:
            return False
        self.answered = True
        self.stop()
        return True

    async def _confirm(self, interaction: Interaction) -> None:
        if self.answer_once():
            # Acknowledged as an update of the prompt, before on_confirm's transaction.
            await interaction.response.defer()
            text = await self.on_confirm(interaction)
            await edit_reply(interaction, text)

    async def _cancel(self, interaction: Interaction) -> None:
        if self.answer_once():
            await edit_reply(interaction, self.cancelled_text)

    async def on_timeout(self) -> None:
        """Take the buttons away so an old prompt cannot be confirmed later."""
        # If the member already dismissed the message there is nothing left to tidy.
        with contextlib.suppress(discord.HTTPException):
            await self.asker.edit_original_response(content=self.expired_text, view=None)

    async def on_error(
        self, interaction: Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        """Say what went wrong, and take away buttons that no longer listen."""
        await report_failure(interaction, error)
        if self.answered:
            with contextlib.suppress(discord.HTTPException):
                await self.asker.edit_original_response(view=None)


class FlywheelBot(commands.Bot):
    """The discord.py client: slash commands only, no pings, one error handler."""

    def __init__(self, runtime: Runtime, *, cog_package: str = COG_PACKAGE, **options: Any) -> None:
        # The bot never joins voice: discord.py's two start-up warnings about voice libraries
        # (PyNaCl, davey) are not something an operator should act on.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,  # no prefix commands: slash commands only
            help_command=None,
            intents=intents_for(runtime.settings.discord),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=FlywheelTree,
            allowed_contexts=app_commands.AppCommandContext(guild=True),
            allowed_installs=app_commands.AppInstallationType(guild=True),
            # Roles come with each interaction; fetching every member at start-up would only
            # delay readiness in a large server.
            chunk_guilds_at_startup=False,
            **options,
        )
        self.runtime = runtime
        self.cog_package = cog_package
        self.connection_state = "connecting"
        # With [discord] guild_ids set, only those guilds are the community's.
        self.community_guilds = frozenset(runtime.settings.discord.guild_ids)
        self.reads = read_sessions(runtime.engine)

    def serves(self, guild_id: int) -> bool:
        """Return whether a guild's passive signals (chat, reactions, replies) count: any
        guild, or with ``[discord] guild_ids`` set only those (a guild that invited the bot
        on its own must not bind itself to the community)."""
        return not self.community_guilds or guild_id in self.community_guilds

    async def load_cogs(self) -> list[str]:
        """Load the cog of every declared feature with front ends (each has ``setup(bot)``)."""
        names = front_end_modules(self.cog_package)
        for name in names:
            if name not in self.extensions:
                await self.load_extension(name)
        return names

    async def setup_hook(self) -> None:
        """Load the cogs and register the commands with Discord before connecting."""
        if not self.runtime.community_id:
            await bootstrap_community(self.runtime)
        await self.load_cogs()
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Sync the command tree globally, or to each configured guild (instant updates)."""
        guild_ids = self.runtime.settings.discord.guild_ids
        if not guild_ids:
            synced = await self.tree.sync()
            log.info("discord: synced %d global commands", len(synced))
            return
        for guild_id in guild_ids:
            self.tree.copy_global_to(guild=discord.Object(id=guild_id))
        # Global leftovers from an earlier global sync would show every command twice.
        self.tree.clear_commands(guild=None)
        await self.tree.sync()
        for guild_id in guild_ids:
            try:
                synced = await self.tree.sync(guild=discord.Object(id=guild_id))
            except discord.Forbidden:
                raise ConfigError(
                    f"discord.guild_ids: the bot cannot register commands in guild {guild_id}; "
                    "invite it there with the applications.commands scope, or remove the id"
                ) from None
            log.info("discord: synced %d commands to guild %d", len(synced), guild_id)

    @asynccontextmanager
    async def acting(self, interaction: Interaction) -> AsyncIterator[tuple[AsyncSession, Actor]]:
        """Acknowledge the interaction, open a transaction as its author; commit when the block ends.

        The acknowledgement comes first (see :func:`acknowledge`): whatever the block
        waits for, Discord has its answer in time, and the reply follows up.
        """
        caller = caller_from(interaction, self.runtime.settings.discord)
        await acknowledge(interaction)
        async with core.acting(self.runtime, caller) as (session, actor):
            yield session, actor

    @asynccontextmanager
    async def looking_up(
        self, interaction: Interaction
    ) -> AsyncIterator[tuple[AsyncSession, Caller]]:
        """Open a read-only session for a command whose first answer is a modal (no deferral).

        No transaction is begun and the author is not resolved to a member: nothing here
        waits for the write lock, so the modal opens within Discord's 3 s even in a burst.
        The form's submission runs in :meth:`acting`, which checks everything again.
        """
        caller = caller_from(interaction, self.runtime.settings.discord)
        async with self.runtime.sessions() as session:
            yield session, caller

    async def in_transaction(
        self, interaction: Interaction, service: Callable[[AsyncSession, Actor], Awaitable[T]]
    ) -> T:
        """Run one service call for the interaction's author and return its result, committed."""
        async with self.acting(interaction) as (session, actor):
            return await service(session, actor)

    async def on_ready(self) -> None:
        """Note that the gateway session is up."""
        self.connection_state = "ready"
        log.info("discord: connected as %s to %d guild(s)", self.user, len(self.guilds))

    async def on_resumed(self) -> None:
        """Note that a dropped gateway session was resumed."""
        self.connection_state = "ready"

    async def on_disconnect(self) -> None:
        """Note that the gateway dropped; discord.py reconnects by itself."""
        if not self.is_closed():
            self.connection_state = "connecting"

    async def close(self) -> None:
        """Disconnect and close the HTTP session."""
        self.connection_state = "stopped"
        await super().close()


class DiscordPlatform:
    """Discord as one of the process's front ends; it also delivers the outbox's Discord rows."""

    name = "discord"

    def __init__(self, runtime: Runtime, *, bot: FlywheelBot | None = None) -> None:
        token = runtime.settings.secrets.DISCORD_TOKEN
        if token is None:
            raise ConfigError(
                "DISCORD_TOKEN: not set; copy the bot token from the Discord Developer Portal "
                "(your application → Bot) into the environment"
            )
        self._token = token.get_secret_value()
        self.bot = bot or FlywheelBot(runtime)
        # Route.BASE is where discord.py itself talks to, so a sandbox set up with
        # point_discord_py_at() receives the outbox's traffic too.
        self.sender = DiscordSender(
            self._token,
            api_base=discord.http.Route.BASE,
            limiter=runtime.dispatcher.limiter,
            access=runtime.settings.discord.access,
        )
        runtime.dispatcher.register(self.sender)
        self._started = False

    @property
    def status(self) -> str:
        """Return "connecting", "ready" or "stopped"."""
        if not self._started or self.bot.is_closed():
            return "stopped"
        return self.bot.connection_state

    async def start(self) -> None:
        """Log in and serve the gateway until stopped; a rejected token is a ConfigError."""
        self._started = True
        try:
            try:
                await self.bot.start(self._token)
            finally:
                if not self.bot.is_closed():
                    # discord.py leaves its HTTP session open when login fails
                    # ("Unclosed client session" at exit); stop() closes it on the normal path.
                    await self.bot.close()
        except discord.LoginFailure:
            raise ConfigError(
                "DISCORD_TOKEN: Discord rejected the token; reset it in the Developer Portal "
                "(your application → Bot → Reset Token) and set the new one"
            ) from None
        except discord.PrivilegedIntentsRequired:
            raise ConfigError(
                "discord: Discord refused the privileged intents the bot asks for; enable "
                "Server Members (and Message Content if [discord] message_content_intent is "
                "true) under Bot → Privileged Gateway Intents in the Developer Portal"
            ) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise ConfigError(
                f"discord: cannot reach Discord ({one_line(exc)}); check this host's network, "
                "DNS, firewall or proxy, then start again"
            ) from None

    async def stop(self) -> None:
        """Close the gateway connection and the outbox sender's HTTP session."""
        await self.bot.close()
        await self.sender.close()
