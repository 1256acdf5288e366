"""Web API: users.*."""

from __future__ import annotations

from bot.sandbox.slack.methods.table import MethodTable
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import ApiError, JsonObject

METHODS = MethodTable()


@METHODS.method("users.info")
def users_info(state: SlackState, args: JsonObject) -> JsonObject:
    user = state.users.get(str(args.get("user", "")))
    if user is None:
        raise ApiError("user_not_found")
    return {"user": user}
