"""Roster import: a member list from another tool, brought in as imported ledger activity.

The file readers (``bot/roster_formats.py``) turn a CSV or a MEE6 leaderboard into
:class:`RosterRow` values; this module records them. Each row becomes, through the same
identity resolution the bot uses, a member with an identity on its platform space, and
its total becomes ``imported`` activity in the ledger (which never makes anyone active).

Idempotency and re-import policy: a row's source key is
``import:<source>:<platform>:<space>:<user id>:<total>`` (plus a digest of its badge list
when it has one). A key already in the ledger means the row is *unchanged* and nothing is
written. A new total for the same user and source records the *difference* between it
and what that source imported so far, keyed by the new total: the member ends at the
newest file's total, and running either file again changes nothing (a total imported
once is never imported again, so going back to an older file keeps the newer total).
Each source (``csv``, ``mee6``) is its own stream: totals from different tools add up.

The ledger refuses more than ``MAX_POINTS_PER_ACTIVITY`` points in one row, so a larger
total is recorded as several rows (``…:<total>``, ``…:<total>:2``, …) in one transaction.
The badges a row lists are given through the badges service (:func:`import_awards`: found by
name or slug, not announced, an award held or revoked left alone), on every run, so a badge
defined after a first import is given by the next; names that match no badge are reported.
The list is also kept in the ``source_ref`` of the import's newest row (``badges: A; B``).
Someone who asked to be erased is not brought back by an import (a passive signal).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.models import Activity, Member, PlatformSpace
from bot.services.communities import SpaceRef
from bot.services.engagement import (
    MAX_POINTS_PER_ACTIVITY,
    ActivityKind,
    ImportedActivity,
    record_imported,
)
from bot.services.identities import ResolvedMember, resolve_passive_members
from bot.services.recognition.badges import import_awards

MAX_IMPORTED_POINTS = 10_000_000  # per member and source: at most 100 ledger rows
SOURCE_REF_LENGTH = 500  # the column


@dataclass(frozen=True)
class RosterRow:
    """One member of an imported roster, already checked by its file's reader.

    ``where`` says where it came from in the file (``line 12``, ``player 3, line 40``);
    ``note`` is extra history kept beside the points (``level 12, 345 messages``).
    """

    where: str
    platform: str
    user_id: str
    display_name: str
    points: int
    joined: date | None = None
    badges: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A row that was not imported, and why."""

    where: str
    reason: str


@dataclass(frozen=True)
class BatchOutcome:
    """What importing one batch did."""

    imported: int
    created: int
    unchanged: int
    skipped: tuple[Skipped, ...]
    badges: int = 0  # badge awards made
    # Rows whose points went in but that name a badge not defined here.
    unknown_badges: tuple[Skipped, ...] = ()


def _prefix(source: str, space: SpaceRef, user_id: str) -> str:
    return f"import:{source}:{space.platform}:{space.external_id}:{user_id}:"


def source_key(source: str, space: SpaceRef, row: RosterRow) -> str:
    """Return the ledger key of a row: its source, platform, space, user, total and badges."""
    key = f"{_prefix(source, space, row.user_id)}{row.points}"
    if row.badges:
        digest = hashlib.sha256("\n".join(row.badges).encode()).hexdigest()[:12]
        key += f":b{digest}"
    return key


def _parts(points: int) -> list[int]:
    """Split a difference into pieces the ledger accepts (one 0 when there is none)."""
    if points == 0:
        return [0]
    sign = 1 if points > 0 else -1
    remaining, parts = abs(points), []
    while remaining:
        part = min(remaining, MAX_POINTS_PER_ACTIVITY)
        parts.append(sign * part)
        remaining -= part
    return parts


def _source_ref(source: str, row: RosterRow) -> str:
    ref = f"{source} import"
    if row.note:
        ref += f": {row.note}"
    if row.badges:
        ref += "; badges: " + "; ".join(row.badges)
    return ref


async def connected_space(
    session: AsyncSession, *, community_id: int, platform: str
) -> SpaceRef | None:
    """Return the community's one space on a platform, or None when it has none (or several)."""
    found = (
        await session.scalars(
            select(PlatformSpace)
            .where(PlatformSpace.community_id == community_id, PlatformSpace.platform == platform)
            .limit(2)
        )
    ).all()
    if len(found) != 1:
        return None
    space = found[0]
    return SpaceRef(space.id, space.community_id, space.platform, space.external_id)


async def import_batch(
    session: AsyncSession,
    clock: Clock,
    *,
    source: str,
    spaces: Mapping[str, SpaceRef],
    rows: Sequence[RosterRow],
) -> BatchOutcome:
    """Record a batch of roster rows as imported activity; the caller owns the transaction.

    A handful of statements per batch, whatever its size: the members are resolved (and
    created) together, one query reads what the ledger already has from imports, and the
    new activities go in as one insert.
    """
    by_platform: dict[str, list[RosterRow]] = defaultdict(list)
    for row in rows:
        by_platform[row.platform].append(row)
    members: dict[tuple[str, str], ResolvedMember] = {}
    for platform, group in by_platform.items():
        resolved = await resolve_passive_members(
            session,
            clock,
            space=spaces[platform],
            users=[(row.user_id, row.display_name) for row in group],
        )
        members.update({(platform, user_id): member for user_id, member in resolved.items()})
    history: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if members:
        earlier_rows = await session.execute(
            select(Activity.member_id, Activity.source_key, Activity.points).where(
                Activity.member_id.in_({member.member_id for member in members.values()}),
                Activity.kind == ActivityKind.IMPORTED.value,
            )
        )
        for member_id, key, points in earlier_rows:
            history[member_id].append((key, points))

    unchanged = 0
    skipped: list[Skipped] = []
    entries: list[ImportedActivity] = []
    joined: list[dict[str, object]] = []
    done: list[ResolvedMember] = []
    wanted: list[tuple[int, str, str]] = []  # member, badge name, where
    for row in rows:
        space = spaces[row.platform]
        member = members.get((row.platform, row.user_id))
        if member is None:
            skipped.append(Skipped(row.where, "this person asked to be erased"))
            continue
        wanted.extend((member.member_id, name, row.where) for name in row.badges)
        key = source_key(source, space, row)
        earlier = history.get(member.member_id, [])
        if any(seen == key for seen, _ in earlier):
            unchanged += 1
            continue
        reference = _source_ref(source, row)
        if len(reference) > SOURCE_REF_LENGTH:
            skipped.append(Skipped(row.where, "badges: the list is too long to keep"))
            continue
        prefix = _prefix(source, space, row.user_id)
        so_far = sum(points for seen, points in earlier if seen.startswith(prefix))
        for index, part in enumerate(_parts(row.points - so_far), start=1):
            entries.append(
                ImportedActivity(
                    member_id=member.member_id,
                    points=part,
                    source_key=key if index == 1 else f"{key}:{index}",
                    source_ref=reference,
                )
            )
        if row.joined is not None:
            joined.append(
                {
                    "member": member.member_id,
                    "joined": datetime.combine(row.joined, time(), tzinfo=UTC),
                }
            )
        done.append(member)
    community_id = next(iter(spaces.values())).community_id if spaces else 0
    await record_imported(session, clock, community_id=community_id, entries=entries)
    if joined:
        table = cast(Table, Member.__table__)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("member"), table.c.joined_at > bindparam("joined"))
            .values(joined_at=bindparam("joined")),
            joined,
        )
    created = len({member.member_id for member in done if member.created})
    made, unknown = await import_awards(
        session, clock, community_id, [(member_id, name) for member_id, name, _ in wanted]
    )
    missing = tuple(
        Skipped(
            where,
            f"no badge {name!r} here (its points went in); define it in bot.toml "
            "[badges.<slug>] or with /badge create, then import again",
        )
        for _, name, where in wanted
        if name in unknown
    )
    return BatchOutcome(len(done), created, unchanged, tuple(skipped), made, missing)
