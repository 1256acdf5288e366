"""`/access why` and `/link purchase` in the service: who may ask, what the records say,
and a purchase claimed by its checkout email without ever saying whether it exists."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.errors import Forbidden, Invalid, LimitReached, NotFound
from bot.messages import load
from bot.models import AuditEntry, Member, Order, OutboxMessage, Subscription
from bot.services import payments
from bot.services.callers import Role
from bot.services.payments.claims import DAILY_ATTEMPTS, TOLD, claim_button_id
from tests.conftest import make_spaces
from tests.held_lock import until_blocked_on_a_lock
from tests.services.payments_seed import OFFERS, member, order, role_rows, subscription


async def community(session, clock):
    discord, _ = await make_spaces(session, clock)
    return discord.community_id


def text(report) -> str:
    return "\n".join(line.plain() for line in payments.why_lines(report))


async def test_a_member_sees_their_own_access_explained_from_the_records(session, clock):
    community_id = await community(session, clock)
    alice = await member(session, clock, community_id, "alice")
    await order(session, clock, community_id, alice.member_id, amount=1250, amount_refunded=250)
    await subscription(
        session, clock, community_id, alice.member_id, "past_due", past_due_since=clock.now()
    )
    await payments.refresh(
        session, clock, OFFERS, community_id=community_id, member_id=alice.member_id
    )
    row = (await role_rows(session))[0]
    row.status, row.attempts = "dead", 3
    row.last_error = "Missing Permissions: Flywheel's role is below 'Paid' (50013)"

    report = await payments.explain_access(session, clock, OFFERS, alice, user_id="alice")

    shown = text(report)
    assert shown.startswith("Your paid access\n")
    assert "Pro (pro, access paid): entitled\n    Why: order cs_test_" in shown
    assert "Club (club, access paid): entitled" in shown
    assert "past due; access kept until 2026-03-05 09:00 UTC" in shown
    assert "Decision: granted since 02 Mar 2026 09:00 UTC (1 role change queued)." in shown
    assert "discord: grant dead (3 attempts" in shown
    assert "Flywheel's role is below 'Paid' (50013)" in shown
    assert "complete/paid · 12.50 EUR · refunded 2.50 EUR" in shown
    assert "club · past_due · period ends 02 Mar 2026 09:00 UTC · past due since" in shown


async def test_a_member_asking_about_someone_else_is_refused_and_a_moderator_may(session, clock):
    community_id = await community(session, clock)
    await member(session, clock, community_id, "alice")
    bob = await member(session, clock, community_id, "bob")
    mod = await member(session, clock, community_id, "mod", Role.MODERATOR)

    with pytest.raises(Forbidden, match="your own access"):
        await payments.explain_access(session, clock, OFFERS, bob, user_id="alice", name="Alice")
    report = await payments.explain_access(
        session, clock, OFFERS, mod, user_id="alice", name="Alice"
    )

    shown = text(report)
    assert shown.startswith("Paid access of Alice\n")
    assert "not entitled" in shown and "Why: no purchase of this offer." in shown
    assert "Orders (0)\nNone.\nSubscriptions (0)\nNone." in shown
    stranger = await payments.explain_access(session, clock, OFFERS, mod, user_id="zed")
    assert text(stranger).endswith(
        "Flywheel has no records of that member: no orders, no subscriptions."
    )


async def _dms(session) -> list[OutboxMessage]:
    return list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.like("purchase-claim:%"))
            .order_by(OutboxMessage.id)
        )
    )


async def test_a_claim_dms_a_confirmation_and_the_click_links_the_purchase(session, clock):
    community_id = await community(session, clock)
    alice = await member(session, clock, community_id, "alice")
    bought = await order(
        session,
        clock,
        community_id,
        None,
        "club",
        email="Ada.Buyer@Example.org",
        customer_id="cus_ada",
        subscription_id="sub_ada",
    )
    await subscription(session, clock, community_id, None, "active", subscription_id="sub_ada")

    asked = await payments.claim_purchase(session, clock, OFFERS, alice, " ada.buyer@example.ORG ")

    assert asked.told == TOLD
    (dm,) = await _dms(session)
    message = load(dm.payload)
    assert message.member_id == alice.member_id
    assert [b.id for b in message.buttons] == [claim_button_id(bought.uid)]
    assert "purchase made with your email: Club, 12.00 EUR, on 02 Mar 2026." in message.body.plain()

    done = await payments.confirm_claim(
        session,
        clock,
        OFFERS,
        community_id=community_id,
        member_id=alice.member_id,
        button_id=claim_button_id(bought.uid),
    )

    assert done.offer == "Club" and [c.granted for c in done.changes] == [True]
    await session.refresh(bought)
    assert bought.member_id == alice.member_id and bought.matched
    assert (await session.get(Member, alice.member_id)).stripe_customer_id == "cus_ada"
    sub = await session.scalar(
        select(Subscription).where(Subscription.subscription_id == "sub_ada")
    )
    assert sub.member_id == alice.member_id
    assert len(await role_rows(session)) == 1
    actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["payments.purchase_claim", "payments.purchase_linked"]
    with pytest.raises(Invalid, match="already linked to you"):
        await payments.confirm_claim(
            session,
            clock,
            OFFERS,
            community_id=community_id,
            member_id=alice.member_id,
            button_id=claim_button_id(bought.uid),
        )


async def test_a_wrong_email_or_a_claimed_order_gets_the_same_answer_and_no_dm(session, clock):
    community_id = await community(session, clock)
    alice = await member(session, clock, community_id, "alice")
    bob = await member(session, clock, community_id, "bob")
    await order(session, clock, community_id, bob.member_id, email="bob@example.org")
    await order(session, clock, community_id, None, email="bob@example.org", paid=False)

    wrong = await payments.claim_purchase(session, clock, OFFERS, alice, "nobody@example.org")
    taken = await payments.claim_purchase(session, clock, OFFERS, alice, "bob@example.org")

    assert wrong.told == taken.told == TOLD
    assert await _dms(session) == []


async def test_only_the_member_offered_an_order_can_confirm_it_and_only_once(session, clock):
    community_id = await community(session, clock)
    alice = await member(session, clock, community_id, "alice")
    bob = await member(session, clock, community_id, "bob")
    bought = await order(session, clock, community_id, None, email="x@example.org")
    button = claim_button_id(bought.uid)

    with pytest.raises(NotFound, match="can't be claimed any more"):
        await payments.confirm_claim(
            session,
            clock,
            OFFERS,
            community_id=community_id,
            member_id=bob.member_id,
            button_id=button,
        )
    await payments.claim_purchase(session, clock, OFFERS, alice, "x@example.org")
    await payments.claim_purchase(session, clock, OFFERS, bob, "x@example.org")
    await payments.confirm_claim(
        session, clock, OFFERS, community_id=community_id, member_id=bob.member_id, button_id=button
    )
    with pytest.raises(NotFound, match="can't be claimed any more"):
        await payments.confirm_claim(
            session,
            clock,
            OFFERS,
            community_id=community_id,
            member_id=alice.member_id,
            button_id=button,
        )
    await session.refresh(bought)
    assert bought.member_id == bob.member_id


async def test_a_confirmation_expires_after_a_week(session, clock):
    community_id = await community(session, clock)
    alice = await member(session, clock, community_id, "alice")
    bought = await order(session, clock, community_id, None, email="x@example.org")
    await payments.claim_purchase(session, clock, OFFERS, alice, "x@example.org")

    clock.advance(timedelta(days=7, seconds=1).total_seconds())
    with pytest.raises(NotFound):
        await payments.confirm_claim(
            session,
            clock,
            OFFERS,
            community_id=community_id,
            member_id=alice.member_id,
            button_id=claim_button_id(bought.uid),
        )


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "not an email",
        "a@b",
        "a b@example.org",
        "a@@example.org",
        "x" * 250 + "@e.org",
        "a@example.org\u202e",
    ],
)
async def test_an_email_of_the_wrong_shape_is_refused_naming_the_field(session, clock, typed):
    community_id = await community(session, clock)
    alice = await member(session, clock, community_id, "alice")

    with pytest.raises(Invalid) as refused:
        await payments.claim_purchase(session, clock, OFFERS, alice, typed)

    assert refused.value.field == "email"
    assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 0


async def test_claims_are_limited_per_member_per_day(session, clock):
    community_id = await community(session, clock)
    alice = await member(session, clock, community_id, "alice")
    for n in range(DAILY_ATTEMPTS):
        asked = await payments.claim_purchase(session, clock, OFFERS, alice, f"{n}@example.org")
    assert asked.attempts_left == 0

    with pytest.raises(LimitReached):
        await payments.claim_purchase(session, clock, OFFERS, alice, "more@example.org")
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    await payments.claim_purchase(session, clock, OFFERS, alice, "more@example.org")


async def test_a_claimed_order_in_another_community_is_never_offered(session, clock):
    community_id = await community(session, clock)
    alice = await member(session, clock, community_id, "alice")
    from bot.services.communities import ensure_community

    other = await ensure_community(session, clock, slug="other", name="Other", timezone="UTC")
    await order(session, clock, other, None, email="x@example.org")

    await payments.claim_purchase(session, clock, OFFERS, alice, "x@example.org")
    assert await _dms(session) == []
    assert await session.scalar(select(func.count()).select_from(Order)) == 1


async def test_why_shows_a_kept_role_and_access_from_an_offer_no_longer_configured(session, clock):
    community_id = await community(session, clock)
    alice = await member(session, clock, community_id, "alice")
    bought = await order(session, clock, community_id, alice.member_id, "pro")
    await subscription(session, clock, community_id, alice.member_id, "active")
    await payments.refresh(
        session, clock, OFFERS, community_id=community_id, member_id=alice.member_id
    )
    bought.amount_refunded = bought.amount_total
    await payments.refresh(
        session, clock, OFFERS, community_id=community_id, member_id=alice.member_id
    )

    shown = text(await payments.explain_access(session, clock, OFFERS, alice))
    assert "Recorded: order cs_test_" in shown and "the role stays: offer club gives it." in shown

    without_club = {slug: offer for slug, offer in OFFERS.items() if slug != "club"}
    shown = text(await payments.explain_access(session, clock, without_club, alice))
    assert "club (club, access paid): not entitled" in shown
    assert "no longer in bot.toml" in shown and "Decision: granted since" in shown
    assert "The records and the decision differ" not in shown.split("club (club")[1]


async def test_two_members_confirming_one_order_at_once_link_it_once(committed, clock, backend):
    async with committed() as session, session.begin():
        community_id = await community(session, clock)
        alice = await member(session, clock, community_id, "alice")
        bob = await member(session, clock, community_id, "bob")
        bought = await order(session, clock, community_id, None, email="x@example.org")
        for who in (alice, bob):
            await payments.claim_purchase(session, clock, OFFERS, who, "x@example.org")
    button = claim_button_id(bought.uid)

    def confirm(session, who):
        return payments.confirm_claim(
            session, clock, OFFERS, community_id=community_id, member_id=who, button_id=button
        )

    first = committed()
    await first.begin()
    await confirm(first, alice.member_id)

    async def second() -> None:
        async with committed() as session, session.begin():
            await confirm(session, bob.member_id)

    racing = asyncio.ensure_future(second())
    if backend == "postgresql":
        await until_blocked_on_a_lock(committed)  # on the order's row
    await first.commit()
    await first.close()

    with pytest.raises(NotFound):
        await racing
    async with committed() as session:
        assert (await session.get(Order, bought.id)).member_id == alice.member_id
        linked = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "payments.purchase_linked")
        )
        assert linked == 1
