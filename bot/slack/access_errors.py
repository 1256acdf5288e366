"""Why Slack refused an access change, in one sentence an owner can act on.

Access on Slack is a user group (``S…``, paid plans only) or membership of a private
channel (``G…``/``C…``), set per access key in ``[slack.access]``. When Slack refuses a
change for a reason the owner can fix — a missing scope, a free plan, the app not in the
channel, a group or channel that is gone — the sender raises :class:`bot.outbox.Blocked`
with the sentence :func:`blocked_reason` writes, and the outbox keeps trying.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def unset_access(access: str) -> str:
    """Return the reason for an access key with no Slack group or channel configured."""
    return (
        f"no Slack user group or private channel is set for access '{access}': add it under "
        f'[slack.access] in bot.toml ({access} = "S…" or "G…") and restart Flywheel'
    )


def blocked_reason(response: Mapping[str, Any], *, access: str, where: str, app: str) -> str | None:
    """Return the owner's sentence for a refusal they can fix, or None for any other error."""
    error = str(response.get("error") or "")
    setting = f"[slack.access] {access}"
    if error == "missing_scope":
        needed = str(response.get("needed") or "a scope it needs")
        return (
            f"Slack refused: the app lacks the {needed} scope: add it in the app's OAuth "
            "settings (or update the app from `flywheel commands slack`) and reinstall it"
        )
    if error == "paid_teams_only":
        return (
            f"Slack user groups such as {where} need a paid Slack plan: set {setting} to a "
            "private channel (G…) instead, or upgrade the workspace"
        )
    if error == "no_such_subteam":
        return (
            f"the Slack user group {where} for access '{access}' does not exist: set "
            f"{setting} to an existing group in bot.toml and restart Flywheel"
        )
    if error == "permission_denied":
        return (
            "a workspace setting stops apps from changing user groups: let everyone manage "
            "user groups in the workspace's settings (Permissions → User Groups)"
        )
    if error == "not_in_channel":
        return f"{app} is not in private channel {where}: invite it (/invite @{app})"
    if error == "channel_not_found":
        return (
            f"Slack cannot find channel {where} for access '{access}' (it was deleted, or it "
            f"is private and {app} is not in it): invite {app} to it (/invite @{app}) or set "
            f"{setting} to another channel"
        )
    if error == "is_archived":
        return (
            f"the channel {where} for access '{access}' is archived: unarchive it or set "
            f"{setting} to another channel"
        )
    if error == "restricted_action":
        return (
            f"a workspace setting stops {app} from adding people to channels: allow it in the "
            "workspace's settings (Permissions → Channel Management)"
        )
    return None
