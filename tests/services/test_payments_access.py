"""Paid access: entitlements and refresh, from orders and subscriptions inserted directly."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select

from bot.models import Badge, MemberBadge, PaidAccess, Subscription
from bot.offers import OfferSettings
from bot.services import payments, recognition
from bot.services.callers import Role
from bot.services.payments.grace import recheck_lapsed
from tests.conftest import make_spaces
from tests.held_lock import until_blocked_on_a_lock
from tests.services.payments_seed import OFFERS, member, order, role_rows, subscription


async def setup(session, clock):
    discord, _ = await make_spaces(session, clock)
    alice = await member(session, clock, discord.community_id, "alice")
    return discord.community_id, alice.member_id


async def refresh(session, clock, community_id, member_id, offers=OFFERS):
    return await payments.refresh(
        session, clock, offers, community_id=community_id, member_id=member_id
    )


async def access_row(session, member_id, offer) -> PaidAccess:
    row = await session.scalar(
        select(PaidAccess).where(PaidAccess.member_id == member_id, PaidAccess.offer_slug == offer)
    )
    assert row is not None
    return row


def grants(rows) -> list[tuple[str, bool]]:
    found = []
    for row in rows:
        effect = json.loads(row.payload)["effect"]
        found.append((effect["access"], effect["grant"]))
    return found


async def test_a_paid_order_grants_the_offers_access_with_one_keyed_role_change(session, clock):
    community_id, alice = await setup(session, clock)
    await order(session, clock, community_id, alice)

    (change,) = await refresh(session, clock, community_id, alice)

    assert (change.offer_slug, change.access, change.granted) == ("pro", "paid", True)
    row = await access_row(session, alice, "pro")
    assert row.granted and row.reason.endswith("is paid")
    (queued,) = await role_rows(session)
    assert queued.key == f"paid-access:{row.uid}:1:discord:111"
    assert grants([queued]) == [("paid", True)]


async def test_refreshing_again_queues_nothing_new(session, clock):
    community_id, alice = await setup(session, clock)
    await order(session, clock, community_id, alice)
    await refresh(session, clock, community_id, alice)

    assert await refresh(session, clock, community_id, alice) == []
    assert await refresh(session, clock, community_id, alice) == []
    assert len(await role_rows(session)) == 1


async def test_an_unpaid_order_or_an_offer_without_access_grants_nothing(session, clock):
    community_id, alice = await setup(session, clock)
    await order(session, clock, community_id, alice, paid=False)
    await order(session, clock, community_id, alice, "ebook")

    assert await refresh(session, clock, community_id, alice) == []
    assert await role_rows(session) == []
    pro = (await payments.entitlements(session, clock, OFFERS, alice))[0]
    assert not pro.entitled and pro.reason.endswith("is unpaid")


async def test_a_free_order_through_a_full_discount_grants_access(session, clock):
    community_id, alice = await setup(session, clock)
    await order(session, clock, community_id, alice, amount=0, payment_status="no_payment_required")

    (change,) = await refresh(session, clock, community_id, alice)
    assert change.granted


async def test_a_full_refund_revokes_and_a_partial_one_does_not(session, clock):
    community_id, alice = await setup(session, clock)
    paid = await order(session, clock, community_id, alice)
    await refresh(session, clock, community_id, alice)

    paid.amount_refunded = 500
    assert await refresh(session, clock, community_id, alice) == []
    paid.amount_refunded = 1200
    (change,) = await refresh(session, clock, community_id, alice)

    assert not change.granted and change.reason.endswith("refunded in full")
    row = await access_row(session, alice, "pro")
    assert [r.key for r in await role_rows(session)] == [
        f"paid-access:{row.uid}:1:discord:111",
        f"paid-access:{row.uid}:2:discord:111",
    ]
    assert grants(await role_rows(session)) == [("paid", True), ("paid", False)]


async def test_a_lost_dispute_revokes_but_an_open_one_keeps_access(session, clock):
    community_id, alice = await setup(session, clock)
    paid = await order(session, clock, community_id, alice)
    await refresh(session, clock, community_id, alice)

    paid.dispute_status = "needs_response"
    assert await refresh(session, clock, community_id, alice) == []
    paid.dispute_status = "lost"
    (change,) = await refresh(session, clock, community_id, alice)

    assert not change.granted and "dispute was lost" in change.reason


async def test_a_subscription_keeps_access_through_the_grace_period_then_loses_it(session, clock):
    community_id, alice = await setup(session, clock)
    sub = await subscription(session, clock, community_id, alice, "active")
    (granted,) = await refresh(session, clock, community_id, alice)
    assert granted.granted and granted.reason.endswith("is active")

    sub.status, sub.past_due_since = "past_due", clock.now()
    clock.advance(timedelta(days=2, hours=23).total_seconds())
    assert await refresh(session, clock, community_id, alice) == []
    row = await access_row(session, alice, "club")
    assert row.granted and "past due; access kept until 2026-03-05 09:00 UTC" in row.reason

    clock.advance(timedelta(hours=1).total_seconds())
    (revoked,) = await refresh(session, clock, community_id, alice)
    assert not revoked.granted and "beyond the grace period of 3 days" in revoked.reason


async def test_a_canceled_subscription_revokes_access(session, clock):
    community_id, alice = await setup(session, clock)
    sub = await subscription(session, clock, community_id, alice, "trialing")
    await refresh(session, clock, community_id, alice)

    sub.status = "canceled"
    (change,) = await refresh(session, clock, community_id, alice)
    assert not change.granted and change.reason.endswith("is canceled")
    assert grants(await role_rows(session)) == [("paid", True), ("paid", False)]


async def test_a_paid_session_grants_before_its_subscription_is_known_and_the_subscription_then_decides(
    session, clock
):
    community_id, alice = await setup(session, clock)
    await order(session, clock, community_id, alice, "club", subscription_id="sub_early")
    (change,) = await refresh(session, clock, community_id, alice)
    assert change.granted and "not known yet" in change.reason

    # The subscription's own events named no member: the member's order ties it to them.
    await subscription(
        session, clock, community_id, None, "canceled", offer=None, subscription_id="sub_early"
    )
    (revoked,) = await refresh(session, clock, community_id, alice)
    assert not revoked.granted and revoked.reason.endswith("sub_early is canceled")


async def test_an_offer_ending_does_not_revoke_a_key_another_offer_still_pays_for(session, clock):
    community_id, alice = await setup(session, clock)
    bought = await order(session, clock, community_id, alice, "pro")
    sub = await subscription(session, clock, community_id, alice, "active")
    assert len(await refresh(session, clock, community_id, alice)) == 2

    bought.amount_refunded = 1200
    (change,) = await refresh(session, clock, community_id, alice)

    assert not change.granted and change.kept_by == "offer club"
    assert "the role stays: offer club gives it" in (await access_row(session, alice, "pro")).reason
    assert grants(await role_rows(session)) == [("paid", True), ("paid", True)]

    sub.status = "canceled"
    (last,) = await refresh(session, clock, community_id, alice)
    assert not last.granted and last.kept_by is None
    assert grants(await role_rows(session))[-1] == ("paid", False)


async def test_both_offers_ending_at_once_revoke_the_key(session, clock):
    community_id, alice = await setup(session, clock)
    bought = await order(session, clock, community_id, alice, "pro")
    sub = await subscription(session, clock, community_id, alice, "active")
    await refresh(session, clock, community_id, alice)

    bought.dispute_status, sub.status = "lost", "canceled"
    changes = await refresh(session, clock, community_id, alice)

    assert [c.granted for c in changes] == [False, False]
    assert ("paid", False) in grants(await role_rows(session))


async def insider_badge(session, clock, community_id, member_id) -> None:
    badge = Badge(
        community_id=community_id,
        slug="insider",
        name="Insider",
        emoji="⭐",
        access="paid",
        source="config",
        created_at=clock.now(),
    )
    session.add(badge)
    await session.flush()
    session.add(
        MemberBadge(
            community_id=community_id,
            member_id=member_id,
            badge_id=badge.id,
            awarded_at=clock.now(),
            via="manual",
        )
    )
    await session.flush()


async def test_a_badge_giving_the_same_key_keeps_the_role_when_the_purchase_is_refunded(
    session, clock
):
    community_id, alice = await setup(session, clock)
    await insider_badge(session, clock, community_id, alice)
    bought = await order(session, clock, community_id, alice)
    await refresh(session, clock, community_id, alice)

    bought.amount_refunded = 1200
    (change,) = await refresh(session, clock, community_id, alice)

    assert change.kept_by == "badge Insider"
    assert grants(await role_rows(session)) == [("paid", True)]


async def test_an_offer_moved_to_another_key_revokes_the_old_key_and_grants_the_new(session, clock):
    community_id, alice = await setup(session, clock)
    await order(session, clock, community_id, alice)
    await refresh(session, clock, community_id, alice)

    moved = {**OFFERS, "pro": OfferSettings(name="Pro", price="price_pro", access="vip")}
    (change,) = await refresh(session, clock, community_id, alice, moved)

    assert (change.access, change.granted) == ("vip", True)
    assert grants(await role_rows(session)) == [("paid", True), ("paid", False), ("vip", True)]
    assert (await access_row(session, alice, "pro")).changes == 3


async def test_the_grace_job_revokes_lapsed_subscriptions_in_batches_when_the_clock_moves(
    sessions, clock
):
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        community_id = discord.community_id
        members = []
        for name in ("ann", "ben", "cat", "dan", "eve"):
            found = await member(session, clock, community_id, name)
            members.append(found.member_id)
            await subscription(session, clock, community_id, found.member_id, "active")
            await refresh(session, clock, community_id, found.member_id)
        # Four fall past due now; eve also has a second, active subscription.
        for member_id in members:
            await subscription(
                session, clock, community_id, member_id, "past_due", past_due_since=clock.now()
            )
        for sub in await session.scalars(
            select(Subscription).where(Subscription.status == "active")
        ):
            if sub.member_id != members[-1]:
                sub.status = "past_due"
                sub.past_due_since = clock.now()

    clock.advance(timedelta(days=2).total_seconds())
    assert await recheck_lapsed(sessions, clock, OFFERS, batch=2) == 0

    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    assert await recheck_lapsed(sessions, clock, OFFERS, batch=2) == 4
    # The feature's own job, as the runtime runs it: nothing left to do.
    context = SimpleNamespace(
        sessions=sessions, clock=clock, settings=SimpleNamespace(offers=OFFERS)
    )
    assert await payments.FEATURE.jobs[0].run(context) == 0

    async with sessions() as session:
        granted = {row.member_id: row.granted for row in await session.scalars(select(PaidAccess))}
        revokes = [g for g in grants(await role_rows(session)) if not g[1]]
    assert granted == {m: m == members[-1] for m in members}
    assert len(revokes) == 4


def test_the_payments_feature_runs_the_grace_job_every_minute():
    (job,) = [job for job in payments.FEATURE.jobs if job.name == "paid-access-grace"]
    assert job.every_seconds == 60.0


async def test_an_offer_moved_to_another_key_as_it_ends_revokes_the_key_that_was_granted(
    session, clock
):
    community_id, alice = await setup(session, clock)
    bought = await order(session, clock, community_id, alice)
    await refresh(session, clock, community_id, alice)

    bought.amount_refunded = 1200
    moved = {**OFFERS, "pro": OfferSettings(name="Pro", price="price_pro", access="vip")}
    (change,) = await refresh(session, clock, community_id, alice, moved)

    assert not change.granted
    assert grants(await role_rows(session)) == [("paid", True), ("paid", False)]


async def test_revoking_a_badge_keeps_the_role_paid_access_still_gives(session, clock):
    community_id, alice = await setup(session, clock)
    mod = await member(session, clock, community_id, "mod", Role.MODERATOR)
    await insider_badge(session, clock, community_id, alice)
    await order(session, clock, community_id, alice)
    await refresh(session, clock, community_id, alice)

    await recognition.revoke(session, clock, mod, alice, "Insider")

    assert await role_rows(session, "badge-role:") == []
    assert grants(await role_rows(session)) == [("paid", True)]


async def test_the_feature_job_revokes_a_subscription_past_its_grace_period(sessions, clock):
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        alice = (await member(session, clock, discord.community_id, "alice")).member_id
        sub = await subscription(session, clock, discord.community_id, alice, "active")
        await refresh(session, clock, discord.community_id, alice)
        sub.status, sub.past_due_since = "past_due", clock.now()
    context = SimpleNamespace(
        sessions=sessions, clock=clock, settings=SimpleNamespace(offers=OFFERS)
    )

    clock.advance(timedelta(days=3).total_seconds() - 1)
    assert await payments.FEATURE.jobs[0].run(context) == 0
    clock.advance(1)
    assert await payments.FEATURE.jobs[0].run(context) == 1

    async with sessions() as session:
        assert grants(await role_rows(session)) == [("paid", True), ("paid", False)]


async def test_two_refreshes_of_a_new_buyer_at_once_grant_once(committed, clock, backend):
    """Two webhooks about one member: the second waits for the first and finds it decided."""
    async with committed() as session, session.begin():
        community_id, alice = await setup(session, clock)
        await order(session, clock, community_id, alice)

    first = committed()
    await first.begin()
    assert len(await refresh(first, clock, community_id, alice)) == 1

    async def second() -> list[payments.AccessChange]:
        async with committed() as session, session.begin():
            return await refresh(session, clock, community_id, alice)

    racing = asyncio.ensure_future(second())
    if backend == "postgresql":
        await until_blocked_on_a_lock(committed)  # on the member's row, held by the first
    await first.commit()
    await first.close()

    assert await racing == []
    async with committed() as session:
        assert len(await role_rows(session)) == 1
        assert len(list(await session.scalars(select(PaidAccess)))) == 1
