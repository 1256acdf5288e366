"""The engagement ledger: activities recorded once per source key, with the score columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.errors import Invalid, NotFound
from bot.events import ActivityRecorded, publish
from bot.models import Activity, Member


class ActivityKind(StrEnum):
    """Kinds of activity the ledger knows; features add theirs here."""

    MESSAGE = "message"
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


async def ledger_total(session: AsyncSession, member_id: int) -> int:
    """Return the member's points as summed from the ledger (the score column must equal it)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Activity.points), 0)).where(Activity.member_id == member_id)
    )
    return int(total or 0)
