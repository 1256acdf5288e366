"""Points from reactions: a message's author earns a point for a reaction from someone else.

A front end turns a reaction it saw into a :class:`ReactionSeen` (who reacted, whose message,
which emoji) and calls :func:`record_reaction` in its own transaction. Reactions are written
at once through the ledger (:func:`bot.services.engagement.record_activity`), not queued like
chat: far fewer of them come, and each needs the author's row.

The rules: a reaction earns nothing when the reactor is the author (also through linked
accounts), when either is a bot, when the message is in an ignored channel (or a thread of
one: ``[recognition] ignored_channels``, as for chat), or when the author or the reactor
asked to be erased. The same reaction (reactor, message, emoji) is one ledger row, keyed
``reaction:<reactor member>:<platform>:<channel>:<message>:<emoji digest>``, so removing and
adding it again earns nothing more; removing a reaction keeps its point (nothing listens to
removals). One member's reactions earn the same author points at most
``[recognition] reaction_daily_limit`` times in 24 hours, counted on the author's ledger rows
under a lock on the author's row, so two reactions at once cannot both slip under the limit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.destinations import PLATFORMS
from bot.models import Activity, Member
from bot.services.communities import ensure_space
from bot.services.engagement import ActivityKind, record_activity
from bot.services.identities import resolve_passive_members
from bot.settings import RecognitionSettings

REACTION = ActivityKind.REACTION.value
LIMIT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ReactionSeen:
    """A reaction a front end saw, in neutral terms.

    ``message_id`` is unique within ``channel_id``; ``emoji`` is the platform's name or id
    for it (only its digest is kept). ``parent_id`` is the channel a thread belongs to where
    the thread is a channel of its own (Discord).
    """

    platform: str
    space_id: str
    channel_id: str
    message_id: str
    emoji: str
    reactor_id: str
    author_id: str
    reactor_name: str | None = None
    author_name: str | None = None
    reactor_is_bot: bool = False
    author_is_bot: bool = False
    parent_id: str | None = None


@dataclass(frozen=True)
class ReactionRules:
    """What a reaction earns its message's author, and how often."""

    points: int = 1
    daily_limit: int = 5
    ignored_channels: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: RecognitionSettings) -> ReactionRules:
        """Return the rules ``[recognition]`` sets."""
        return cls(
            points=settings.reaction_points,
            daily_limit=settings.reaction_daily_limit,
            ignored_channels=frozenset(settings.ignored_channels),
        )


class ReactionOutcome(StrEnum):
    """What became of a reaction."""

    COUNTED = "counted"
    SELF = "self"
    BOT = "bot"
    REPEATED = "repeated"
    LIMIT = "limit"
    ERASED = "erased"
    OFF = "off"
    IGNORED_CHANNEL = "ignored_channel"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class ReactionResult:
    """The outcome of one reaction: the author's member id when known, and the points."""

    outcome: ReactionOutcome
    author_member_id: int | None = None
    points: int = 0

    @property
    def counted(self) -> bool:
        """Return whether the author earned points."""
        return self.outcome is ReactionOutcome.COUNTED


def _emoji_digest(emoji: str) -> str:
    return hashlib.sha256(emoji.encode()).hexdigest()[:16]


def reaction_key(reaction: ReactionSeen, reactor_member_id: int) -> str:
    """Return the ledger's key for one member's reaction with one emoji on one message."""
    return (
        f"reaction:{reactor_member_id}:{reaction.platform}:{reaction.channel_id}:"
        f"{reaction.message_id}:{_emoji_digest(reaction.emoji)}"
    )


def screen_reaction(rules: ReactionRules, reaction: ReactionSeen) -> ReactionOutcome | None:
    """Return why a reaction earns nothing without reading the database, or None.

    Front ends call it before opening a transaction (a self-reaction or a bot's should not
    take SQLite's write lock); :func:`record_reaction` applies it again.
    """
    if reaction.reactor_is_bot or reaction.author_is_bot:
        return ReactionOutcome.BOT
    if reaction.reactor_id == reaction.author_id:
        return ReactionOutcome.SELF
    if rules.points == 0:
        return ReactionOutcome.OFF
    if reaction.channel_id in rules.ignored_channels or (
        reaction.parent_id is not None and reaction.parent_id in rules.ignored_channels
    ):
        return ReactionOutcome.IGNORED_CHANNEL
    if (
        reaction.platform not in PLATFORMS
        or not reaction.reactor_id
        or not reaction.author_id
        or not reaction.emoji
        or max(len(reaction.reactor_id), len(reaction.author_id), len(reaction.space_id)) > 64
    ):
        return ReactionOutcome.MALFORMED
    return None


async def record_reaction(
    session: AsyncSession,
    clock: Clock,
    rules: ReactionRules,
    reaction: ReactionSeen,
    *,
    community_id: int,
) -> ReactionResult:
    """Give the message's author points for a reaction from someone else, by the rules."""
    screened = screen_reaction(rules, reaction)
    if screened is not None:
        return ReactionResult(screened)
    space = await ensure_space(
        session,
        clock,
        community_id=community_id,
        platform=reaction.platform,
        external_id=reaction.space_id,
    )
    if space.community_id != community_id:
        return ReactionResult(ReactionOutcome.MALFORMED)
    # A reaction is a passive signal: neither the author nor the reactor is brought back
    # after asking to be erased (and nobody gains points from someone erased).
    people = await resolve_passive_members(
        session,
        clock,
        space=space,
        users=[
            (reaction.reactor_id, reaction.reactor_name),
            (reaction.author_id, reaction.author_name),
        ],
    )
    reactor, author = people.get(reaction.reactor_id), people.get(reaction.author_id)
    if reactor is None or author is None:
        return ReactionResult(ReactionOutcome.ERASED)
    reactor_id, author_id = await _kept(session, reactor.member_id, author.member_id)
    if reactor_id == author_id:
        return ReactionResult(ReactionOutcome.SELF, author_id)
    key = reaction_key(reaction, reactor_id)
    if len(key) > 200:
        return ReactionResult(ReactionOutcome.MALFORMED, author_id)
    # The author's row is locked first (PostgreSQL; SQLite has one writer at a time), so
    # concurrent reactions for this author count against the limit one after the other.
    await session.execute(select(Member.id).where(Member.id == author_id).with_for_update())
    seen = await session.scalar(
        select(Activity.id).where(Activity.community_id == community_id, Activity.source_key == key)
    )
    if seen is not None:
        return ReactionResult(ReactionOutcome.REPEATED, author_id)
    now = clock.now()
    given = await session.scalar(
        select(func.count())
        .select_from(Activity)
        .where(
            Activity.member_id == author_id,
            Activity.occurred_at > now - LIMIT_WINDOW,
            Activity.kind == REACTION,
            Activity.source_key.startswith(f"reaction:{reactor_id}:", autoescape=True),
        )
    )
    if (given or 0) >= rules.daily_limit:
        return ReactionResult(ReactionOutcome.LIMIT, author_id)
    recorded = await record_activity(
        session,
        clock,
        member_id=author_id,
        kind=ActivityKind.REACTION,
        points=rules.points,
        source_key=key,
        occurred_at=now,
    )
    if not recorded.counted:
        return ReactionResult(ReactionOutcome.REPEATED, author_id)
    return ReactionResult(ReactionOutcome.COUNTED, recorded.member_id, recorded.points)


async def _kept(session: AsyncSession, *member_ids: int) -> tuple[int, ...]:
    """Return each member's kept id (the one a linked account was merged into)."""
    rows = await session.execute(
        select(Member.id, Member.merged_into_id).where(Member.id.in_(member_ids))
    )
    merged = {row.id: row.merged_into_id for row in rows}
    return tuple(merged.get(m) or m for m in member_ids)
