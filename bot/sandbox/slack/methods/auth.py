"""Web API: auth.test (bolt calls it on the first request and caches it)."""

from __future__ import annotations

from bot.sandbox.slack.methods.table import MethodTable
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import JsonObject

METHODS = MethodTable()


@METHODS.method("auth.test")
def auth_test(state: SlackState, args: JsonObject) -> JsonObject:
    return {
        "url": f"https://{state.team_domain}.slack.com/",
        "team": state.team_domain.title(),
        "user": state.users[state.bot_user_id]["name"],
        "team_id": state.team_id,
        "user_id": state.bot_user_id,
        "bot_id": state.bot_id,
        "is_enterprise_install": False,
    }
