"""Recognition: points from chat, per-period score rows, and the boards read from them.

Rooms: :mod:`.chat` (chat messages in neutral terms, and their rules), :mod:`.ingest` (the
batch writer), :mod:`.pipeline` (the chat queue that feeds it), :mod:`.reactions`
(points for reactions received from others, written at once), :mod:`.periods` (boards,
calendar periods in the community's time zone), :mod:`.scores` (the score rows: added to
with the ledger, rebuilt from it), :mod:`.boards` (top and own rank, opting out),
:mod:`.standing` (what /rank, /leaderboard and the Home tab show, privacy applied),
:mod:`.cards` (PNG rank and leaderboard cards, drawn off the event loop), :mod:`.answers`
(accepted answers and the scorecard's answer times), :mod:`.catalogue` (which badges there
are), :mod:`.badges` (awarding them, once), :mod:`.counters` (what their rules read) and
:mod:`.data` (privacy and export). Front ends use only what this module exports.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import ActivityRecorded
from bot.features import Feature, FeatureContext, Subscription
from bot.services.recognition import data
from bot.services.recognition.answers import (
    AcceptResult,
    AnswerAccepted,
    AnswerTimes,
    MessageRef,
    QuestionRef,
    accept_answer,
    accepted_words,
    answer_times,
    duration_text,
)
from bot.services.recognition.badges import (
    AWARD_TOLD,
    AWARD_TOLD_QUIETLY,
    AwardResult,
    BadgeAwarded,
    HeldBadge,
    award,
    award_earned,
    from_anonymous_work,
    held_badges,
    revoke,
    top_badges,
)
from bot.services.recognition.boards import (
    BoardEntry,
    BoardPage,
    OwnRank,
    is_leaderboard_public,
    rank_of,
    set_leaderboard_public,
    top,
)
from bot.services.recognition.cards import leaderboard_png, rank_png
from bot.services.recognition.catalogue import (
    BadgeDraft,
    BadgeView,
    CatalogueEntry,
    badge_names,
    catalogue,
    create_badge,
    sync_configured,
)
from bot.services.recognition.chat import (
    ChatRules,
    MessageSeen,
    text_digest,
    text_length,
    visible_text,
)
from bot.services.recognition.ingest import BatchResult, ingest_batch
from bot.services.recognition.periods import Board, Period, period_start
from bot.services.recognition.pipeline import IngestPipeline, IngestStats
from bot.services.recognition.reactions import (
    ReactionOutcome,
    ReactionResult,
    ReactionRules,
    ReactionSeen,
    record_reaction,
    screen_reaction,
)
from bot.services.recognition.scores import ledger_scores, on_activity_recorded
from bot.services.recognition.standing import (
    BOARD_WORDS,
    PERIOD_WORDS,
    BadgeMark,
    BoardChoice,
    HomeSummary,
    LeaderboardPage,
    RankCard,
    board_choice,
    board_title,
    home_summary,
    leaderboard_page,
    rank_card,
    rank_words,
)
from bot.services.ugc.moderation import UgcFeatured

__all__ = [
    "AWARD_TOLD",
    "AWARD_TOLD_QUIETLY",
    "BOARD_WORDS",
    "FEATURE",
    "PERIOD_WORDS",
    "AcceptResult",
    "AnswerAccepted",
    "AnswerTimes",
    "AwardResult",
    "BadgeAwarded",
    "BadgeDraft",
    "BadgeMark",
    "BadgeView",
    "BatchResult",
    "Board",
    "BoardChoice",
    "BoardEntry",
    "BoardPage",
    "CatalogueEntry",
    "ChatRules",
    "HeldBadge",
    "HomeSummary",
    "IngestPipeline",
    "IngestStats",
    "LeaderboardPage",
    "MessageRef",
    "MessageSeen",
    "OwnRank",
    "Period",
    "QuestionRef",
    "RankCard",
    "ReactionOutcome",
    "ReactionResult",
    "ReactionRules",
    "ReactionSeen",
    "accept_answer",
    "accepted_words",
    "answer_times",
    "award",
    "award_earned",
    "badge_names",
    "board_choice",
    "board_title",
    "catalogue",
    "create_badge",
    "duration_text",
    "held_badges",
    "home_summary",
    "ingest_batch",
    "is_leaderboard_public",
    "leaderboard_page",
    "leaderboard_png",
    "ledger_scores",
    "period_start",
    "rank_card",
    "rank_of",
    "rank_png",
    "rank_words",
    "record_reaction",
    "revoke",
    "screen_reaction",
    "set_leaderboard_public",
    "sync_configured",
    "text_digest",
    "text_length",
    "top",
    "top_badges",
    "visible_text",
]


async def _score_activity(
    context: FeatureContext, session: AsyncSession, event: ActivityRecorded
) -> None:
    await on_activity_recorded(session, context.clock, event)
    # Rule badges read the score rows just written: checked in the same transaction, so a
    # retried delivery cannot check them before the counters moved. Points for work shared
    # without a name award quietly: a post naming the member then would say who shared it.
    quiet = await from_anonymous_work(session, event.activity_id)
    await award_earned(session, context.clock, event.community_id, [event.member_id], quiet=quiet)


async def _spotlight(context: FeatureContext, session: AsyncSession, event: UgcFeatured) -> None:
    await award_earned(
        session, context.clock, event.community_id, [event.member_id], counters=["ugc_featured"]
    )


FEATURE = Feature(
    name="recognition",
    summary=(
        "Recognition: points from chat, reactions and accepted answers, per-period "
        "leaderboards and badges."
    ),
    subscriptions=(
        # Also awards the rule badges the activity's counters now reach (see _score_activity).
        Subscription("recognition.period-scores", ActivityRecorded, _score_activity),
        Subscription("recognition.badges-spotlight", UgcFeatured, _spotlight),
    ),
    exporter=data.export_member,
    eraser=data.erase_member,
    merger=data.merge_members,
    export_tables=data.EXPORT_TABLES,
    member_tables=data.MEMBER_TABLES,
    anonymous_tables=data.ANONYMOUS_TABLES,
)
