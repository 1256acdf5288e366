"""The engagement ledger: activities recorded once per source key, with the score columns."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.errors import Invalid, NotFound
from bot.events import ActivityRecorded, publish, publish_many
from bot.models import Activity, Member


class ActivityKind(StrEnum):
    """Kinds of activity the ledger knows; features add theirs here."""

    MESSAGE = "message"
    REACTION = "reaction"
    RITUAL_CHECKIN = "ritual_checkin"
    UGC_APPROVED = "ugc_approved"
    UGC_FEATURED = "ugc_featured"
    ANSWER_ACCEPTED = "answer_accepted"
    REFERRAL_CONVERTED = "referral_converted"
    PURCHASE = "purchase"
    ADJUSTMENT = "adjustment"
    IMPORTED = "imported"


MAX_POINTS_PER_ACTIVITY = 100_000


@dataclass(frozen=True)
class RecordedActivity:
    """The outcome of recording: ``counted`` is False when the source key was seen before."""

    activity_id: int | None
    member_id: int
    points: int
    counted: bool


async def record_activity(
    session: AsyncSession,
    clock: Clock,
    *,
    member_id: int,
    kind: ActivityKind | str,
    points: int,
    source_key: str,
    occurred_at: datetime | None = None,
    source_ref: str | None = None,
    imported: bool = False,
) -> RecordedActivity:
    """Append an activity unless its source key was already recorded; update the scores."""
    try:
        kind = ActivityKind(kind)
    except ValueError:
        raise Invalid(f"Unknown activity kind {kind!r}.") from None
    if abs(points) > MAX_POINTS_PER_ACTIVITY:
        raise Invalid(
            f"Points must be between -{MAX_POINTS_PER_ACTIVITY} and {MAX_POINTS_PER_ACTIVITY}."
        )
    if not source_key or len(source_key) > 200:
        raise Invalid("An activity needs a source key of 1 to 200 characters.")
    member = await session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        raise NotFound("That member is not known here.")
    if member.merged_into_id is not None:
        member_id = member.merged_into_id
    now = clock.now()
    when = occurred_at or now
    activity_id = await session.scalar(
        dialect_insert(session, Activity)
        .values(
            community_id=member.community_id,
            member_id=member_id,
            kind=kind.value,
            points=points,
            occurred_at=when,
            recorded_at=now,
            source_key=source_key,
            source_ref=source_ref,
            imported=imported,
        )
        .on_conflict_do_nothing(index_elements=["community_id", "source_key"])
        .returning(Activity.id)
    )
    if activity_id is None:
        return RecordedActivity(None, member_id, points, counted=False)
    values: dict[str, object] = {
        "points_total": Member.points_total + points,
        "activity_count": Member.activity_count + 1,
    }
    if not imported:
        # Imported history does not make a member active now (PLAYBOOK: health metrics).
        values["last_active_at"] = case(
            (Member.last_active_at.is_(None), when),
            (Member.last_active_at < when, when),
            else_=Member.last_active_at,
        )
    await session.execute(update(Member).where(Member.id == member_id).values(**values))
    await publish(
        session,
        clock,
        ActivityRecorded(
            community_id=member.community_id,
            member_id=member_id,
            activity_id=activity_id,
            kind=kind.value,
            points=points,
        ),
    )
    return RecordedActivity(activity_id, member_id, points, counted=True)


@dataclass(frozen=True)
class ImportedActivity:
    """One row of imported history for :func:`record_imported`."""

    member_id: int
    points: int
    source_key: str
    source_ref: str | None = None


async def record_imported(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    entries: Sequence[ImportedActivity],
) -> set[str]:
    """Record many imported activities at once; return the source keys that were new.

    The batch form of :func:`record_activity` with ``kind=IMPORTED, imported=True``: the
    same unique source keys, score columns and ``activity.recorded`` events, in a few
    statements instead of four per row (an import of 10,000 members). Imported history
    never touches ``last_active_at``. Entries for an unknown or erased member are refused.
    """
    if not entries:
        return set()
    for entry in entries:
        if abs(entry.points) > MAX_POINTS_PER_ACTIVITY:
            raise Invalid(
                f"Points must be between -{MAX_POINTS_PER_ACTIVITY} and {MAX_POINTS_PER_ACTIVITY}."
            )
        if not entry.source_key or len(entry.source_key) > 200:
            raise Invalid("An activity needs a source key of 1 to 200 characters.")
    wanted = {entry.member_id for entry in entries}
    found = await session.execute(
        select(Member.id, Member.merged_into_id, Member.erased_at, Member.community_id).where(
            Member.id.in_(wanted)
        )
    )
    owner: dict[int, int] = {}
    for member_id, merged_into_id, erased_at, member_community in found:
        if erased_at is None and member_community == community_id:
            owner[member_id] = merged_into_id or member_id
    if wanted - owner.keys():
        raise NotFound("That member is not known here.")
    now = clock.now()
    inserted = await session.execute(
        dialect_insert(session, Activity)
        .on_conflict_do_nothing(index_elements=["community_id", "source_key"])
        .returning(Activity.id, Activity.member_id, Activity.points, Activity.source_key),
        [
            {
                "community_id": community_id,
                "member_id": owner[entry.member_id],
                "kind": ActivityKind.IMPORTED.value,
                "points": entry.points,
                "occurred_at": now,
                "recorded_at": now,
                "source_key": entry.source_key,
                "source_ref": entry.source_ref,
                "imported": True,
            }
            for entry in entries
        ],
    )
    recorded = inserted.all()
    scores: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for _, member_id, points, _ in recorded:
        scores[member_id][0] += points
        scores[member_id][1] += 1
    if scores:
        table = cast(Table, Member.__table__)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("member"))
            .values(
                points_total=table.c.points_total + bindparam("points"),
                activity_count=table.c.activity_count + bindparam("count"),
            ),
            [
                {"member": member_id, "points": points, "count": count}
                for member_id, (points, count) in scores.items()
            ],
        )
    await publish_many(
        session,
        clock,
        [
            ActivityRecorded(
                community_id=community_id,
                member_id=member_id,
                activity_id=activity_id,
                kind=ActivityKind.IMPORTED.value,
                points=points,
            )
            for activity_id, member_id, points, _ in recorded
        ],
    )
    return {key for *_, key in recorded}


async def ledger_total(session: AsyncSession, member_id: int) -> int:
    """Return the member's points as summed from the ledger (the score column must equal it)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Activity.points), 0)).where(Activity.member_id == member_id)
    )
    return int(total or 0)
