"""Web API: reactions.*."""

from __future__ import annotations

from bot.sandbox.slack.methods.table import MethodTable
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import ApiError, JsonObject

METHODS = MethodTable()


@METHODS.method("reactions.add")
def reactions_add(state: SlackState, args: JsonObject) -> JsonObject:
    _, message = state.message_for_change(args)
    name = str(args.get("name", ""))
    if not name:
        raise ApiError("invalid_name")
    reactions: list[JsonObject] = message.setdefault("reactions", [])
    reaction = next((r for r in reactions if r["name"] == name), None)
    if reaction is None:
        reaction = {"name": name, "users": [], "count": 0}
        reactions.append(reaction)
    if state.bot_user_id in reaction["users"]:
        raise ApiError("already_reacted")
    reaction["users"].append(state.bot_user_id)
    reaction["count"] += 1
    return {}
