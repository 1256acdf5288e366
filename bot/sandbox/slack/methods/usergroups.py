"""Web API: usergroups.* (Slack calls them subteams; paid plans only on Slack)."""

from __future__ import annotations

from bot.sandbox.slack.methods.table import MethodTable
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import ApiError, JsonObject, split_ids, truthy

METHODS = MethodTable()


@METHODS.method("usergroups.list")
def usergroups_list(state: SlackState, args: JsonObject) -> JsonObject:
    state.require_scope("usergroups:read")
    if not state.paid_plan:
        raise ApiError("paid_teams_only")
    include_users = truthy(args.get("include_users"))
    groups = []
    for group in state.usergroups.values():
        listed = dict(group)
        if not include_users:
            del listed["users"]
        groups.append(listed)
    return {"usergroups": groups}


def _usergroup(state: SlackState, args: JsonObject, *, scope: str) -> JsonObject:
    """Return the named group, after the checks Slack makes: the scope, then the plan."""
    state.require_scope(scope)
    if not state.paid_plan:
        raise ApiError("paid_teams_only")
    group = state.usergroups.get(str(args.get("usergroup", "")))
    if group is None:
        raise ApiError("no_such_subteam")
    return group


@METHODS.method("usergroups.users.list")
def usergroups_users_list(state: SlackState, args: JsonObject) -> JsonObject:
    return {"users": list(_usergroup(state, args, scope="usergroups:read")["users"])}


@METHODS.method("usergroups.users.update")
def usergroups_users_update(state: SlackState, args: JsonObject) -> JsonObject:
    group = _usergroup(state, args, scope="usergroups:write")
    users = split_ids(args.get("users"))
    # Slack cannot empty a group this way (that is usergroups.disable) nor add unknown IDs.
    if not users:
        raise ApiError("no_users_provided")
    if any(user not in state.users for user in users):
        raise ApiError("invalid_users")
    if any(state.users[user]["is_bot"] for user in users):
        raise ApiError("invalid_user")
    group["users"] = users
    group["user_count"] = len(users)
    group["date_update"] = int(state.clock())
    group["updated_by"] = state.bot_user_id
    return {"usergroup": group}
