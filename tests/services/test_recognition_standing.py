"""What /rank, /leaderboard and the Home tab read: pages, own and others' ranks, privacy, periods."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest

from bot.errors import Invalid
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.communities import SpaceRef
from bot.services.recognition import (
    ChatRules,
    MessageSeen,
    board_choice,
    home_summary,
    ingest_batch,
    leaderboard_page,
    rank_card,
    rank_words,
    set_leaderboard_public,
    text_digest,
)

RULES = ChatRules()
_ids = count(1)


async def chat(session, clock, space: SpaceRef, user: str, messages: int, *, days_ago: int = 0):
    """Seed points as chat does: one counted message (5 points) every two minutes."""
    start = clock.now() - timedelta(days=days_ago, hours=1)
    events = []
    for i in range(messages):
        number = next(_ids)
        text = f"message {number} from {user}"
        events.append(
            MessageSeen(
                platform=space.platform,
                space_id=space.external_id,
                user_id=user,
                display_name=user.title(),
                channel_id="C1",
                message_id=str(number),
                text_length=len(text),
                text_digest=text_digest(text),
                is_bot=False,
                at=start + timedelta(minutes=2 * i),
            )
        )
    await ingest_batch(session, clock, RULES, events)


async def actor_for(session, clock, space: SpaceRef, user: str):
    caller = Caller(space.platform, space.external_id, user, user.title(), Role.MEMBER)
    return await resolve_actor(session, clock, community_id=space.community_id, caller=caller)


async def test_a_board_pages_ten_members_at_a_time_and_a_page_past_the_end_is_the_last(
    session, spaces, clock
):
    discord, _ = spaces
    for number in range(1, 24):
        await chat(session, clock, discord, f"user{number:02d}", number)
    choice = board_choice("points", "week")

    first = await leaderboard_page(session, clock, discord.community_id, choice, 1)
    last = await leaderboard_page(session, clock, discord.community_id, choice, 99)

    assert (first.page, first.pages, first.ranked) == (1, 3, 23)
    assert [e.score for e in first.entries] == [5 * n for n in range(23, 13, -1)]
    assert first.entries[0].display_name == "User23"
    assert (last.page, [e.rank for e in last.entries]) == (3, [21, 22, 23])


async def test_an_opted_out_member_is_off_every_page_and_private_to_others_but_not_to_themselves(
    session, spaces, clock
):
    discord, slack = spaces
    await chat(session, clock, discord, "ada", 6)
    await chat(session, clock, discord, "bob", 4)
    await chat(session, clock, slack, "U3", 2)
    ada = await actor_for(session, clock, discord, "ada")
    bob = await actor_for(session, clock, discord, "bob")
    await set_leaderboard_public(session, clock, bob.member_id, False)
    choice = board_choice("points", "all")

    page = await leaderboard_page(session, clock, discord.community_id, choice)
    seen_by_ada = await rank_card(session, clock, ada, choice, user_id="bob", name="Bob")
    own = await rank_card(session, clock, bob, choice)

    assert [e.display_name for e in page.entries] == ["Ada", "U3"]
    assert page.ranked == 2
    assert seen_by_ada.private and (seen_by_ada.score, seen_by_ada.rank) == (0, None)
    assert rank_words(seen_by_ada) == "private"
    assert (own.private, own.hidden, own.own, own.score, own.rank) == (False, True, True, 20, 2)

    await set_leaderboard_public(session, clock, bob.member_id, True)

    shown = await rank_card(session, clock, ada, choice, user_id="bob")
    assert (shown.private, shown.rank, shown.score, rank_words(shown)) == (False, 2, 20, "#2 of 3")


async def test_last_week_reads_the_kept_rows_of_the_week_before(session, spaces, clock):
    discord, _ = spaces
    await chat(session, clock, discord, "ada", 3, days_ago=7)
    await chat(session, clock, discord, "bob", 1)
    ada = await actor_for(session, clock, discord, "ada")

    this_week = await leaderboard_page(
        session, clock, discord.community_id, board_choice("points", "week")
    )
    last_week = await leaderboard_page(
        session, clock, discord.community_id, board_choice("points", "last-week")
    )
    card = await rank_card(session, clock, ada, board_choice("points", "last-week"))

    assert [e.display_name for e in this_week.entries] == ["Bob"]
    assert [(e.display_name, e.score) for e in last_week.entries] == [("Ada", 15)]
    assert last_week.period_start == this_week.period_start - timedelta(days=7)
    assert (card.rank, card.score, card.choice.period_label) == (1, 15, "last week")


async def test_someone_never_seen_is_unranked_and_nothing_is_created_for_them(
    session, spaces, clock
):
    discord, _ = spaces
    await chat(session, clock, discord, "ada", 2)
    ada = await actor_for(session, clock, discord, "ada")

    card = await rank_card(session, clock, ada, board_choice(), user_id="stranger", name="Zed")
    again = await rank_card(session, clock, ada, board_choice(), user_id="stranger")

    assert (card.member_id, card.name, card.rank, rank_words(card)) == (
        None,
        "Zed",
        None,
        "unranked",
    )
    assert again.member_id is None  # the first look-up made no member


async def test_the_home_summary_has_all_time_points_and_this_weeks_rank(session, spaces, clock):
    discord, _ = spaces
    await chat(session, clock, discord, "ada", 2, days_ago=7)
    await chat(session, clock, discord, "ada", 1)
    await chat(session, clock, discord, "bob", 3)
    ada = await actor_for(session, clock, discord, "ada")

    summary = await home_summary(session, clock, ada)

    assert summary.points == 15
    assert (summary.week.score, summary.week.rank, summary.week.ranked) == (5, 2, 2)
    assert summary.badges == ()


@pytest.mark.parametrize(
    ("board", "period", "field"),
    [
        ("karma", "week", "board"),
        ("points", "yesterday", "period"),
        ("points", "last-all", "period"),
    ],
)
def test_an_unknown_board_or_period_is_refused_naming_it(board, period, field):
    with pytest.raises(Invalid) as refused:
        board_choice(board, period)
    assert refused.value.field == field
