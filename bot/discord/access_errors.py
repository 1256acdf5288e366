"""Why Discord refused a role change, in one sentence an owner can act on.

When Discord answers a role change with Missing Permissions (50013) or Unknown Role
(10011), the sender asks Discord for the guild's roles and the bot's own member and works
out which of the usual causes it is: the bot lacks Manage Roles, its highest role is not
above the role it must give, or the role was deleted. The outbox then keeps the change
waiting (:class:`bot.outbox.Blocked`) until the owner fixes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

UNKNOWN_MEMBER = 10007
UNKNOWN_ROLE = 10011
MISSING_PERMISSIONS = 50013
ADMINISTRATOR = 1 << 3
MANAGE_ROLES = 1 << 28
ROLES_PATH = "Server Settings → Roles"


class _Api(Protocol):
    async def get(self, path: str) -> Any:
        """Return Discord's JSON answer to a GET."""


def unset_access(access: str) -> str:
    """Return the reason for an access key with no Discord role configured."""
    return (
        f"no Discord role is set for access '{access}': add it under [discord.access] in "
        f"bot.toml ({access} = <role id>) and restart Flywheel"
    )


async def diagnose(api: _Api, guild: str, role_id: int, access: str) -> str:
    """Return why the bot cannot give or take ``role_id`` in ``guild``, with the fix."""
    me = await api.get("/users/@me")
    name = str(me.get("global_name") or me.get("username") or "Flywheel")
    roles: Sequence[Mapping[str, Any]] = await api.get(f"/guilds/{guild}/roles")
    member = await api.get(f"/guilds/{guild}/members/{me['id']}")
    by_id = {str(role["id"]): role for role in roles}
    target = by_id.get(str(role_id))
    if target is None:
        return (
            f"the role {role_id} for access '{access}' was deleted: set [discord.access] "
            f"{access} to an existing role in bot.toml and restart Flywheel"
        )
    held = [by_id[r] for r in member.get("roles", []) if r in by_id]
    everyone = by_id.get(str(guild))
    permissions = 0
    for role in [*held, *([everyone] if everyone else [])]:
        permissions |= int(role.get("permissions") or 0)
    top = max(held, key=lambda role: int(role.get("position") or 0), default=None)
    top_name = str(top["name"]) if top else "@everyone"
    if not permissions & (MANAGE_ROLES | ADMINISTRATOR):
        return (
            f"{name} lacks Manage Roles: give its role '{top_name}' that permission in {ROLES_PATH}"
        )
    target_name = str(target["name"])
    if top is None or int(top.get("position") or 0) <= int(target.get("position") or 0):
        return (
            f"{name}'s role '{top_name}' is below '{target_name}' in {ROLES_PATH}: drag "
            f"'{top_name}' above it"
        )
    if target.get("managed"):
        return (
            f"'{target_name}' belongs to an integration and nobody can give it by hand: set "
            f"[discord.access] {access} to another role"
        )
    return (
        f"Discord refused {name} the role '{target_name}' (Missing Permissions): check that "
        f"its role '{top_name}' has Manage Roles and sits above '{target_name}' in {ROLES_PATH}"
    )
