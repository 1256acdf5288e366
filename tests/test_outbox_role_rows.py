"""A role change queued alone (one INSERT … SELECT) makes the rows and member links a batch makes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.messages import DirectMessage, RoleChange, rich
from bot.models import Identity, OutboxMember, OutboxMessage
from bot.outbox import Outgoing, send, send_many
from bot.services.communities import ensure_space
from bot.services.identities import resolve_member
from bot.services.privacy import delete_member

COLUMNS = (
    "platform",
    "action",
    "target",
    "payload",
    "subject_kind",
    "subject_id",
    "status",
    "attempts",
    "not_before",
    "created_at",
)


async def _member_on_three_spaces(session, clock, spaces):
    """Ada on both guilds of Discord and on Slack: three identities, three role rows."""
    discord, slack = spaces
    second = await ensure_space(
        session, clock, community_id=discord.community_id, platform="discord", external_id="222"
    )
    ada = await resolve_member(session, clock, space=discord, user_id="42")
    others = ((second.space_id, "discord", "42"), (slack.space_id, "slack", "U42"))
    for space_id, platform, user_id in others:
        session.add(
            Identity(
                member_id=ada.member_id,
                space_id=space_id,
                platform=platform,
                user_id=user_id,
                created_at=clock.now(),
            )
        )
    await session.flush()
    return ada


async def _queued(session, prefix: str) -> dict[str, tuple]:
    rows = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.startswith(prefix)).order_by(OutboxMessage.id)
    )
    found = {}
    for row in rows:
        links = await session.scalars(
            select(OutboxMember.member_id).where(OutboxMember.outbox_id == row.id)
        )
        found[row.key.removeprefix(prefix)] = (
            *(getattr(row, name) for name in COLUMNS),
            sorted(links),
        )
    return found


async def test_a_role_change_alone_is_queued_as_a_batch_queues_it(session, clock, spaces):
    ada = await _member_on_three_spaces(session, clock, spaces)
    bob = await resolve_member(session, clock, space=spaces[0], user_id="43")
    change = RoleChange(member_id=ada.member_id, access="inner-circle", grant=True, reason="paid")
    later = clock.now() + timedelta(minutes=5)

    alone = await send(
        session,
        clock,
        change,
        key="alone",
        community_id=ada.community_id,
        not_before=later,
        members=[bob.member_id],
    )
    batch = [
        Outgoing("batch", change, ada.community_id, later, (bob.member_id,)),
        Outgoing(
            "other", DirectMessage(member_id=bob.member_id, body=rich("hi")), ada.community_id
        ),
    ]
    batched = await send_many(session, clock, batch)

    assert alone == 3
    assert batched == 4  # three role rows and Bob's DM
    made_alone = await _queued(session, "alone:")
    assert made_alone == await _queued(session, "batch:")
    assert sorted(made_alone) == ["discord:111", "discord:222", "slack:T0001"]
    assert all(row[-1] == sorted([ada.member_id, bob.member_id]) for row in made_alone.values())


async def test_a_role_change_queued_again_under_its_key_adds_nothing(session, clock, spaces):
    ada = await _member_on_three_spaces(session, clock, spaces)
    change = RoleChange(member_id=ada.member_id, access="inner-circle", grant=False)

    first = await send(session, clock, change, key="revoke", community_id=ada.community_id)
    again = await send(session, clock, change, key="revoke", community_id=ada.community_id)

    assert (first, again) == (3, 0)
    assert len(await _queued(session, "revoke:")) == 3


async def test_erasing_the_member_removes_the_role_rows_queued_alone(session, clock, spaces):
    ada = await _member_on_three_spaces(session, clock, spaces)
    change = RoleChange(member_id=ada.member_id, access="inner-circle", grant=True)
    await send(session, clock, change, key="grant", community_id=ada.community_id)

    await delete_member(session, clock, member_id=ada.member_id)

    assert await _queued(session, "grant:") == {}
