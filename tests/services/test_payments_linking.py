"""Paid access when two accounts are linked: it follows the person onto the other platform,
and a granted decision survives the merge so the role is taken back when the access ends."""

from __future__ import annotations

import json
from types import SimpleNamespace

from sqlalchemy import select

from bot.events import MembersLinked
from bot.models import OutboxMessage, PaidAccess
from bot.services import payments
from bot.services.linking import finish_link, start_link
from tests.conftest import make_spaces
from tests.services.payments_seed import OFFERS, member, order, subscription


async def _link(session, clock, community_id: int, issuer: int, finisher: int) -> int:
    """Link two members (Discord issues the code, Slack enters it), run payments' handlers of
    the ``members.linked`` event, and return the kept member."""
    code = await start_link(session, clock, member_id=issuer, platform="discord")
    result = await finish_link(session, clock, member_id=finisher, platform="slack", code=code.code)
    event = MembersLinked(
        community_id=community_id,
        kept_member_id=result.member_id,
        merged_member_id=result.merged_member_id,
    )
    context = SimpleNamespace(clock=clock, settings=SimpleNamespace(offers=OFFERS))
    handlers = [s for s in payments.FEATURE.subscriptions if s.event is MembersLinked]
    assert handlers, "payments does not react to members.linked"
    for subscribed in handlers:
        await subscribed.handler(context, session, event)  # type: ignore[arg-type]
    return result.member_id


async def _role_changes(session) -> list[tuple[str, bool]]:
    rows = await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.key.like("paid-access:%"), OutboxMessage.action == "role")
        .order_by(OutboxMessage.id)
    )
    return [(row.platform, json.loads(row.payload)["effect"]["grant"]) for row in rows]


async def refresh(session, clock, community_id, member_id):
    return await payments.refresh(
        session, clock, OFFERS, community_id=community_id, member_id=member_id
    )


async def test_a_purchase_made_on_discord_gives_its_access_on_slack_once_the_accounts_are_linked(
    session, clock
):
    discord, _ = await make_spaces(session, clock)
    community_id = discord.community_id
    alice = await member(session, clock, community_id, "alice")
    await order(session, clock, community_id, alice.member_id, "pro")
    await refresh(session, clock, community_id, alice.member_id)
    assert await _role_changes(session) == [("discord", True)]
    on_slack = await member(session, clock, community_id, "U0ALICE", platform="slack")

    kept = await _link(session, clock, community_id, alice.member_id, on_slack.member_id)

    assert kept == alice.member_id
    changes = await _role_changes(session)
    assert ("slack", True) in changes[1:], changes


async def test_a_subscription_bought_by_the_merged_account_is_revoked_on_both_when_it_ends(
    session, clock
):
    discord, _ = await make_spaces(session, clock)
    community_id = discord.community_id
    # Alice's own subscription ended (granted, then revoked); her Slack account pays now.
    alice = await member(session, clock, community_id, "alice")
    old = await subscription(session, clock, community_id, alice.member_id, "active")
    await refresh(session, clock, community_id, alice.member_id)
    old.status = "canceled"
    await refresh(session, clock, community_id, alice.member_id)
    on_slack = await member(session, clock, community_id, "U0ALICE", platform="slack")
    paying = await subscription(session, clock, community_id, on_slack.member_id, "active")
    await refresh(session, clock, community_id, on_slack.member_id)

    kept = await _link(session, clock, community_id, alice.member_id, on_slack.member_id)
    granted = await session.scalar(
        select(PaidAccess.granted).where(
            PaidAccess.member_id == kept, PaidAccess.offer_slug == "club"
        )
    )
    paying.status = "canceled"
    await refresh(session, clock, community_id, kept)

    assert granted is True
    changes = await _role_changes(session)
    assert sorted(changes[-2:]) == [("discord", False), ("slack", False)], changes
