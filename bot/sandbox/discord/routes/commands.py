"""REST: application commands, listed and bulk-overwritten (tree.sync())."""

from __future__ import annotations

import copy

from bot.sandbox.discord.routes.table import RouteTable
from bot.sandbox.discord.state import DiscordState
from bot.sandbox.discord.wire import ApiError, ApiRequest, Reply

ROUTES = RouteTable()


@ROUTES.route(
    "GET", "/applications/{app_id}/commands", "/applications/{app_id}/guilds/{guild_id}/commands"
)
async def get_commands(state: DiscordState, req: ApiRequest) -> Reply:
    state.check_application(req)
    guild_id = req.snowflake("guild_id") if "guild_id" in req.params else None
    return Reply(200, copy.deepcopy(state.commands.get(guild_id, [])))


@ROUTES.route(
    "PUT", "/applications/{app_id}/commands", "/applications/{app_id}/guilds/{guild_id}/commands"
)
async def put_commands(state: DiscordState, req: ApiRequest) -> Reply:
    """Replace the command set and echo it with ids, as a bulk overwrite does."""
    state.check_application(req)
    guild_id = req.snowflake("guild_id") if "guild_id" in req.params else None
    if guild_id is not None and guild_id not in state.guilds:
        raise ApiError(404, 10004, "Unknown Guild")
    commands = []
    for raw in req.body if isinstance(req.body, list) else []:
        command = copy.deepcopy(raw)
        type_ = int(command.get("type") or 1)
        command |= {
            "id": str(state.command_id(guild_id, str(command["name"]), type_)),
            "application_id": str(state.application_id),
            "type": type_,
            "version": str(state.ids.next()),
            "description": command.get("description", ""),
            "default_member_permissions": command.get("default_member_permissions"),
            "nsfw": bool(command.get("nsfw")),
        }
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        commands.append(command)
    state.commands[guild_id] = commands
    return Reply(200, copy.deepcopy(commands))
