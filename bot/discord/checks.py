"""Who is calling on Discord: the role is decided here, on the server side, never by the client."""

from __future__ import annotations

from typing import Any

import discord

from bot.errors import Forbidden
from bot.services.callers import Caller, Role
from bot.settings import DiscordSettings

PLATFORM = "discord"


def role_of(
    member: discord.Member, *, guild_owner_id: int | None, settings: DiscordSettings
) -> Role:
    """Return the role a guild member has in Flywheel."""
    if member.id in settings.owner_user_ids or member.id == guild_owner_id:
        return Role.OWNER
    # guild_permissions needs the guild's roles in the cache; the permissions Discord sent with
    # the interaction do not (Manage Server cannot be granted by a channel overwrite).
    sent = member.resolved_permissions
    if member.guild_permissions.manage_guild or (sent is not None and sent.manage_guild):
        return Role.MODERATOR
    moderator_roles = set(settings.moderator_role_ids)
    if moderator_roles and any(role.id in moderator_roles for role in member.roles):
        return Role.MODERATOR
    return Role.MEMBER


def caller_from(interaction: discord.Interaction[Any], settings: DiscordSettings) -> Caller:
    """Describe the author of an interaction, refusing use outside the community's server."""
    guild_id = interaction.guild_id
    member = interaction.user
    if guild_id is None or not isinstance(member, discord.Member):
        raise Forbidden("Use this command in the server.")
    if settings.guild_ids and guild_id not in settings.guild_ids:
        # A bot invited elsewhere must not bind a stranger's server to this community.
        raise Forbidden("This server is not part of this community.")
    guild = interaction.guild
    return Caller(
        platform=PLATFORM,
        space_id=str(guild_id),
        user_id=str(member.id),
        display_name=member.display_name,
        role=role_of(
            member,
            guild_owner_id=guild.owner_id if guild is not None else None,
            settings=settings,
        ),
        channel_id=str(interaction.channel_id) if interaction.channel_id else None,
    )
