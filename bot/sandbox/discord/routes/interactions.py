"""REST: an interaction's initial response (the callback), once per interaction."""

from __future__ import annotations

import copy
import time
from typing import Any

from bot.sandbox.discord.messages import apply_edit, build_message, store_message
from bot.sandbox.discord.modals import validate_modal
from bot.sandbox.discord.protocol import (
    CALLBACK_AUTOCOMPLETE_RESULT,
    CALLBACK_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_UPDATE,
    CALLBACK_MODAL,
    CALLBACK_UPDATE_MESSAGE,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    INTERACTION_COMMAND,
    VALID_CALLBACKS,
)
from bot.sandbox.discord.routes.table import RouteTable
from bot.sandbox.discord.state import DiscordState, InteractionRecord
from bot.sandbox.discord.wire import (
    ApiError,
    ApiRequest,
    Reply,
    Upload,
    check_message_limits,
    invalid_form,
    validate_choices,
    validate_message_body,
)

ROUTES = RouteTable()


@ROUTES.route("POST", "/interactions/{interaction_id}/<token>/callback")
async def callback(state: DiscordState, req: ApiRequest) -> Reply:
    """Acknowledge an interaction once (type 4/5/6/7/9...), as the initial response."""
    record = state.interactions.get(req.snowflake("interaction_id"))
    if record is None or record.public.token != req.params["token"]:
        raise ApiError(404, 10062, "Unknown interaction")
    deadline = state.interaction_response_deadline
    if deadline is not None and time.monotonic() - record.created > deadline:
        raise ApiError(404, 10062, "Unknown interaction")
    if record.acknowledged:
        raise ApiError(400, 40060, "Interaction has already been acknowledged.")
    body = req.json_object()
    callback_type = body.get("type")
    raw_data = body.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    if callback_type not in VALID_CALLBACKS[record.public.type]:
        raise invalid_form("type", "INTERACTION_CALLBACK_TYPE_INVALID", "Invalid type.")
    if callback_type == CALLBACK_CHANNEL_MESSAGE:
        validate_message_body(data, req.files)
    if callback_type == CALLBACK_UPDATE_MESSAGE:
        check_message_limits(data)
    if callback_type == CALLBACK_AUTOCOMPLETE_RESULT:
        validate_choices(data.get("choices"))
    if callback_type == CALLBACK_MODAL:
        validate_modal(data)
    # Marked before the first await so a concurrent second callback gets 40060; a response
    # Discord refuses does not count as the acknowledgement.
    record.acknowledged = True
    try:
        message = await _respond(state, record, callback_type, data, req.files)
    except ApiError:
        record.acknowledged = False
        raise

    if req.query.get("with_response") not in ("1", "true", "True"):
        return Reply(204)
    flags = int(message["flags"]) if message else 0
    interaction: dict[str, Any] = {
        "id": str(record.public.id),
        "type": record.public.type,
        "response_message_loading": callback_type == CALLBACK_DEFERRED_CHANNEL_MESSAGE,
        "response_message_ephemeral": bool(flags & FLAG_EPHEMERAL),
    }
    answer: dict[str, Any] = {"interaction": interaction}
    if message is not None:
        # discord.py keys views sent with the response by response_message_id.
        interaction["response_message_id"] = message["id"]
        answer["resource"] = {"type": callback_type, "message": copy.deepcopy(message)}
    return Reply(200, answer)


async def _respond(
    state: DiscordState,
    record: InteractionRecord,
    callback_type: int,
    data: dict[str, Any],
    files: tuple[Upload, ...],
) -> dict[str, Any] | None:
    """Carry out an initial response; return the message it created or updated, if any."""
    if callback_type == CALLBACK_CHANNEL_MESSAGE:
        return await _post_response_message(state, record, data, files)
    if callback_type == CALLBACK_DEFERRED_CHANNEL_MESSAGE:
        deferred = {"flags": int(data.get("flags") or 0)}
        return await _post_response_message(state, record, deferred, (), loading=True)
    if callback_type in (CALLBACK_DEFERRED_UPDATE, CALLBACK_UPDATE_MESSAGE):
        record.original_message_id = record.source_message_id
        if callback_type == CALLBACK_UPDATE_MESSAGE and record.source_message_id:
            message = state.messages_by_id[record.source_message_id]
            channel = state.channels[int(message["channel_id"])]
            apply_edit(state, channel, message, data, files)
            await state.gateway.dispatch_message("MESSAGE_UPDATE", channel, message)
            return message
    if callback_type == CALLBACK_MODAL:
        custom_id = str(data.get("custom_id"))
        state.modals[custom_id] = copy.deepcopy(data)
        opener = record.payload.get("member", {}).get("user") or record.payload.get("user") or {}
        state.modal_openers[custom_id] = int(opener.get("id") or 0)
    return None


async def _post_response_message(
    state: DiscordState,
    record: InteractionRecord,
    data: dict[str, Any],
    files: tuple[Upload, ...],
    *,
    loading: bool = False,
) -> dict[str, Any]:
    channel = state.channels[record.public.channel_id]
    message = build_message(
        state,
        channel,
        state.users[state.bot_user_id],
        data,
        files,
        message_type=20 if record.public.type == INTERACTION_COMMAND else 0,
        interaction=record,
        extra_flags=FLAG_LOADING if loading else 0,
    )
    store_message(state, channel, message)
    record.original_message_id = int(message["id"])
    await state.gateway.dispatch_message("MESSAGE_CREATE", channel, message)
    return message
