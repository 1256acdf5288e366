"""Recognition: points for reactions received from others, and chat from the front ends' side
(threads of ignored channels, a space nobody ran a command in yet)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.models import Activity, Identity, Member, PlatformSpace
from bot.services.communities import SpaceRef, ensure_community
from bot.services.identities import resolve_member
from bot.services.privacy import delete_member
from bot.services.recognition import (
    ChatRules,
    MessageSeen,
    ReactionOutcome,
    ReactionRules,
    ReactionSeen,
    ingest_batch,
    record_reaction,
    text_digest,
)
from bot.settings import RecognitionSettings, load_settings
from tests.conftest import make_spaces
from tests.held_lock import until_blocked_on_a_lock

RULES = ReactionRules(points=1, daily_limit=3)


def reaction(
    space: SpaceRef,
    reactor: str,
    author: str,
    *,
    message: str = "m1",
    emoji: str = "thumbsup",
    reactor_is_bot: bool = False,
    author_is_bot: bool = False,
) -> ReactionSeen:
    return ReactionSeen(
        platform=space.platform,
        space_id=space.external_id,
        channel_id="C1",
        message_id=message,
        emoji=emoji,
        reactor_id=reactor,
        author_id=author,
        reactor_name=reactor.title(),
        author_name=author.title(),
        reactor_is_bot=reactor_is_bot,
        author_is_bot=author_is_bot,
    )


async def react(
    session: AsyncSession, clock: FakeClock, seen: ReactionSeen, rules: ReactionRules = RULES
) -> ReactionOutcome:
    community_id = await session.scalar(select(PlatformSpace.community_id).limit(1))
    assert community_id is not None
    result = await record_reaction(session, clock, rules, seen, community_id=community_id)
    return result.outcome


async def points_of(session: AsyncSession, space: SpaceRef, user: str) -> int | None:
    return await session.scalar(
        select(Member.points_total)
        .join(Identity, Identity.member_id == Member.id)
        .where(Identity.space_id == space.space_id, Identity.user_id == user)
        .execution_options(populate_existing=True)
    )


async def test_a_reaction_from_someone_else_earns_the_author_a_point(session, spaces, clock):
    discord, _ = spaces

    assert await react(session, clock, reaction(discord, "bob", "ada")) == ReactionOutcome.COUNTED

    assert await points_of(session, discord, "ada") == 1
    assert await points_of(session, discord, "bob") == 0  # reacting earns the reactor nothing
    (row,) = (await session.scalars(select(Activity))).all()
    assert (row.kind, row.points, row.occurred_at) == ("reaction", 1, clock.now())


async def test_a_self_reaction_earns_nothing(session, spaces, clock):
    discord, slack = spaces

    assert await react(session, clock, reaction(discord, "ada", "ada")) == ReactionOutcome.SELF
    assert await react(session, clock, reaction(slack, "U1", "U1")) == ReactionOutcome.SELF

    assert await session.scalar(select(func.count()).select_from(Activity)) == 0
    # Nothing was even resolved: a self-reaction creates nobody.
    assert await session.scalar(select(func.count()).select_from(Identity)) == 0


async def test_a_self_reaction_through_a_linked_account_earns_nothing(session, spaces, clock):
    discord, _ = spaces
    ada = await resolve_member(session, clock, space=discord, user_id="ada")
    alt = await resolve_member(session, clock, space=discord, user_id="ada-alt")
    member = await session.get(Member, alt.member_id)
    assert member is not None
    member.merged_into_id = ada.member_id  # as linking two accounts leaves the other one
    await session.flush()

    outcome = await react(session, clock, reaction(discord, "ada-alt", "ada"))

    assert outcome == ReactionOutcome.SELF
    assert await session.scalar(select(func.count()).select_from(Activity)) == 0


async def test_the_same_reaction_added_again_earns_once(session, spaces, clock):
    discord, _ = spaces
    first = await react(session, clock, reaction(discord, "bob", "ada"))
    clock.advance(300)  # removed and added again later

    again = await react(session, clock, reaction(discord, "bob", "ada"))

    assert (first, again) == (ReactionOutcome.COUNTED, ReactionOutcome.REPEATED)
    assert await points_of(session, discord, "ada") == 1
    # Another emoji on the same message, or the same emoji from someone else, is new.
    assert await react(session, clock, reaction(discord, "bob", "ada", emoji="tada")) == (
        ReactionOutcome.COUNTED
    )
    assert await react(session, clock, reaction(discord, "cy", "ada")) == ReactionOutcome.COUNTED
    assert await points_of(session, discord, "ada") == 3


async def test_bots_neither_give_nor_earn_reaction_points(session, spaces, clock):
    discord, _ = spaces

    on_a_bot = await react(session, clock, reaction(discord, "bob", "robo", author_is_bot=True))
    from_a_bot = await react(session, clock, reaction(discord, "robo", "ada", reactor_is_bot=True))

    assert (on_a_bot, from_a_bot) == (ReactionOutcome.BOT, ReactionOutcome.BOT)
    assert await session.scalar(select(func.count()).select_from(Activity)) == 0
    assert await session.scalar(select(func.count()).select_from(Identity)) == 0


async def test_one_member_gives_the_same_author_points_at_most_the_daily_limit(
    session, spaces, clock
):
    discord, _ = spaces
    outcomes = [
        await react(session, clock, reaction(discord, "bob", "ada", message=f"m{n}"))
        for n in range(5)
    ]
    assert outcomes == [ReactionOutcome.COUNTED] * 3 + [ReactionOutcome.LIMIT] * 2
    # The limit is per reactor: someone else's reaction still counts.
    assert await react(session, clock, reaction(discord, "cy", "ada")) == ReactionOutcome.COUNTED
    assert await points_of(session, discord, "ada") == 4

    clock.advance(24 * 3600)  # the window is the last 24 hours

    assert await react(session, clock, reaction(discord, "bob", "ada", message="m9")) == (
        ReactionOutcome.COUNTED
    )
    assert await points_of(session, discord, "ada") == 5


async def test_a_reaction_in_an_ignored_channel_or_its_thread_earns_nothing(session, spaces, clock):
    discord, _ = spaces
    rules = ReactionRules(points=1, daily_limit=3, ignored_channels=frozenset({"C-offtopic"}))
    there = replace(reaction(discord, "bob", "ada"), channel_id="C-offtopic")
    in_thread = replace(reaction(discord, "bob", "ada"), channel_id="T-1", parent_id="C-offtopic")

    outcomes = [await react(session, clock, seen, rules) for seen in (there, in_thread)]

    assert outcomes == [ReactionOutcome.IGNORED_CHANNEL] * 2
    assert (await points_of(session, discord, "ada") or 0) == 0
    assert await react(session, clock, reaction(discord, "bob", "ada"), rules) == (
        ReactionOutcome.COUNTED
    )


async def test_an_erased_author_earns_nothing_and_is_not_brought_back(session, spaces, clock):
    discord, _ = spaces
    ada = await resolve_member(session, clock, space=discord, user_id="ada")
    await delete_member(session, clock, member_id=ada.member_id)

    outcome = await react(session, clock, reaction(discord, "bob", "ada"))

    assert outcome == ReactionOutcome.ERASED
    assert await session.scalar(select(func.count()).select_from(Activity)) == 0
    assert await points_of(session, discord, "ada") is None


async def test_no_points_when_reaction_points_are_zero(session, spaces, clock):
    discord, _ = spaces
    rules = ReactionRules(points=0)

    outcome = await react(session, clock, reaction(discord, "bob", "ada"), rules)

    assert outcome == ReactionOutcome.OFF
    assert await session.scalar(select(func.count()).select_from(Activity)) == 0


async def test_concurrent_reactions_never_pass_the_daily_limit(
    committed: async_sessionmaker[AsyncSession], clock: FakeClock, backend: str
) -> None:
    async with committed() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
    rules = ReactionRules(points=1, daily_limit=2)

    async def one(message: str) -> ReactionOutcome:
        async with committed() as session, session.begin():
            result = await record_reaction(
                session,
                clock,
                rules,
                reaction(discord, "bob", "ada", message=message),
                community_id=discord.community_id,
            )
        return result.outcome

    # Ada and Bob exist first: first sightings at once would race on the identities instead.
    assert await one("m0") == ReactionOutcome.COUNTED
    if backend == "postgresql":
        # Hold Ada's row until all five transactions are under way, then let them go at
        # once: each must count the limit after the one before it committed.
        async with committed() as blocker, blocker.begin():
            ada = await blocker.scalar(select(Identity.member_id).where(Identity.user_id == "ada"))
            await blocker.execute(select(Member.id).where(Member.id == ada).with_for_update())
            tasks = [asyncio.ensure_future(one(f"m{n}")) for n in range(1, 6)]
            await until_blocked_on_a_lock(committed, 5)
        outcomes = await asyncio.gather(*tasks)
    else:
        # SQLite: every write transaction begins IMMEDIATE, one at a time.
        outcomes = await asyncio.gather(*(one(f"m{n}") for n in range(1, 6)))

    assert sorted(outcomes) == sorted([ReactionOutcome.COUNTED] + [ReactionOutcome.LIMIT] * 4)
    async with committed() as session:
        assert await points_of(session, discord, "ada") == 2


def test_reaction_points_and_the_daily_limit_are_settings(tmp_path):
    defaults = RecognitionSettings()
    assert (defaults.reaction_points, defaults.reaction_daily_limit) == (1, 5)
    config = tmp_path / "bot.toml"
    config.write_text("[recognition]\nreaction_points = 3\nreaction_daily_limit = 2\n")
    settings = load_settings(config, environ={})
    assert ReactionRules.from_settings(settings.recognition) == ReactionRules(3, 2)


# -- chat as the front ends send it --------------------------------------------------------------


def message(
    space: SpaceRef, user: str, number: int, *, channel: str = "C1", parent: str | None = None
) -> MessageSeen:
    text = f"message number {number} from {user}"
    return MessageSeen(
        platform=space.platform,
        space_id=space.external_id,
        user_id=user,
        channel_id=channel,
        parent_id=parent,
        message_id=str(number),
        text_length=len(text),
        text_digest=text_digest(text),
        at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=number),
        community_id=space.community_id,
    )


async def test_a_thread_in_an_ignored_channel_earns_nothing(session, spaces, clock):
    discord, _ = spaces
    rules = ChatRules(ignored_channels=frozenset({"C-offtopic"}))

    result = await ingest_batch(
        session,
        clock,
        rules,
        [
            message(discord, "ada", 1, channel="T-1", parent="C-offtopic"),
            message(discord, "ada", 2),
        ],
    )

    assert result.counted == 1 and result.skipped == {"ignored_channel": 1}


async def test_the_first_message_from_a_new_guild_binds_it_to_the_community(session, clock):
    community_id = await ensure_community(session, clock, slug="acme", name="Acme", timezone="UTC")
    fresh = SpaceRef(0, community_id, "discord", "555")

    result = await ingest_batch(session, clock, ChatRules(), [message(fresh, "ada", 1)])

    assert result.counted == 1
    bound = await session.scalar(
        select(PlatformSpace.community_id).where(PlatformSpace.external_id == "555")
    )
    assert bound == community_id
