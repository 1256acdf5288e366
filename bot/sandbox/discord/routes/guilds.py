"""REST: guilds, their members, and a member's roles."""

from __future__ import annotations

from bot.sandbox.discord.payloads import guild_payload, member_payload, role_payload
from bot.sandbox.discord.protocol import INTENT_GUILD_MEMBERS, PERM_MANAGE_ROLES
from bot.sandbox.discord.routes.table import RouteTable
from bot.sandbox.discord.state import DiscordState
from bot.sandbox.discord.wire import ApiError, ApiRequest, Reply

ROUTES = RouteTable()


@ROUTES.route("GET", "/guilds/{guild_id}")
async def get_guild(state: DiscordState, req: ApiRequest) -> Reply:
    return Reply(200, guild_payload(state, state.guild_or_404(req)))


@ROUTES.route("GET", "/guilds/{guild_id}/roles")
async def get_roles(state: DiscordState, req: ApiRequest) -> Reply:
    guild = state.guild_or_404(req)
    return Reply(200, [role_payload(state, guild, role) for role in guild.roles.values()])


@ROUTES.route("GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(state: DiscordState, req: ApiRequest) -> Reply:
    guild = state.guild_or_404(req)
    return Reply(200, member_payload(state, guild, state.member_or_404(guild, req)))


@ROUTES.route("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def add_role(state: DiscordState, req: ApiRequest) -> Reply:
    return await _change_role(state, req, add=True)


@ROUTES.route("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def remove_role(state: DiscordState, req: ApiRequest) -> Reply:
    return await _change_role(state, req, add=False)


async def _change_role(state: DiscordState, req: ApiRequest, *, add: bool) -> Reply:
    """Grant or revoke a role (idempotent, 204) and dispatch GUILD_MEMBER_UPDATE.

    As on Discord, the bot needs Manage Roles (Administrator implies it) and may only touch
    roles below its own highest role: otherwise 403 with code 50013.
    """
    guild = state.guild_or_404(req)
    member = state.member_or_404(guild, req)
    role_id = req.snowflake("role_id")
    if role_id not in guild.roles or role_id == guild.id:
        raise ApiError(404, 10011, "Unknown Role")
    bot = state.bot_user_id
    if not state.permissions_of(guild, bot) & PERM_MANAGE_ROLES or (
        state.role_position(guild, role_id) >= state.top_position(guild, bot)
    ):
        raise ApiError(403, 50013, "Missing Permissions")
    if add == (role_id in member.roles):
        return Reply(204)
    if add:
        member.roles.append(role_id)
    else:
        member.roles.remove(role_id)
    event = member_payload(state, guild, member) | {"guild_id": str(guild.id)}
    await state.gateway.dispatch("GUILD_MEMBER_UPDATE", event, intent=INTENT_GUILD_MEMBERS)
    return Reply(204)
