"""Erasing a buyer: their orders stay, anonymous, and the access their payments gave is taken
back (once their identities are forgotten, nothing could revoke it when the payment ends)."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.models import OutboxMember, OutboxMessage, PaidAccess
from bot.services import payments
from bot.services.privacy import delete_member
from tests.conftest import make_spaces
from tests.services.payments_seed import OFFERS, member, order


async def test_erasing_a_paying_member_revokes_their_paid_role_and_keeps_the_order_anonymous(
    session, clock
):
    discord, _ = await make_spaces(session, clock)
    alice = await member(session, clock, discord.community_id, "alice")
    bought = await order(
        session, clock, discord.community_id, alice.member_id, "pro", email="a@x.org"
    )
    await payments.refresh(
        session, clock, OFFERS, community_id=discord.community_id, member_id=alice.member_id
    )

    await delete_member(session, clock, member_id=alice.member_id)
    await session.flush()

    rows = list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.like("paid-access:%"))
            .order_by(OutboxMessage.id)
        )
    )
    changes = [
        (row.platform, row.target, row.status, json.loads(row.payload)["effect"]["grant"])
        for row in rows
    ]
    assert changes == [("discord", "member:111:alice", "pending", False)]  # the grant dropped
    linked = await session.scalar(
        select(OutboxMember.member_id).where(OutboxMember.outbox_id == rows[0].id)
    )
    assert linked is None
    await session.refresh(bought)
    assert (bought.member_id, bought.customer_email, bought.payment_status) == (None, None, "paid")
    assert await session.scalar(select(PaidAccess.id)) is None
