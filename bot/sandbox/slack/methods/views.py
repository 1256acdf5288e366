"""Web API: views.* (modals opened by a trigger_id, updates, the Home tab)."""

from __future__ import annotations

from bot.sandbox.slack.methods.table import MethodTable
from bot.sandbox.slack.state import SlackState
from bot.sandbox.slack.wire import ApiError, JsonObject

METHODS = MethodTable()


@METHODS.method("views.open")
def views_open(state: SlackState, args: JsonObject) -> JsonObject:
    state.exchange_trigger(args.get("trigger_id"))
    view = state.build_view(args.get("view"))
    state.views[view["id"]] = view
    return {"view": view}


@METHODS.method("views.push")
def views_push(state: SlackState, args: JsonObject) -> JsonObject:
    return views_open(state, args)


@METHODS.method("views.update")
def views_update(state: SlackState, args: JsonObject) -> JsonObject:
    view_id = args.get("view_id")
    external_id = args.get("external_id")
    current = state.find_view(str(view_id)) if view_id else None
    if current is None and external_id:
        current = next(
            (v for v in state.views.values() if v.get("external_id") == external_id), None
        )
    if current is None:
        raise ApiError("not_found")
    if args.get("hash") and args["hash"] != current["hash"]:
        raise ApiError("hash_conflict")
    view = state.build_view(args.get("view"), view_id=current["id"])
    view["root_view_id"] = current["root_view_id"]
    if view["type"] == "home":
        owner = next(user for user, v in state.home_views.items() if v["id"] == current["id"])
        state.home_views[owner] = view
    else:
        state.views[view["id"]] = view
    return {"view": view}


@METHODS.method("views.publish")
def views_publish(state: SlackState, args: JsonObject) -> JsonObject:
    user_id = str(args.get("user_id", ""))
    if user_id not in state.users:
        raise ApiError("user_not_found")
    view = args.get("view")
    if not isinstance(view, dict) or view.get("type") != "home":
        raise ApiError("invalid_arguments")
    current = state.home_views.get(user_id)
    if current is not None and args.get("hash") and args["hash"] != current["hash"]:
        raise ApiError("hash_conflict")
    built = state.build_view(view, view_id=current["id"] if current else None)
    state.home_views[user_id] = built
    return {"view": built}
