"""Recognition's part of `/privacy export`, `/privacy delete`, linking and `flywheel export`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.db.reassign import reassign
from bot.features import ExportTable
from bot.models import (
    AcceptedAnswer,
    Badge,
    LeaderboardOptOut,
    Member,
    MemberBadge,
    MemberScore,
    MessageState,
)
from bot.services.recognition.badges import award_earned
from bot.services.recognition.scores import rebuild_member_scores, remove_member_scores

MEMBER_TABLES = (
    "member_scores",
    "recognition_message_state",
    "leaderboard_optouts",
    "answers",
    "member_badges",
    "badges",
)
ANONYMOUS_TABLES = ("board_score_counts",)


async def export_member(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return a member's board scores, whether they hide from boards, the chat rules' memory,
    and the questions they asked, answered or marked."""
    scores = await session.scalars(
        select(MemberScore)
        .where(MemberScore.member_id == member_id)
        .order_by(MemberScore.board, MemberScore.period, MemberScore.period_start)
    )
    optout = await session.get(LeaderboardOptOut, member_id)
    state = await session.get(MessageState, member_id)
    awards = await session.execute(
        select(
            Badge.name, Badge.emoji, MemberBadge.awarded_at, MemberBadge.via, MemberBadge.revoked_at
        )
        .join(Badge, Badge.id == MemberBadge.badge_id)
        .where(MemberBadge.member_id == member_id)
        .order_by(MemberBadge.awarded_at)
    )
    created = await session.scalars(
        select(Badge.name).where(Badge.created_by == member_id).order_by(Badge.name_key)
    )
    return {
        "scores": [
            {
                "board": s.board,
                "period": s.period,
                "period_start": s.period_start.isoformat(),
                "score": s.score,
            }
            for s in scores
        ],
        "hidden_from_leaderboards_since": optout.since.isoformat() if optout else None,
        "last_counted_message": (
            {"at": state.last_counted_at.isoformat(), "text_digest": state.last_digest}
            if state
            else None
        ),
        "answers": await export_answers(session, member_id),
        "badges": [
            {
                "badge": name,
                "emoji": emoji,
                "awarded_at": at.isoformat(),
                "via": via,
                "revoked_at": revoked.isoformat() if revoked else None,
            }
            for name, emoji, at, via, revoked in awards
        ],
        "badges_created": list(created),
    }


async def erase_member(session: AsyncSession, member_id: int, clock: Clock) -> None:
    """Take the member off every board and forget the chat rules' memory of them.

    Their ledger rows stay, anonymous (the privacy service), so community totals hold.
    """
    community_id = await session.scalar(select(Member.community_id).where(Member.id == member_id))
    assert community_id is not None
    await remove_member_scores(session, community_id, member_id)
    for model in (MessageState, LeaderboardOptOut, MemberBadge):
        await session.execute(delete(model).where(model.member_id == member_id))
    await erase_answers(session, member_id)
    # Badges they created or gave stay the community's; the link to them goes.
    await session.execute(
        update(Badge).where(Badge.created_by == member_id).values(created_by=None)
    )
    await session.execute(
        update(MemberBadge).where(MemberBadge.awarded_by == member_id).values(awarded_by=None)
    )


async def merge_members(session: AsyncSession, old: int, new: int, clock: Clock) -> None:
    """Rebuild the kept member's scores from the ledger (already moved to them).

    A hidden account keeps the merged person hidden; the later chat memory is kept.
    """
    community_id = await session.scalar(select(Member.community_id).where(Member.id == new))
    assert community_id is not None
    await remove_member_scores(session, community_id, old)
    # Rows leave the public counts under the status they had, and come back under the new one.
    await remove_member_scores(session, community_id, new)
    hidden = await session.get(LeaderboardOptOut, old)
    if hidden is not None:
        await session.execute(
            dialect_insert(session, LeaderboardOptOut)
            .values(member_id=new, community_id=community_id, since=hidden.since)
            .on_conflict_do_nothing(index_elements=["member_id"])
        )
    await rebuild_member_scores(session, clock, community_id, new)
    states = {
        s.member_id: s
        for s in await session.scalars(
            select(MessageState).where(MessageState.member_id.in_((old, new)))
        )
    }
    await session.execute(delete(MessageState).where(MessageState.member_id.in_((old, new))))
    if states:
        latest = max(states.values(), key=lambda s: s.last_counted_at)
        await session.execute(
            dialect_insert(session, MessageState).values(
                member_id=new,
                last_counted_at=latest.last_counted_at,
                last_digest=latest.last_digest,
            )
        )
    await session.execute(delete(LeaderboardOptOut).where(LeaderboardOptOut.member_id == old))
    await merge_answers(session, old, new)
    await _merge_badges(session, old, new)
    # Counters the two accounts reach together may cross a rule (two check-ins each are four).
    await award_earned(session, clock, community_id, [new])


async def _merge_badges(session: AsyncSession, old: int, new: int) -> None:
    """Move the old member's awards to the kept one: one award per badge, a held one first."""
    awards = (
        await session.scalars(select(MemberBadge).where(MemberBadge.member_id.in_((old, new))))
    ).all()
    by_badge: dict[int, list[MemberBadge]] = {}
    for row in awards:
        by_badge.setdefault(row.badge_id, []).append(row)
    for rows in by_badge.values():
        # Keep the award still held (not revoked), else the earliest; drop the other.
        kept = min(rows, key=lambda r: (r.revoked_at is not None, r.awarded_at, r.id))
        for row in rows:
            if row is not kept:
                await session.delete(row)
        await session.flush()
        if kept.member_id == old:
            kept.member_id = new
    await session.flush()
    await session.execute(update(Badge).where(Badge.created_by == old).values(created_by=new))
    await session.execute(
        update(MemberBadge).where(MemberBadge.awarded_by == old).values(awarded_by=new)
    )


EXPORT_TABLES = (
    ExportTable(
        "member_scores",
        MemberScore,
        ("id", "board", "period", "period_start", "member_id", "score", "updated_at"),
    ),
    ExportTable(
        "answers",
        AcceptedAnswer,
        (
            "id",
            "uid",
            "platform",
            "channel_id",
            "message_id",
            "asker_member_id",
            "asked_at",
            "first_response_at",
            "answer_channel_id",
            "answer_message_id",
            "answerer_member_id",
            "answered_at",
            "accepted_at",
            "accepted_by",
            "revision",
        ),
    ),
    ExportTable(
        "badges",
        Badge,
        (
            "id",
            "slug",
            "name",
            "emoji",
            "description",
            "rule_counter",
            "rule_threshold",
            "access",
            "source",
            "enabled",
            "created_at",
        ),
    ),
    ExportTable(
        "member_badges",
        MemberBadge,
        ("id", "member_id", "badge_id", "awarded_at", "via", "revoked_at"),
    ),
)


# -- accepted answers: export, erasure, linking -----------------------------------------------


async def export_answers(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return the questions a member asked, the answers of theirs marked, and what they marked."""

    def shown(row: AcceptedAnswer) -> dict[str, Any]:
        return {
            "id": row.uid,
            "platform": row.platform,
            "question": {"channel": row.channel_id, "message": row.message_id},
            "answer": {"channel": row.answer_channel_id, "message": row.answer_message_id},
            "asked_at": row.asked_at.isoformat(),
            "first_response_at": (
                row.first_response_at.isoformat() if row.first_response_at else None
            ),
            "answered_at": row.answered_at.isoformat(),
            "accepted_at": row.accepted_at.isoformat(),
        }

    async def rows(column: Any) -> list[dict[str, Any]]:
        found = await session.scalars(
            select(AcceptedAnswer).where(column == member_id).order_by(AcceptedAnswer.id)
        )
        return [shown(row) for row in found]

    return {
        "questions_asked": await rows(AcceptedAnswer.asker_member_id),
        "answers_accepted": await rows(AcceptedAnswer.answerer_member_id),
        "answers_marked": await rows(AcceptedAnswer.accepted_by),
    }


async def erase_answers(session: AsyncSession, member_id: int) -> None:
    """Forget the member in every question: as asker, answerer and marker.

    The rows stay without them (message ids and times only, no text), so the scorecard's
    medians hold and a question keeps its one answer.
    """
    for column in ("asker_member_id", "answerer_member_id", "accepted_by"):
        target = getattr(AcceptedAnswer, column)
        await session.execute(
            update(AcceptedAnswer).where(target == member_id).values({column: None})
        )


async def merge_answers(session: AsyncSession, old: int, new: int) -> None:
    """Move a linked member's questions, answers and marks to the kept member."""
    for column in ("asker_member_id", "answerer_member_id", "accepted_by"):
        await reassign(session, AcceptedAnswer, column, old, new)
