"""Recognition: chat points through the ingest pipeline, period boards, ranks and opting out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.errors import ConfigError
from bot.events import ActivityRecorded, EventBus
from bot.models import Activity, BoardScoreCount, EventRecord, Identity, Member, MemberScore
from bot.services.communities import SpaceRef
from bot.services.engagement import ActivityKind, record_activity
from bot.services.identities import resolve_member
from bot.services.privacy import delete_member
from bot.services.recognition import (
    ChatRules,
    IngestPipeline,
    MessageSeen,
    Period,
    ingest_batch,
    ledger_scores,
    period_start,
    rank_of,
    set_leaderboard_public,
    text_digest,
    text_length,
    top,
)
from bot.services.recognition.scores import on_activity_recorded
from bot.settings import RecognitionSettings, load_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = ChatRules(ignored_channels=frozenset({"C-offtopic"}))
_ids = count(1)


def seen(
    space: SpaceRef,
    user: str,
    at: datetime,
    text: str | None = None,
    *,
    channel: str = "C1",
    bot: bool = False,
) -> MessageSeen:
    number = next(_ids)
    text = text if text is not None else f"message number {number} from {user}"
    return MessageSeen(
        platform=space.platform,
        space_id=space.external_id,
        user_id=user,
        display_name=user.title(),
        channel_id=channel,
        message_id=str(number),
        text_length=len(text),
        text_digest=text_digest(text),
        is_bot=bot,
        at=at,
    )


async def member_of(session: AsyncSession, space: SpaceRef, user: str) -> Member:
    member_id = await session.scalar(
        select(Identity.member_id).where(
            Identity.space_id == space.space_id, Identity.user_id == user
        )
    )
    assert member_id is not None
    member = await session.get(Member, member_id, populate_existing=True)
    assert member is not None
    return member


def pipeline(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, **settings: object
) -> IngestPipeline:
    chosen = {"ignored_channels": ("C-offtopic",), **settings}
    return IngestPipeline(sessions, clock, RecognitionSettings.model_validate(chosen))


async def feed(pipe: IngestPipeline, events: Sequence[MessageSeen]) -> None:
    for event in events:
        await pipe.submit(event)
    await pipe.flush()


async def test_a_hundred_messages_in_a_minute_earn_points_once(sessions, session, spaces, clock):
    discord, _ = spaces
    pipe = pipeline(sessions, clock)

    await feed(pipe, [seen(discord, "ada", T0 + timedelta(seconds=i * 0.5)) for i in range(100)])

    ada = await member_of(session, discord, "ada")
    assert (ada.points_total, ada.activity_count) == (5, 1)
    assert ada.last_active_at == T0
    assert pipe.stats.counted == 1 and pipe.stats.skipped["cooldown"] == 99
    board = await top(session, discord.community_id, "points", "all", T0)
    assert [(e.rank, e.member_id, e.display_name, e.score) for e in board.entries] == [
        (1, ada.id, "Ada", 5)
    ]


async def test_short_bot_ignored_channel_and_repeated_messages_earn_nothing(session, spaces, clock):
    discord, slack = spaces
    later = T0 + timedelta(minutes=5)
    events = [
        seen(discord, "ada", T0, "hey"),  # too short
        seen(discord, "robo", T0, "a long enough bot message", bot=True),
        seen(discord, "ada", T0, "a long enough message", channel="C-offtopic"),
        seen(slack, "U1", T0, "hello everyone, how are you?"),
        seen(slack, "U1", later, "Hello   everyone, how are you?"),  # the same text again
    ]

    result = await ingest_batch(session, clock, RULES, events)

    assert result.counted == 1
    assert result.skipped == {"short": 1, "bot": 1, "ignored_channel": 1, "repeated": 1}
    assert (await member_of(session, slack, "U1")).points_total == 5
    # Nobody became a member for a message that earned nothing before resolution.
    assert await session.scalar(select(func.count()).select_from(Identity)) == 1
    # No domain event per message; one member.created for the new member.
    names = list(await session.scalars(select(EventRecord.name)))
    assert names == ["member.created"]


async def test_the_cooldown_holds_across_two_batches_and_a_restart(
    sessions, session, spaces, clock
):
    discord, _ = spaces
    first = pipeline(sessions, clock)
    await feed(first, [seen(discord, "ada", T0)])
    await feed(first, [seen(discord, "ada", T0 + timedelta(seconds=30))])
    restarted = pipeline(sessions, clock)
    await feed(restarted, [seen(discord, "ada", T0 + timedelta(seconds=59))])
    assert (await member_of(session, discord, "ada")).points_total == 5

    await feed(restarted, [seen(discord, "ada", T0 + timedelta(seconds=60))])

    assert (await member_of(session, discord, "ada")).points_total == 10


async def test_a_message_seen_twice_is_counted_once(session, spaces, clock):
    discord, _ = spaces
    message = seen(discord, "ada", T0)
    rules = ChatRules(cooldown_seconds=0)

    await ingest_batch(session, clock, rules, [message])
    again = await ingest_batch(session, clock, rules, [message])

    assert again.counted == 0 and again.skipped == {"repeated": 1}
    assert (await member_of(session, discord, "ada")).points_total == 5


async def test_a_message_key_already_in_the_ledger_counts_once_and_the_rows_stay_consistent(
    session, spaces, clock
):
    discord, _ = spaces
    rules = ChatRules(cooldown_seconds=0)  # the same message again (edited text) passes the rules
    first = seen(discord, "ada", T0, "the first words here")
    await ingest_batch(session, clock, rules, [first])
    edited = replace(first, text_digest=text_digest("the first words, edited"))
    inside = seen(discord, "bob", T0 + timedelta(minutes=1), "one message from bob")
    inside_edited = replace(inside, text_digest=text_digest("the same message edited"))

    again = await ingest_batch(
        session, clock, rules, [edited, seen(discord, "cy", T0), inside, inside_edited]
    )

    assert again.counted == 2 and again.skipped == {"duplicate": 2}
    ada, bob, cy = [await member_of(session, discord, u) for u in ("ada", "bob", "cy")]
    assert [(m.points_total, m.activity_count) for m in (ada, bob, cy)] == [(5, 1), (5, 1), (5, 1)]
    community = discord.community_id
    rows = {
        (r.member_id, r.board, r.period, r.period_start): r.score
        for r in await session.scalars(
            select(MemberScore).where(MemberScore.community_id == community)
        )
    }
    assert rows == await ledger_scores(session, community)
    counts = {
        (c.board, c.period, c.period_start, c.score): c.members
        for c in await session.scalars(select(BoardScoreCount))
        if c.members
    }
    assert set(counts.values()) == {3}  # three members with 5 points on each period's board


async def test_an_erased_person_chatting_earns_nothing_and_is_not_brought_back(
    session, spaces, clock
):
    discord, _ = spaces
    ada = await resolve_member(session, clock, space=discord, user_id="ada")
    await delete_member(session, clock, member_id=ada.member_id)

    result = await ingest_batch(session, clock, RULES, [seen(discord, "ada", T0)])

    assert result.counted == 0 and result.skipped == {"erased": 1}
    assert await session.scalar(select(func.count()).select_from(Identity)) == 0


def test_a_dst_week_lasts_167_or_169_hours_in_berlin():
    zone = "Europe/Berlin"
    # The last Sunday of March 2026 is the 29th: clocks go forward at 02:00.
    spring = period_start(Period.WEEK, datetime(2026, 3, 25, 12, tzinfo=UTC), zone)
    after = period_start(Period.WEEK, datetime(2026, 4, 1, 12, tzinfo=UTC), zone)
    assert spring == datetime(2026, 3, 22, 23, tzinfo=UTC)  # Monday 00:00 CET
    assert after - spring == timedelta(hours=167)
    # The last Sunday of October 2026 is the 25th: clocks go back at 03:00.
    autumn = period_start(Period.WEEK, datetime(2026, 10, 21, 12, tzinfo=UTC), zone)
    assert period_start(Period.WEEK, datetime(2026, 10, 28, tzinfo=UTC), zone) - autumn == (
        timedelta(hours=169)
    )
    assert period_start(Period.MONTH, datetime(2026, 4, 15, tzinfo=UTC), zone) == datetime(
        2026, 3, 31, 22, tzinfo=UTC
    )


async def test_week_and_month_boards_roll_over_at_local_midnight_in_a_dst_week(
    session, spaces, clock
):
    discord, _ = spaces  # Europe/Berlin
    community = discord.community_id
    sunday_night = datetime(2026, 3, 29, 21, 59, 59, tzinfo=UTC)  # 23:59:59 CEST, Sunday
    monday = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # 00:00 CEST, Monday
    march_end = datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC)  # 23:59:59 CEST, 31 March
    april = datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # 00:00 CEST, 1 April
    events = [
        seen(discord, "ada", sunday_night),
        seen(discord, "ada", monday + timedelta(minutes=5)),
        seen(discord, "bob", march_end),
        seen(discord, "bob", april + timedelta(minutes=5)),
    ]
    await ingest_batch(session, clock, RULES, events)
    ada = await member_of(session, discord, "ada")
    bob = await member_of(session, discord, "bob")

    async def scores(period: str, at: datetime) -> list[tuple[int, int]]:
        board = await top(session, community, "points", period, at)
        return [(e.member_id, e.score) for e in board.entries]

    # The week before the change (167 hours long) keeps its rows.
    assert await scores("week", sunday_night) == [(ada.id, 5)]
    assert (await top(session, community, "points", "week", sunday_night)).period_start == (
        datetime(2026, 3, 22, 23, tzinfo=UTC)
    )
    assert await scores("week", monday) == [(bob.id, 10), (ada.id, 5)]
    assert await scores("month", march_end) == [(ada.id, 10), (bob.id, 5)]
    assert await scores("month", april) == [(bob.id, 5)]
    assert await scores("all", april) == [(ada.id, 10), (bob.id, 10)]


async def chat(
    session: AsyncSession, clock: FakeClock, space: SpaceRef, user: str, messages: int
) -> Member:
    events = [seen(space, user, T0 + timedelta(minutes=2 * i)) for i in range(messages)]
    await ingest_batch(session, clock, RULES, events)
    return await member_of(session, space, user)


async def test_opted_out_members_never_appear_in_top_and_still_see_their_own_rank(
    session, spaces, clock
):
    discord, slack = spaces
    community = discord.community_id
    ada = await chat(session, clock, discord, "ada", 6)  # 30
    bob = await chat(session, clock, discord, "bob", 4)  # 20
    cy = await chat(session, clock, slack, "U3", 2)  # 10

    await set_leaderboard_public(session, clock, bob.id, False)

    for period in ("all", "week", "month"):
        board = await top(session, community, "points", period, T0)
        assert [(e.rank, e.member_id) for e in board.entries] == [(1, ada.id), (2, cy.id)]
    hidden = await rank_of(session, community, "points", "week", T0, bob.id)
    assert (hidden.rank, hidden.score, hidden.public) == (2, 20, False)
    # Not counted in others' ranks: that would reveal a hidden member above them.
    assert (await rank_of(session, community, "points", "week", T0, cy.id)).rank == 2
    assert (await rank_of(session, community, "points", "week", T0, ada.id)).rank == 1
    assert (await top(session, community, "points", "all", T0, limit=1, offset=1)).entries[
        0
    ].member_id == cy.id

    await set_leaderboard_public(session, clock, bob.id, True)

    assert (await rank_of(session, community, "points", "all", T0, cy.id)).rank == 3


async def test_tied_members_share_a_rank_and_are_listed_by_member_id(session, spaces, clock):
    discord, _ = spaces
    ada = await chat(session, clock, discord, "ada", 2)
    bob = await chat(session, clock, discord, "bob", 2)
    cy = await chat(session, clock, discord, "cy", 1)

    board = await top(session, discord.community_id, "points", "all", T0)

    assert [(e.rank, e.member_id) for e in board.entries] == [(1, ada.id), (1, bob.id), (3, cy.id)]
    assert (await rank_of(session, discord.community_id, "points", "all", T0, bob.id)).rank == 1
    assert (await rank_of(session, discord.community_id, "points", "all", T0, cy.id)).rank == 3


async def test_a_full_queue_makes_the_producer_wait_and_is_counted(sessions, spaces, clock):
    discord, _ = spaces
    pipe = pipeline(sessions, clock, queue_size=10)
    for i in range(10):
        await pipe.submit(seen(discord, f"user{i}", T0))

    waiting = asyncio.create_task(pipe.submit(seen(discord, "late", T0)))
    for _ in range(3):
        await asyncio.sleep(0)  # let the producer run until it blocks

    assert not waiting.done() and pipe.stats.backpressure == 1 and pipe.depth == 10
    await pipe.flush()
    await waiting
    await pipe.flush()
    assert pipe.stats.counted == 11 and pipe.depth == 0


async def test_a_graceful_stop_writes_what_is_queued(sessions, session, spaces, clock):
    discord, _ = spaces
    pipe = pipeline(sessions, clock, flush_seconds=60)
    stop = asyncio.Event()
    running = asyncio.create_task(pipe.run(stop))
    for i in range(5):
        await pipe.submit(seen(discord, f"user{i}", T0))

    stop.set()
    await running

    assert pipe.depth == 0 and pipe.stats.counted == 5
    assert await session.scalar(select(func.count()).select_from(Activity)) == 5


async def test_a_full_batch_is_written_without_waiting_for_the_interval(sessions, spaces, clock):
    discord, _ = spaces
    pipe = pipeline(sessions, clock, flush_seconds=60, batch_size=3)
    stop = asyncio.Event()
    running = asyncio.create_task(pipe.run(stop))
    for i in range(3):
        await pipe.submit(seen(discord, f"user{i}", T0))
    # The loop wakes on the full batch, not after 60 s.
    await asyncio.wait_for(pipe.wait_written(1), timeout=5)
    stop.set()
    await running
    assert pipe.stats.counted == 3


async def test_ritual_checkins_and_ugc_points_land_on_the_boards_once(
    sessions, session, spaces, clock
):
    discord, _ = spaces
    community = discord.community_id
    ada = await chat(session, clock, discord, "ada", 1)
    await session.commit()
    bus = EventBus(sessions, clock)

    async def handler(s: AsyncSession, event: ActivityRecorded) -> None:
        await on_activity_recorded(s, clock, event)

    bus.subscribe(ActivityRecorded, handler, name="recognition.period-scores")
    async with sessions() as writing, writing.begin():
        for kind, points, key in (
            (ActivityKind.RITUAL_CHECKIN, 10, "checkin:1"),
            (ActivityKind.UGC_APPROVED, 25, "ugc-approved:1"),
        ):
            await record_activity(
                writing, clock, member_id=ada.id, kind=kind, points=points, source_key=key
            )

    assert await bus.process_pending() == 2
    assert await bus.process_pending() == 0

    points = await rank_of(session, community, "points", "all", clock.now(), ada.id)
    rituals = await rank_of(session, community, "rituals", "week", clock.now(), ada.id)
    assert (points.score, rituals.score) == (40, 1)
    assert (await member_of(session, discord, "ada")).points_total == 40


async def test_the_period_rows_equal_what_the_ledger_says(session, spaces, clock):
    discord, slack = spaces
    community = discord.community_id
    events = [
        seen(space, user, T0 + timedelta(hours=7 * i + offset))
        for i in range(120)
        for space, user, offset in ((discord, "ada", 0), (discord, "bob", 1), (slack, "U3", 3))
    ]
    await ingest_batch(session, clock, RULES, events[:200])
    await ingest_batch(session, clock, RULES, events[200:])
    ada = await member_of(session, discord, "ada")
    activity = await record_activity(
        session, clock, member_id=ada.id, kind="ritual_checkin", points=10, source_key="c:1"
    )
    event = ActivityRecorded(community, ada.id, activity.activity_id or 0, "ritual_checkin", 10)
    await on_activity_recorded(session, clock, event)

    rows = {
        (r.member_id, r.board, r.period, r.period_start): r.score
        for r in await session.scalars(
            select(MemberScore).where(MemberScore.community_id == community)
        )
    }

    assert rows == await ledger_scores(session, community)
    assert len({key[3] for key in rows if key[2] == "week"}) == 6
    # The per-score counts that ranks read agree with the rows (one member hidden).
    await set_leaderboard_public(session, clock, ada.id, False)
    expected: Counter[tuple[str, str, datetime, int]] = Counter(
        (board, period, start, score)
        for (member, board, period, start), score in rows.items()
        if member != ada.id and score > 0
    )
    counts = {
        (c.board, c.period, c.period_start, c.score): c.members
        for c in await session.scalars(select(BoardScoreCount))
        if c.members
    }
    assert counts == dict(expected)


async def test_erasure_takes_a_member_off_every_board(session, spaces, clock):
    discord, _ = spaces
    ada = await chat(session, clock, discord, "ada", 2)

    await delete_member(session, clock, member_id=ada.id)

    assert await session.scalar(select(func.count()).select_from(MemberScore)) == 0
    assert (await top(session, discord.community_id, "points", "all", T0)).entries == ()
    assert await session.scalar(select(func.sum(BoardScoreCount.members))) == 0


async def test_a_check_in_delivered_after_its_member_was_erased_puts_nobody_on_a_board(
    session, spaces, clock
):
    discord, _ = spaces
    ada = await resolve_member(session, clock, space=discord, user_id="ada")
    recorded = await record_activity(
        session,
        clock,
        member_id=ada.member_id,
        kind=ActivityKind.RITUAL_CHECKIN,
        points=10,
        source_key="checkin:erased-before-delivery",
    )
    # She asks to be erased before the bus delivers activity.recorded to the boards.
    await delete_member(session, clock, member_id=ada.member_id)

    await on_activity_recorded(
        session,
        clock,
        ActivityRecorded(
            community_id=discord.community_id,
            member_id=ada.member_id,
            activity_id=recorded.activity_id,
            kind="ritual_checkin",
            points=10,
        ),
    )

    assert await session.scalar(select(func.count()).select_from(MemberScore)) == 0
    assert (await session.scalar(select(func.sum(BoardScoreCount.members))) or 0) == 0


def test_recognition_settings_are_checked_with_one_line_errors(tmp_path):
    config = tmp_path / "bot.toml"
    config.write_text("[recognition]\nflush_seconds = 0\n")

    with pytest.raises(ConfigError) as refused:
        load_settings(config, environ={})

    assert "recognition.flush_seconds" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_invisible_characters_and_odd_spacing_do_not_pass_the_length_or_repeated_text_rules():
    # Five zero-width spaces, a word drowned in combining marks, blank fillers: nothing shown.
    assert text_length("\u200b" * 5) == 0
    assert text_length("a" + "\u0301\u0302\u0303" * 10) == 1
    assert text_length("\u3164\u2800 \u00a0ok\u2060") == 2
    assert text_length("hello world") == 11
    # The same words with invisible characters, other spaces or full-width letters repeat.
    plain = text_digest("hello there, everyone")
    assert text_digest("hello\u200b there,\u00a0\u2003everyone\u200d") == plain
    assert text_digest("\uff48ello there, everyone") == plain  # a full-width h
    assert text_digest("hello there, everyone!") != plain
    # Half an emoji (a lone surrogate, which JSON can carry) is dropped, not a crash.
    assert text_length("hello \ud83d") == 5
    assert text_digest("hello \ud83d") == text_digest("hello")
    # Accented letters are letters: written either way, they are the same message.
    assert text_length("caf\u00e9s") == text_length("cafe\u0301s") == 5
