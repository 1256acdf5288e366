"""Control hooks for roles and membership: what an owner does in Server Settings, or a member.

Tests use them to put Flywheel where owners put it by mistake — its role below the role it
must grant, without Manage Roles, a role deleted — and to make a member leave and rejoin.
The REST routes (``routes/guilds.py``) then refuse role changes as Discord does.
"""

from __future__ import annotations

from bot.sandbox.discord.gateway import Gateway
from bot.sandbox.discord.payloads import member_payload, role_payload, user_payload
from bot.sandbox.discord.protocol import (
    INTENT_GUILD_MEMBERS,
    INTENT_GUILDS,
    PERM_ADMINISTRATOR,
    PERM_MANAGE_ROLES,
)
from bot.sandbox.discord.state import DiscordState, Guild


class RoleControls:
    """The role and membership hooks of :class:`bot.sandbox.discord.DiscordSandbox`."""

    state: DiscordState
    gateway: Gateway
    bot_user_id: int

    def role_position(self, guild_id: int, role_id: int) -> int:
        """Return a role's position (@everyone 0; higher is more powerful)."""
        return self.state.role_position(self.state.guild(guild_id), role_id)

    def bot_role_id(self, guild_id: int) -> int:
        """Return the id of the bot's own (managed) role in a guild."""
        return self.state.guild(guild_id).bot_role_id

    async def move_role(self, guild_id: int, role_id: int, position: int) -> None:
        """Move a role to ``position`` (1 is just above @everyone); the others shift."""
        guild = self.state.guild(guild_id)
        if role_id not in guild.role_order:
            raise ValueError(f"unknown role {role_id} in guild {guild_id}")
        guild.role_order.remove(role_id)
        index = min(max(position, 1), len(guild.role_order) + 1) - 1
        guild.role_order.insert(index, role_id)
        for moved in guild.role_order:
            await self._role_event(guild, "GUILD_ROLE_UPDATE", moved)

    async def place_above_bot(self, guild_id: int, role_id: int) -> None:
        """Put a role just above the bot's highest role, as a careless owner might."""
        guild = self.state.guild(guild_id)
        await self.move_role(guild_id, role_id, self.state.top_position(guild, self.bot_user_id))

    async def set_role_permissions(self, guild_id: int, role_id: int, permissions: int) -> None:
        """Change a role's permissions (the bot's own role: ``bot_role_id(guild_id)``)."""
        guild = self.state.guild(guild_id)
        guild.roles[role_id].permissions = permissions
        await self._role_event(guild, "GUILD_ROLE_UPDATE", role_id)

    async def take_manage_roles(self, guild_id: int) -> None:
        """Take Manage Roles (and Administrator, which implies it) from every role the bot has."""
        guild = self.state.guild(guild_id)
        held = [guild.id, *guild.members[self.bot_user_id].roles]
        for role_id in held:
            role = guild.roles.get(role_id)
            if role is not None and role.permissions & (PERM_MANAGE_ROLES | PERM_ADMINISTRATOR):
                without = role.permissions & ~(PERM_MANAGE_ROLES | PERM_ADMINISTRATOR)
                await self.set_role_permissions(guild_id, role_id, without)

    async def delete_role(self, guild_id: int, role_id: int) -> None:
        """Delete a role: members lose it, and GUILD_ROLE_DELETE is dispatched."""
        guild = self.state.guild(guild_id)
        if role_id == guild.id or role_id == guild.bot_role_id:
            raise ValueError("@everyone and the bot's managed role cannot be deleted")
        del guild.roles[role_id]
        guild.role_order.remove(role_id)
        for member in guild.members.values():
            if role_id in member.roles:
                member.roles.remove(role_id)
        await self.gateway.dispatch(
            "GUILD_ROLE_DELETE",
            {"guild_id": str(guild.id), "role_id": str(role_id)},
            intent=INTENT_GUILDS,
        )

    async def send_member_remove(self, guild_id: int, user_id: int) -> None:
        """Make a member leave a guild (their roles go with them): GUILD_MEMBER_REMOVE."""
        guild = self.state.guild(guild_id)
        if user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild_id}")
        del guild.members[user_id]
        user = user_payload(self.state, self.state.user(user_id))
        await self.gateway.dispatch(
            "GUILD_MEMBER_REMOVE",
            {"guild_id": str(guild_id), "user": user},
            intent=INTENT_GUILD_MEMBERS,
        )

    async def send_member_add(
        self, guild_id: int, user_id: int, username: str, *, bot: bool = False
    ) -> None:
        """Make a user join a guild (with no roles) and dispatch GUILD_MEMBER_ADD."""
        self.add_member(guild_id, user_id, username, bot=bot)
        guild = self.state.guild(guild_id)
        event = member_payload(self.state, guild, guild.members[user_id]) | {
            "guild_id": str(guild_id)
        }
        await self.gateway.dispatch("GUILD_MEMBER_ADD", event, intent=INTENT_GUILD_MEMBERS)

    def add_member(
        self, guild_id: int, user_id: int, username: str, *, bot: bool = False
    ) -> None:  # pragma: no cover - DiscordSandbox defines it
        """Add (or replace) a guild member."""
        raise NotImplementedError

    async def _role_event(self, guild: Guild, event: str, role_id: int) -> None:
        role = role_payload(self.state, guild, guild.roles[role_id])
        await self.gateway.dispatch(
            event, {"guild_id": str(guild.id), "role": role}, intent=INTENT_GUILDS
        )
