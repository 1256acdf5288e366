"""Access: what a member's roles, user groups and private channels should be, and why not.

A feature grants or revokes a neutral access key with ``RoleChange`` through the outbox
(badges today, payments next). This feature watches over those changes without a front
end of its own:

- when a change is blocked on something an owner can fix (``access.blocked``, published by
  the outbox dispatcher), each owner gets a DM with the reason and the fix, at most once a
  day per access key, platform and reason (:mod:`bot.services.access.owners`); the
  outbox keeps retrying meanwhile;
- :func:`access_state` says, per access key and platform, what was last wanted for a member
  and whether it was applied, is pending, blocked (and why) or failed — what ``/access
  why`` shows.

Rejoining is the front ends' part: they call :func:`bot.services.identities.member_joined`,
which publishes ``member.joined`` for a known member; features that grant access
re-grant it there.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import AccessBlocked
from bot.features import Feature, FeatureContext, Subscription
from bot.services.access.owners import tell_owners
from bot.services.access.state import AccessState, access_state


async def _tell_owners(
    context: FeatureContext, session: AsyncSession, event: AccessBlocked
) -> None:
    await tell_owners(session, context.clock, event, owners=context.settings.configured_owners())


FEATURE = Feature(
    name="access",
    summary=(
        "Access: owners are told, with the fix, when a role or channel cannot be granted or "
        "revoked; the outbox keeps retrying until it goes through."
    ),
    subscriptions=(Subscription("access.tell-owners", AccessBlocked, _tell_owners),),
    has_front_ends=False,
)

__all__ = ["FEATURE", "AccessState", "access_state", "tell_owners"]
