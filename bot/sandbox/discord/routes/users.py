"""REST: the gateway URL, users, DM channels and the application (what login() reads)."""

from __future__ import annotations

from bot.sandbox.discord.payloads import app_info, channel_payload, user_payload
from bot.sandbox.discord.routes.table import RouteTable
from bot.sandbox.discord.state import DiscordState
from bot.sandbox.discord.wire import ApiError, ApiRequest, Reply

ROUTES = RouteTable()


@ROUTES.route("GET", "/gateway", "/gateway/bot")
async def get_gateway(state: DiscordState, req: ApiRequest) -> Reply:
    limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
    return Reply(
        200, {"url": state.gateway.gateway_url(), "shards": 1, "session_start_limit": limit}
    )


@ROUTES.route("GET", "/users/@me")
async def get_me(state: DiscordState, req: ApiRequest) -> Reply:
    me = user_payload(state, state.users[state.bot_user_id])
    return Reply(200, me | {"verified": True, "mfa_enabled": False, "email": None})


@ROUTES.route("GET", "/users/{user_id}")
async def get_user(state: DiscordState, req: ApiRequest) -> Reply:
    user = state.users.get(req.snowflake("user_id"))
    if user is None:
        raise ApiError(404, 10013, "Unknown User")
    return Reply(200, user_payload(state, user))


@ROUTES.route("GET", "/oauth2/applications/@me")
async def get_app(state: DiscordState, req: ApiRequest) -> Reply:
    return Reply(200, app_info(state))


@ROUTES.route("POST", "/users/@me/channels")
async def open_dm(state: DiscordState, req: ApiRequest) -> Reply:
    recipient = str(req.json_object().get("recipient_id"))
    user = state.users.get(int(recipient)) if recipient.isdigit() else None
    if user is None or user.id == state.bot_user_id:
        raise ApiError(400, 50033, "Invalid Recipient(s)")
    return Reply(200, channel_payload(state, state.dm_channel(user)))
