"""Who is calling: the platform-neutral description of a command's author, and their rights."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import Forbidden
from bot.services.communities import SpaceRef, ensure_space
from bot.services.identities import ResolvedMember, resolve_member


class Role(IntEnum):
    """What a caller may do; each level includes the ones below."""

    MEMBER = 0
    MODERATOR = 1
    OWNER = 2


@dataclass(frozen=True)
class Caller:
    """The author of a command, as a front end parsed it (role decided on the server side)."""

    platform: str
    space_id: str
    user_id: str
    display_name: str | None
    role: Role
    channel_id: str | None = None


@dataclass(frozen=True)
class Actor:
    """A caller resolved to a member of a community."""

    caller: Caller
    space: SpaceRef
    member: ResolvedMember

    @property
    def member_id(self) -> int:
        """Return the member's id."""
        return self.member.member_id

    @property
    def community_id(self) -> int:
        """Return the community's id."""
        return self.member.community_id


async def resolve_actor(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    caller: Caller,
    explicit: bool = True,
) -> Actor:
    """Bind the caller's guild/workspace to the community if new, and resolve the member.

    ``explicit`` is False for passive signals (a reaction, a thread reply): those never
    bring back someone who asked to be erased (:class:`bot.services.identities.ErasedPerson`).
    """
    space = await ensure_space(
        session,
        clock,
        community_id=community_id,
        platform=caller.platform,
        external_id=caller.space_id,
    )
    member = await resolve_member(
        session,
        clock,
        space=space,
        user_id=caller.user_id,
        display_name=caller.display_name,
        explicit=explicit,
    )
    return Actor(caller=caller, space=space, member=member)


def require(actor: Actor | Caller, role: Role) -> None:
    """Raise Forbidden unless the caller has at least ``role``."""
    caller = actor.caller if isinstance(actor, Actor) else actor
    if caller.role < role:
        needed = {Role.MODERATOR: "moderators", Role.OWNER: "owners"}.get(role, "members")
        raise Forbidden(f"Only {needed} can do that.")
