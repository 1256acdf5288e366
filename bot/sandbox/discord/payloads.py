"""The JSON shapes of Discord objects (users, members, roles, channels, guilds, the app)."""

from __future__ import annotations

from typing import Any

from bot.sandbox.discord.protocol import (
    APP_OWNER_ID,
    BOT_USERNAME,
    CHANNEL_DM,
    CHANNEL_FORUM,
    CHANNEL_MEDIA,
    CHANNEL_STAGE,
    CHANNEL_VOICE,
    THREAD_TYPES,
)
from bot.sandbox.discord.state import Channel, DiscordState, Guild, Member, Role, User


def user_payload(state: DiscordState, user: User) -> dict[str, Any]:
    """Return a user as REST and the gateway describe one."""
    payload: dict[str, Any] = {
        "id": str(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": None if user.bot else user.username,
        "avatar": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
        "avatar_decoration_data": None,
        "primary_guild": None,
        "collectibles": None,
    }
    if user.bot:
        payload["bot"] = True
    return payload


def member_payload(
    state: DiscordState,
    guild: Guild,
    member: Member,
    *,
    with_user: bool = True,
    permissions: bool = False,
) -> dict[str, Any]:
    """Return a guild member, optionally with its user and guild permissions."""
    payload: dict[str, Any] = {
        "roles": [str(r) for r in member.roles],
        "nick": None,
        "avatar": None,
        "banner": None,
        "joined_at": member.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,  # discord.py raises KeyError without it
        "pending": False,
        "communication_disabled_until": None,
    }
    if with_user:
        payload["user"] = user_payload(state, state.users[member.user_id])
    if permissions:
        payload["permissions"] = str(state.permissions_of(guild, member.user_id))
    return payload


def role_payload(state: DiscordState, guild: Guild, role: Role) -> dict[str, Any]:
    """Return a role with its position in the guild."""
    # @everyone sits at 0, the others follow the guild's role order; seeded roles go below
    # the bot's role (so a bot managing them passes the hierarchy check, as a well-set-up
    # bot would) until a test moves one (DiscordSandbox.move_role).
    position = state.role_position(guild, role.id)
    payload: dict[str, Any] = {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": False,
        "flags": 0,
    }
    if role.id == guild.bot_role_id:
        payload["tags"] = {"bot_id": str(state.bot_user_id)}
    return payload


def channel_payload(state: DiscordState, channel: Channel) -> dict[str, Any]:
    """Return a guild channel, thread or DM channel."""
    history = state.messages.get(channel.id)
    last_message_id = history[-1]["id"] if history else None
    if channel.type == CHANNEL_DM:
        recipient = state.users[channel.recipient_id or 0]
        return {
            "id": str(channel.id),
            "type": CHANNEL_DM,
            "last_message_id": last_message_id,
            "flags": 0,
            "recipients": [user_payload(state, recipient)],
        }
    payload: dict[str, Any] = {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": [],
        "nsfw": False,
        "topic": None,
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
        "last_message_id": last_message_id,
        "rate_limit_per_user": 0,
        "flags": 0,
    }
    if channel.type in (CHANNEL_VOICE, CHANNEL_STAGE):
        payload |= {"bitrate": 64000, "user_limit": 0, "rtc_region": None}
    if channel.type in (CHANNEL_FORUM, CHANNEL_MEDIA):
        payload |= {
            "available_tags": [dict(tag) for tag in channel.available_tags],
            "default_reaction_emoji": None,
            "default_thread_rate_limit_per_user": 0,
            "default_sort_order": None,
            "default_forum_layout": 0,
        }
    if channel.type in THREAD_TYPES:
        payload |= {
            "owner_id": str(channel.owner_id or state.bot_user_id),
            "message_count": channel.message_count,
            "member_count": 1,
            "total_message_sent": channel.message_count,
            "applied_tags": [str(tag) for tag in channel.applied_tags],
            "thread_metadata": {
                "archived": channel.archived,
                "auto_archive_duration": channel.auto_archive_duration,
                "archive_timestamp": channel.created_at,
                "locked": channel.locked,
                "invitable": True,
                "create_timestamp": channel.created_at,
            },
        }
    return payload


def guild_payload(state: DiscordState, guild: Guild) -> dict[str, Any]:
    """Return a guild as GET /guilds/{id} describes it."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "owner_id": str(guild.owner_id),
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "application_id": None,
        "max_members": 500_000,
        "max_presences": None,
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": [role_payload(state, guild, r) for r in guild.roles.values()],
    }


def guild_create(state: DiscordState, guild: Guild) -> dict[str, Any]:
    """Return the GUILD_CREATE event for a guild, with members and channels."""
    channels = [c for c in state.channels.values() if c.guild_id == guild.id]
    return guild_payload(state, guild) | {
        "unavailable": False,
        "large": False,
        "lazy": True,
        "joined_at": guild.joined_at,
        # member_count == len(members) marks the guild as chunked for discord.py.
        "member_count": len(guild.members),
        "members": [member_payload(state, guild, m) for m in guild.members.values()],
        "channels": [channel_payload(state, c) for c in channels if c.type not in THREAD_TYPES],
        "threads": [channel_payload(state, c) for c in channels if c.type in THREAD_TYPES],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def app_info(state: DiscordState) -> dict[str, Any]:
    """Return the application, as login() fetches it."""
    return {
        "id": str(state.application_id),
        "name": BOT_USERNAME,
        "description": "Flywheel sandbox application",
        "icon": None,
        "bot_public": False,
        "bot_require_code_grant": False,
        "owner": user_payload(state, state.users[APP_OWNER_ID]),
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "bot": user_payload(state, state.users[state.bot_user_id]),
    }
