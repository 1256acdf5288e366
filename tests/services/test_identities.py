"""Member resolution: one member per identity, even under concurrency."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.events import MemberCreated
from bot.models import EventRecord, Identity, Member
from bot.services.identities import get_profile, resolve_member
from tests.conftest import make_spaces


async def test_first_sight_creates_a_member_and_second_sight_finds_it(session, clock, spaces):
    discord, _ = spaces
    first = await resolve_member(session, clock, space=discord, user_id="42", display_name="Ada")
    again = await resolve_member(session, clock, space=discord, user_id="42", display_name="Ada")
    assert first.created and not again.created
    assert first.member_id == again.member_id
    profile = await get_profile(session, first.member_id)
    assert profile.display_name == "Ada" and profile.platforms == ("discord",)
    names = (await session.scalars(select(EventRecord.name))).all()
    assert names.count(MemberCreated.name) == 1


async def test_the_same_user_id_on_two_platforms_is_two_members_until_linked(
    session, clock, spaces
):
    discord, slack = spaces
    a = await resolve_member(session, clock, space=discord, user_id="7")
    b = await resolve_member(session, clock, space=slack, user_id="7")
    assert a.member_id != b.member_id


async def test_fifty_concurrent_first_sightings_create_exactly_one_member(committed, clock):
    async with committed() as session, session.begin():
        discord, _ = await make_spaces(session, clock)

    async def sight() -> int:
        async with committed() as session, session.begin():
            resolved = await resolve_member(
                session, clock, space=discord, user_id="900", display_name="Grace"
            )
            return resolved.member_id

    member_ids = await asyncio.gather(*(sight() for _ in range(50)))
    assert len(set(member_ids)) == 1
    async with committed() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 1
        assert await session.scalar(select(func.count()).select_from(Identity)) == 1
        created = await session.scalar(
            select(func.count()).where(EventRecord.name == MemberCreated.name)
        )
        assert created == 1
