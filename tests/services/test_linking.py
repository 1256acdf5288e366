"""Linking two platform identities merges the members, their points and history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.errors import Invalid, NotFound
from bot.models import Activity, Identity, Member
from bot.services.engagement import record_activity
from bot.services.identities import get_profile, resolve_member
from bot.services.linking import finish_link, start_link


async def _member_with_points(session, clock, space, user_id, points):
    member = await resolve_member(
        session, clock, space=space, user_id=user_id, display_name=f"u{user_id}"
    )
    for index, value in enumerate(points):
        await record_activity(
            session,
            clock,
            member_id=member.member_id,
            kind="message",
            points=value,
            source_key=f"{space.platform}:{user_id}:{index}",
        )
    return member.member_id


async def test_linking_merges_points_and_history_exactly(session, clock, spaces):
    discord, slack = spaces
    on_discord = await _member_with_points(session, clock, discord, "10", [5, 7, 11])
    on_slack = await _member_with_points(session, clock, slack, "U10", [3, 13])
    code = await start_link(session, clock, member_id=on_discord, platform="discord")
    result = await finish_link(
        session, clock, member_id=on_slack, platform="slack", code=code.code.lower()
    )
    assert result.member_id == on_discord and result.merged_member_id == on_slack
    assert result.points_total == 39 and result.activity_count == 5
    profile = await get_profile(session, on_discord)
    assert profile.points_total == 39 and profile.platforms == ("discord", "slack")
    activities = await session.scalar(select(func.count()).where(Activity.member_id == on_discord))
    assert activities == 5
    merged = await session.get(Member, on_slack)
    await session.refresh(merged)
    assert merged.points_total == 0 and merged.merged_into_id == on_discord
    assert (await get_profile(session, on_slack)).member_id == on_discord
    identities = await session.scalar(select(func.count()).where(Identity.member_id == on_discord))
    assert identities == 2
    # Activity arriving for the old member id lands on the kept one.
    await record_activity(
        session, clock, member_id=on_slack, kind="message", points=1, source_key="late"
    )
    assert (await get_profile(session, on_discord)).points_total == 40


async def test_a_code_works_once_and_only_on_the_other_platform(session, clock, spaces):
    discord, slack = spaces
    a = await _member_with_points(session, clock, discord, "20", [1])
    b = await _member_with_points(session, clock, slack, "U20", [1])
    c = await _member_with_points(session, clock, slack, "U21", [1])
    code = await start_link(session, clock, member_id=a, platform="discord")
    with pytest.raises(Invalid, match="enter it on your other platform"):
        await finish_link(session, clock, member_id=a, platform="discord", code=code.code)
    await finish_link(session, clock, member_id=b, platform="slack", code=code.code)
    with pytest.raises(NotFound, match="unknown, used or expired"):
        await finish_link(session, clock, member_id=c, platform="slack", code=code.code)


async def test_an_expired_or_malformed_code_is_refused(session, clock, spaces):
    discord, slack = spaces
    a = await _member_with_points(session, clock, discord, "30", [])
    b = await _member_with_points(session, clock, slack, "U30", [])
    code = await start_link(session, clock, member_id=a, platform="discord")
    clock.advance(timedelta(minutes=11).total_seconds())
    with pytest.raises(NotFound, match="expired"):
        await finish_link(session, clock, member_id=b, platform="slack", code=code.code)
    with pytest.raises(Invalid, match="8 letters and digits"):
        await finish_link(session, clock, member_id=b, platform="slack", code="nope")
