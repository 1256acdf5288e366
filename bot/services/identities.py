"""Member resolution: a platform identity becomes a member on first sight, exactly once."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiosqlite
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.db.driver import (
    run_core,
    select_in,
    sqlite_driver,
    sqlite_time,
    values_insert,
    values_returning,
)
from bot.errors import FlywheelError, NotFound
from bot.events import MemberCreated, MemberJoined, publish, publish_many
from bot.ids import new_uid
from bot.messages import DirectMessage, rich
from bot.models import ErasedIdentity, Identity, Member, PlatformSpace
from bot.outbox import send
from bot.services.communities import SpaceRef


@dataclass(frozen=True)
class ResolvedMember:
    """The member behind an identity, and whether this call created it.

    ``returning`` is True when the person had asked to be erased and this explicit action
    starts a fresh member for them (front ends tell them so).
    """

    member_id: int
    community_id: int
    created: bool
    returning: bool = False


class ErasedPerson(FlywheelError):
    """A passive signal (a reaction, a reply) from someone who asked to be erased."""


def identity_digest(platform: str, space_id: int, user_id: str) -> str:
    """Return the one-way digest an erased identity is remembered by."""
    return hashlib.sha256(f"{platform}:{space_id}:{user_id}".encode()).hexdigest()


async def forget_identities(
    session: AsyncSession, clock: Clock, identities: Sequence[Identity]
) -> None:
    """Delete identities of an erased member, remembering only their one-way digests."""
    if not identities:
        return
    digests = [
        {"digest": identity_digest(i.platform, i.space_id, i.user_id), "erased_at": clock.now()}
        for i in identities
    ]
    await session.execute(
        dialect_insert(session, ErasedIdentity).on_conflict_do_nothing(index_elements=["digest"]),
        digests,
    )
    await session.execute(delete(Identity).where(Identity.id.in_([i.id for i in identities])))


@dataclass(frozen=True)
class MemberProfile:
    """What a member may see about themselves."""

    member_id: int
    community_id: int
    display_name: str | None
    points_total: int
    activity_count: int
    joined_at: datetime
    last_active_at: datetime | None
    platforms: tuple[str, ...]


class _LostRace(Exception):
    """Another transaction created this identity between our read and our insert."""


async def _find(session: AsyncSession, space: SpaceRef, user_id: str) -> int | None:
    return await session.scalar(
        select(Identity.member_id).where(
            Identity.platform == space.platform,
            Identity.space_id == space.space_id,
            Identity.user_id == user_id,
        )
    )


async def resolve_member(
    session: AsyncSession,
    clock: Clock,
    *,
    space: SpaceRef,
    user_id: str,
    display_name: str | None = None,
    explicit: bool = True,
) -> ResolvedMember:
    """Return the member for a platform user, creating member and identity on first sight.

    Someone who asked to be erased comes back only through an ``explicit`` action of
    theirs (a command, a button): a passive one (``explicit=False``: a reaction, a reply)
    raises :class:`ErasedPerson` and creates nothing.

    Safe under concurrency: the identity's unique key decides which of several concurrent
    first sightings wins; the losers roll back their savepoint and read the winner's row.
    """
    existing = await _find(session, space, user_id)
    if existing is not None:
        return ResolvedMember(existing, space.community_id, created=False)
    digest = identity_digest(space.platform, space.space_id, user_id)
    erased = await session.scalar(select(ErasedIdentity.id).where(ErasedIdentity.digest == digest))
    if erased is not None and not explicit:
        raise ErasedPerson(
            "They asked to be erased; only an action of their own starts a new profile."
        )
    now = clock.now()
    try:
        async with session.begin_nested():
            member_id = await session.scalar(
                dialect_insert(session, Member)
                .values(
                    community_id=space.community_id,
                    display_name=display_name,
                    points_total=0,
                    activity_count=0,
                    joined_at=now,
                )
                .returning(Member.id)
            )
            claimed = await session.scalar(
                dialect_insert(session, Identity)
                .values(
                    member_id=member_id,
                    space_id=space.space_id,
                    platform=space.platform,
                    user_id=user_id,
                    username=display_name,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["platform", "space_id", "user_id"])
                .returning(Identity.member_id)
            )
            if claimed is None:
                raise _LostRace
    except _LostRace:
        winner = await _find(session, space, user_id)
        if winner is None:  # pragma: no cover - the conflict means a committed row exists
            raise RuntimeError("identity conflict without a visible row") from None
        return ResolvedMember(winner, space.community_id, created=False)
    assert member_id is not None
    await publish(
        session,
        clock,
        MemberCreated(
            community_id=space.community_id, member_id=member_id, platform=space.platform
        ),
    )
    if erased is not None:
        await session.execute(delete(ErasedIdentity).where(ErasedIdentity.id == erased))
        # Tell them: a fresh, empty profile begins with this action of theirs.
        await send(
            session,
            clock,
            DirectMessage(
                member_id=member_id,
                platform=space.platform,
                body=rich(
                    "Welcome back. You asked this community to erase your data earlier, so "
                    "this starts a new, empty profile: nothing from before was kept."
                ),
            ),
            key=f"welcome-back:{member_id}",
            community_id=space.community_id,
        )
    return ResolvedMember(member_id, space.community_id, created=True, returning=erased is not None)


_KNOWN_SQLITE = (
    "SELECT user_id, member_id FROM identities WHERE platform = ? AND space_id = ? AND user_id IN"
)


async def _known(
    session: AsyncSession, space: SpaceRef, user_ids: Iterable[str]
) -> list[tuple[str, int]]:
    """Return (user id, member id) of the users of ``space`` that already have an identity."""
    driver = await sqlite_driver(session)
    if driver is not None:
        # A chat batch asks for a few thousand users: straight to SQLite's driver (bot.db.driver).
        return [
            (user_id, member_id)
            for user_id, member_id in await select_in(
                driver, _KNOWN_SQLITE, [space.platform, space.space_id], user_ids
            )
        ]
    rows = await session.execute(
        select(Identity.user_id, Identity.member_id).where(
            Identity.platform == space.platform,
            Identity.space_id == space.space_id,
            Identity.user_id.in_(list(user_ids)),
        )
    )
    return [(user_id, member_id) for user_id, member_id in rows]


_MEMBERS_SQLITE = (
    "INSERT INTO members (id, community_id, display_name, points_total, activity_count, joined_at)"
)
_IDENTITIES_SQLITE = (
    "INSERT INTO identities (member_id, space_id, platform, user_id, username, created_at)",
    "ON CONFLICT (platform, space_id, user_id) DO NOTHING RETURNING user_id, member_id",
)


async def _create_sqlite(
    driver: aiosqlite.Connection,
    space: SpaceRef,
    new: Sequence[str],
    names: Mapping[str, str | None],
    now: datetime,
) -> tuple[dict[str, int], dict[str, int]]:
    """Create members for ``new`` users on SQLite's driver.

    Return each user's new member id, and the users whose identity is that member's (another
    process may have claimed one meanwhile).

    A first chat burst creates thousands (through SQLAlchemy a few hundred a second went to
    Python). SQLite cannot say which new id went to which row of a multi-row INSERT, and a
    SQLite writer holds the database's write lock from BEGIN IMMEDIATE on: the ids are taken
    here the way SQLite takes them itself, the largest so far plus one.
    """
    ((last,),) = await driver.execute_fetchall("SELECT coalesce(max(id), 0) FROM members")
    stamp = sqlite_time(now)
    ids = range(last + 1, last + 1 + len(new))
    await values_insert(
        driver,
        _MEMBERS_SQLITE,
        [(i, space.community_id, names[u], 0, 0, stamp) for i, u in zip(ids, new, strict=True)],
        "",
    )
    head, tail = _IDENTITIES_SQLITE
    claimed = await values_returning(
        driver,
        head,
        [
            (i, space.space_id, space.platform, u, names[u], stamp)
            for i, u in zip(ids, new, strict=True)
        ],
        tail,
    )
    members = dict(zip(new, ids, strict=True))
    return members, {user_id: member_id for user_id, member_id in claimed}


async def resolve_passive_members(
    session: AsyncSession,
    clock: Clock,
    *,
    space: SpaceRef,
    users: Sequence[tuple[str, str | None]],
) -> dict[str, ResolvedMember]:
    """Return members for many (user id, display name) pairs, creating the missing ones.

    The batch form of :func:`resolve_member` for a passive source (an import, chat): someone who
    asked to be erased is left out of the result, never brought back. A user another
    transaction creates meanwhile keeps that member (the identity's unique key decides);
    the member this call made for them is removed again.
    """
    ids, created = await passive_member_ids(session, clock, space=space, users=users)
    return {
        user_id: ResolvedMember(member_id, space.community_id, created=user_id in created)
        for user_id, member_id in ids.items()
    }


async def passive_member_ids(
    session: AsyncSession,
    clock: Clock,
    *,
    space: SpaceRef,
    users: Sequence[tuple[str, str | None]],
) -> tuple[dict[str, int], set[str]]:
    """Return :func:`resolve_passive_members` as plain ids, and the users whose member is new.

    Chat resolves thousands of users a batch: one object each showed.
    """
    found: dict[str, int] = {}
    wanted = {user_id: name[:100] if name else None for user_id, name in users}
    if not wanted:
        return found, set()
    found.update(await _known(session, space, wanted))
    digests = {
        identity_digest(space.platform, space.space_id, u): u for u in wanted if u not in found
    }
    if not digests:
        return found, set()
    erased = await session.scalars(
        select(ErasedIdentity.digest).where(ErasedIdentity.digest.in_(digests))
    )
    for digest in erased:
        del digests[digest]
    new = list(digests.values())
    if not new:
        return found, set()
    now = clock.now()
    driver = await sqlite_driver(session)
    if driver is not None:
        members, mine = await _create_sqlite(driver, space, new, wanted, now)
    else:
        rows = [
            {
                "community_id": space.community_id,
                "display_name": wanted[user_id],
                "points_total": 0,
                "activity_count": 0,
                "joined_at": now,
            }
            for user_id in new
        ]
        created = await session.scalars(
            dialect_insert(session, Member).returning(Member.id, sort_by_parameter_order=True),
            rows,
        )
        ids = list(created.all())
        members = dict(zip(new, ids, strict=True))
        claimed = await session.execute(
            dialect_insert(session, Identity)
            .on_conflict_do_nothing(index_elements=["platform", "space_id", "user_id"])
            .returning(Identity.user_id, Identity.member_id),
            [
                {
                    "member_id": members[user_id],
                    "space_id": space.space_id,
                    "platform": space.platform,
                    "user_id": user_id,
                    "username": wanted[user_id],
                    "created_at": now,
                }
                for user_id in new
            ],
        )
        mine = dict(claimed.all())
    lost = [user_id for user_id in new if user_id not in mine]
    if lost:
        await session.execute(delete(Member).where(Member.id.in_([members[u] for u in lost])))
        found.update(await _known(session, space, lost))
    found.update(mine)
    await publish_many(
        session,
        clock,
        [
            MemberCreated(
                community_id=space.community_id, member_id=member_id, platform=space.platform
            )
            for member_id in mine.values()
        ],
    )
    return found, set(mine)


async def member_joined(
    session: AsyncSession, clock: Clock, *, platform: str, space: str, user_id: str
) -> int | None:
    """Note that a user joined a guild or workspace; publish ``member.joined`` if they are known.

    A join is a passive signal: it creates no member (chat, a command or a purchase does)
    and brings back nobody who asked to be erased. In a guild or workspace not bound to the
    community nothing happens. Return the member's id, or None.
    """
    found = (
        await session.execute(
            select(Identity.member_id, PlatformSpace.community_id)
            .join(PlatformSpace, PlatformSpace.id == Identity.space_id)
            .where(
                PlatformSpace.platform == platform,
                PlatformSpace.external_id == space,
                Identity.platform == platform,
                Identity.user_id == user_id,
            )
        )
    ).first()
    if found is None:
        return None
    member_id, community_id = found
    await publish(
        session,
        clock,
        MemberJoined(
            community_id=community_id,
            member_id=member_id,
            platform=platform,
            space=space,
            user_id=user_id,
            join_uid=new_uid(),
        ),
    )
    return int(member_id)


def joined_as(member_id: int | None) -> str:
    """Return how a front end logs the outcome of :func:`member_joined`."""
    return "not a known member" if member_id is None else f"member {member_id}"


async def get_profile(session: AsyncSession, member_id: int) -> MemberProfile:
    """Return a member's own profile."""
    member = await session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        raise NotFound("That member is not known here.")
    if member.merged_into_id is not None:
        return await get_profile(session, member.merged_into_id)
    platforms = (
        await session.scalars(
            select(Identity.platform).where(Identity.member_id == member_id).distinct()
        )
    ).all()
    return MemberProfile(
        member_id=member.id,
        community_id=member.community_id,
        display_name=member.display_name,
        points_total=member.points_total,
        activity_count=member.activity_count,
        joined_at=member.joined_at,
        last_active_at=member.last_active_at,
        platforms=tuple(sorted(platforms)),
    )


async def public_id(session: AsyncSession, member_id: int) -> str:
    """Return the member's public id (``members.uid``), giving one to a member without.

    Members created by the raw ingest path carry none until a link or Stripe first names them.
    """
    uid = await session.scalar(select(Member.uid).where(Member.id == member_id))
    if uid:
        return uid
    uid = new_uid()
    await session.execute(update(Member).where(Member.id == member_id).values(uid=uid))
    return uid


# Built once: a Stripe webhook looks a member up by public id for each event.
_BY_PUBLIC_ID = select(Member.id, Member.merged_into_id).where(
    Member.uid == bindparam("uid"),
    Member.community_id == bindparam("community_id"),
    Member.erased_at.is_(None),
)


async def member_of_public_id(session: AsyncSession, uid: str, community_id: int) -> int | None:
    """Return the member with this public id in the community (the kept one after linking).

    None for an unknown id or an erased member.
    """
    found = await run_core(session, _BY_PUBLIC_ID, {"uid": uid, "community_id": community_id})
    if not found:
        return None
    member_id, merged_into_id = found[0]
    kept: int = merged_into_id or member_id
    return kept
