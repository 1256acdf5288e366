"""REST: interaction follow-ups, addressed by the application id and interaction token."""

from __future__ import annotations

import copy
from typing import Any

from bot.sandbox.discord.messages import apply_edit, build_message, remove_message, store_message
from bot.sandbox.discord.protocol import BOT_USERNAME
from bot.sandbox.discord.routes.table import RouteTable
from bot.sandbox.discord.state import DiscordState, InteractionRecord
from bot.sandbox.discord.wire import ApiError, ApiRequest, Reply, validate_message_body

ROUTES = RouteTable()


def _webhook_interaction(state: DiscordState, req: ApiRequest) -> InteractionRecord:
    """Return the acknowledged interaction whose token addresses this webhook."""
    if req.snowflake("webhook_id") == state.application_id:
        record = state.interaction_by_token(req.params["token"])
        if record is not None and record.acknowledged:
            return record
    raise ApiError(404, 10015, "Unknown Webhook")


def _webhook_message(
    state: DiscordState, record: InteractionRecord, req: ApiRequest
) -> dict[str, Any]:
    raw = req.params["message"]
    if raw == "@original":
        message_id = record.original_message_id
    else:
        message_id = int(raw) if raw.isdigit() else None
    message = state.messages_by_id.get(message_id) if message_id else None
    if message is None or int(message["channel_id"]) != record.public.channel_id:
        raise ApiError(404, 10008, "Unknown Message")
    return message


@ROUTES.route("POST", "/webhooks/{webhook_id}/<token>")
async def execute_webhook(state: DiscordState, req: ApiRequest) -> Reply:
    """Post an interaction follow-up message."""
    record = _webhook_interaction(state, req)
    body = req.json_object()
    validate_message_body(body, req.files)
    channel = state.channels[record.public.channel_id]
    message = build_message(
        state, channel, state.users[state.bot_user_id], body, req.files, interaction=record
    )
    store_message(state, channel, message)
    await state.gateway.dispatch_message("MESSAGE_CREATE", channel, message)
    if req.query.get("wait") in ("1", "true", "True"):
        return Reply(200, copy.deepcopy(message))
    return Reply(204)


@ROUTES.route("GET", "/webhooks/{webhook_id}/<token>")
@ROUTES.route("PATCH", "/webhooks/{webhook_id}/<token>")
async def get_webhook(state: DiscordState, req: ApiRequest) -> Reply:
    record = _webhook_interaction(state, req)
    return Reply(
        200,
        {
            "id": str(state.application_id),
            "type": 3,
            "application_id": str(state.application_id),
            "channel_id": str(record.public.channel_id),
            "guild_id": str(record.public.guild_id) if record.public.guild_id else None,
            "name": BOT_USERNAME,
            "avatar": None,
            "token": record.public.token,
        },
    )


@ROUTES.route("DELETE", "/webhooks/{webhook_id}/<token>")
async def delete_webhook(state: DiscordState, req: ApiRequest) -> Reply:
    _webhook_interaction(state, req)
    return Reply(204)


@ROUTES.route("GET", "/webhooks/{webhook_id}/<token>/messages/<message>")
async def get_wh_message(state: DiscordState, req: ApiRequest) -> Reply:
    record = _webhook_interaction(state, req)
    return Reply(200, copy.deepcopy(_webhook_message(state, record, req)))


@ROUTES.route("PATCH", "/webhooks/{webhook_id}/<token>/messages/<message>")
async def edit_wh_message(state: DiscordState, req: ApiRequest) -> Reply:
    record = _webhook_interaction(state, req)
    message = _webhook_message(state, record, req)
    channel = state.channels[int(message["channel_id"])]
    apply_edit(state, channel, message, req.json_object(), req.files)
    await state.gateway.dispatch_message("MESSAGE_UPDATE", channel, message)
    return Reply(200, copy.deepcopy(message))


@ROUTES.route("DELETE", "/webhooks/{webhook_id}/<token>/messages/<message>")
async def del_wh_message(state: DiscordState, req: ApiRequest) -> Reply:
    record = _webhook_interaction(state, req)
    await remove_message(state, _webhook_message(state, record, req))
    return Reply(204)
