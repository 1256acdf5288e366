"""The review queue: moderators approve, reject or feature submissions, once.

A decision is one conditional UPDATE (``… WHERE status = 'pending'``): of two moderators
clicking at the same instant, the database lets exactly one through, on SQLite (one writer
at a time) and on PostgreSQL (the second UPDATE waits for the row, then finds it decided).
Only the winner's transaction records points, the audit entry, the member's DM, the queue
post's edit and the showcase post; the other is told who decided first.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.commands import CommandNames
from bot.errors import Invalid, NotFound
from bot.events import Event, domain_event, publish
from bot.inputs import clean_text
from bot.media import MediaStore
from bot.models import Consent, Member, SubmissionStatus, UgcSubmission
from bot.outbox import send
from bot.services.audit import audit
from bot.services.callers import Actor, Role, require
from bot.services.engagement import ActivityKind, record_activity
from bot.services.ugc.messages import decided_edit, decision_dm, showcase_post
from bot.services.ugc.submissions import UgcRules, shown_of

REASON_LENGTH = 300
PUBLIC = (Consent.PUBLIC_NAMED, Consent.PUBLIC_ANONYMOUS)
# Reasons a moderator picks from (or types their own).
REJECT_REASONS: dict[str, str] = {
    "off-topic": "it is off topic for this community",
    "quality": "it needs more detail before we can show it",
    "duplicate": "it repeats something already shared",
    "rules": "it breaks the community rules",
    "consent": "it shows someone who has not agreed to be shown",
}


class Decision(StrEnum):
    """What a moderator can decide about a pending submission."""

    APPROVE = "approve"
    REJECT = "reject"
    FEATURE = "feature"


OUTCOME = {Decision.APPROVE: "approved", Decision.REJECT: "rejected", Decision.FEATURE: "featured"}
STATUS_OF = {
    Decision.APPROVE: SubmissionStatus.APPROVED,
    Decision.REJECT: SubmissionStatus.REJECTED,
    Decision.FEATURE: SubmissionStatus.APPROVED,
}


@domain_event("ugc.featured")
@dataclass(frozen=True)
class UgcFeatured(Event):
    """A moderator featured a member's submission (the Community Spotlight)."""

    community_id: int
    member_id: int
    submission_uid: str


@dataclass(frozen=True)
class DecisionResult:
    """The outcome; ``decided_now`` is False when someone had decided before this click."""

    uid: str
    outcome: str  # approved, featured, rejected or withdrawn
    decided_now: bool
    decided_by: str | None
    decided_at: datetime | None
    points: int
    author: str = ""  # the member's display name, so the moderator is told who gains what


@dataclass(frozen=True)
class QueueItem:
    """A pending submission in the queue."""

    uid: str
    title: str
    author: str
    submitted_at: datetime
    consent: Consent


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue, oldest first."""

    items: tuple[QueueItem, ...]
    page: int
    pages: int
    total: int


def check_reason(reason: str) -> str:
    """Return a rejection reason: a listed one by its key, or the moderator's own words."""
    cleaned = reason.strip()
    if cleaned in REJECT_REASONS:
        return REJECT_REASONS[cleaned]
    if not cleaned:
        raise Invalid(
            "Reason: pick a reason or write one; the member is told it.",
            field="reason",
            code="reason.missing",
        )
    return clean_text(cleaned, field="reason", what="Reason", max_length=REASON_LENGTH)


def _outcome_of(submission: UgcSubmission) -> str:
    if submission.status == SubmissionStatus.APPROVED and submission.featured:
        return "featured"
    return str(submission.status.value)


async def decide(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    uid: str,
    decision: Decision,
    *,
    reason: str = "",
    rules: UgcRules,
    store: MediaStore,
    commands: CommandNames,
) -> DecisionResult:
    """Approve, reject or feature a pending submission (moderators); the first decision wins."""
    require(actor, Role.MODERATOR)
    why = check_reason(reason) if decision == Decision.REJECT else None
    now = clock.now()
    approving = decision != Decision.REJECT
    decided_id = await session.scalar(
        update(UgcSubmission)
        .where(
            UgcSubmission.uid == uid,
            UgcSubmission.community_id == actor.community_id,
            UgcSubmission.status == SubmissionStatus.PENDING,
        )
        .values(
            status=STATUS_OF[decision],
            featured=decision == Decision.FEATURE,
            decided_at=now,
            decided_by=actor.member_id,
            reject_reason=why,
            public_at=case((UgcSubmission.consent.in_(PUBLIC), now), else_=None)
            if approving
            else None,
        )
        .returning(UgcSubmission.id)
        .execution_options(synchronize_session=False)
    )
    submission = await session.scalar(
        select(UgcSubmission)
        .where(UgcSubmission.uid == uid, UgcSubmission.community_id == actor.community_id)
        .execution_options(populate_existing=True)
    )
    if submission is None:
        raise NotFound("That submission is no longer there: its author deleted it.")
    author = await session.scalar(
        select(Member.display_name).where(Member.id == submission.member_id)
    )
    if decided_id is None:
        by = None
        if submission.decided_by is not None:
            by = await session.scalar(
                select(Member.display_name).where(Member.id == submission.decided_by)
            )
        return DecisionResult(
            uid, _outcome_of(submission), False, by, submission.decided_at, 0, author or ""
        )
    outcome = OUTCOME[decision]
    points = 0
    awards = [(ActivityKind.UGC_APPROVED, rules.approve_points, "approved")] if approving else []
    if decision == Decision.FEATURE:
        awards.append((ActivityKind.UGC_FEATURED, rules.feature_points, "featured"))
    for kind, amount, what in awards:  # each once per submission, by its source key
        recorded = await record_activity(
            session,
            clock,
            member_id=submission.member_id,
            kind=kind,
            points=amount,
            source_key=f"ugc-{what}:{uid}",
            source_ref=f"ugc:{uid}",
        )
        points += recorded.points if recorded.counted else 0
    if decision == Decision.FEATURE:
        await publish(
            session,
            clock,
            UgcFeatured(
                community_id=submission.community_id,
                member_id=submission.member_id,
                submission_uid=uid,
            ),
        )
    await audit(
        session,
        clock,
        actor,
        f"ugc.{decision.value}",
        f"ugc:{uid}",
        {"reason": why} if why else None,
        about_member_id=submission.member_id,
    )
    moderator = await session.scalar(
        select(Member.display_name).where(Member.id == actor.member_id)
    )
    shown = await shown_of(session, submission, store=store, author=author)
    members = (submission.member_id, actor.member_id)
    await send(
        session,
        clock,
        decided_edit(shown, outcome, (actor.member_id, moderator or "a moderator"), now, why),
        key=f"ugc-decided:{uid}",
        community_id=submission.community_id,
        members=members,
    )
    await send(
        session,
        clock,
        decision_dm(
            shown,
            platform=submission.platform,
            outcome=outcome,
            points=points,
            reason=why,
            commands=commands,
        ),
        key=f"ugc-decision:{uid}",
        community_id=submission.community_id,
    )
    if approving:
        await send(
            session,
            clock,
            showcase_post(shown),
            key=f"ugc-showcase:{uid}",
            community_id=submission.community_id,
            members=(submission.member_id,),
        )
    return DecisionResult(uid, outcome, True, moderator, now, points, author=shown.author)


async def queue(
    session: AsyncSession, actor: Actor, *, page: int = 1, per_page: int = 10
) -> QueuePage:
    """Return a page of pending submissions, oldest first (moderators)."""
    require(actor, Role.MODERATOR)
    pending = (
        UgcSubmission.community_id == actor.community_id,
        UgcSubmission.status == SubmissionStatus.PENDING,
    )
    total = int(await session.scalar(select(func.count()).where(*pending)) or 0)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = await session.execute(
        select(
            UgcSubmission.uid,
            UgcSubmission.title,
            Member.display_name,
            UgcSubmission.submitted_at,
            UgcSubmission.consent,
        )
        .join(Member, Member.id == UgcSubmission.member_id)
        .where(*pending)
        .order_by(UgcSubmission.submitted_at, UgcSubmission.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    items = tuple(
        QueueItem(uid, title, author or "a member", at, consent)
        for uid, title, author, at, consent in rows
    )
    return QueuePage(items, page, pages, total)


async def pending_count(session: AsyncSession, community_id: int) -> int:
    """Return how many submissions wait for a moderator."""
    count = await session.scalar(
        select(func.count()).where(
            UgcSubmission.community_id == community_id,
            UgcSubmission.status == SubmissionStatus.PENDING,
        )
    )
    return int(count or 0)


@dataclass(frozen=True)
class Latency:
    """Moderation latency (submitted → decided) over the decisions in a period, in seconds."""

    decisions: int
    median_seconds: float | None
    p90_seconds: float | None


async def moderation_latency(
    session: AsyncSession, community_id: int, *, since: datetime, until: datetime
) -> Latency:
    """Return how long submissions decided in [since, until) waited for their decision."""
    rows = await session.execute(
        select(UgcSubmission.submitted_at, UgcSubmission.decided_at).where(
            UgcSubmission.community_id == community_id,
            UgcSubmission.decided_at >= since,
            UgcSubmission.decided_at < until,
        )
    )
    waits = sorted(
        (decided - submitted).total_seconds() for submitted, decided in rows if decided is not None
    )
    if not waits:
        return Latency(0, None, None)
    p90 = waits[min(len(waits) - 1, int(0.9 * len(waits)))]
    return Latency(len(waits), statistics.median(waits), p90)
