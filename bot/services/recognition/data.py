"""Recognition's part of `/privacy export`, `/privacy delete`, linking and `flywheel export`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.features import ExportTable
from bot.models import AcceptedAnswer, LeaderboardOptOut, Member, MemberScore, MessageState
from bot.services.recognition.answers import erase_answers, export_answers, merge_answers
from bot.services.recognition.scores import rebuild_member_scores, remove_member_scores

MEMBER_TABLES = ("member_scores", "recognition_message_state", "leaderboard_optouts", "answers")
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
    }


async def erase_member(session: AsyncSession, member_id: int, clock: Clock) -> None:
    """Take the member off every board and forget the chat rules' memory of them.

    Their ledger rows stay, anonymous (the privacy service), so community totals hold.
    """
    community_id = await session.scalar(select(Member.community_id).where(Member.id == member_id))
    assert community_id is not None
    await remove_member_scores(session, community_id, member_id)
    for model in (MessageState, LeaderboardOptOut):
        await session.execute(delete(model).where(model.member_id == member_id))
    await erase_answers(session, member_id)


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
)
