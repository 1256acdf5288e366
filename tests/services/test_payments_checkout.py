"""The checkout and billing services on the test database (SQLite, and PostgreSQL when asked)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import FakeClock
from bot.errors import Forbidden
from bot.links import LinkRefused
from bot.models import Member, Order, Subscription
from bot.offers import OfferSettings
from bot.services import payments
from bot.services.callers import Actor, Caller, Role, resolve_actor
from bot.services.communities import SpaceRef
from bot.settings import Settings, load_settings

SECRET = "service-test-secret"
PRO = OfferSettings(name="Pro Pack", price="price_pro")


@pytest.fixture
def settings(tmp_path, database_url: str) -> Settings:
    config = tmp_path / "bot.toml"
    config.write_text(
        '[community]\nname = "Acme"\nslug = "acme"\n[web]\npublic_url = "https://acme.example/"\n'
        '[offers.pro]\nname = "Pro Pack"\nprice = "price_pro"\n'
        '[offers.club]\nname = "Club"\nprice = "price_club"\nmode = "subscription"\n',
        encoding="utf-8",
    )
    return load_settings(
        config, environ={"FLYWHEEL_DATABASE_URL": database_url, "FLYWHEEL_SECRET_KEY": SECRET}
    )


async def actor_of(
    session: AsyncSession, clock: FakeClock, space: SpaceRef, user: str, role: Role = Role.MEMBER
) -> Actor:
    caller = Caller("discord", "111", user, user.title(), role)
    return await resolve_actor(session, clock, community_id=space.community_id, caller=caller)


def opened(session_id: str, clock: FakeClock) -> payments.OpenedSession:
    return payments.OpenedSession(session_id, "https://pay", clock.now(), 2500, "usd", None, None)


async def test_buy_links_name_the_member_by_public_id_under_the_public_url(
    session: AsyncSession, clock: FakeClock, spaces: tuple[SpaceRef, SpaceRef], settings: Settings
) -> None:
    ada = await actor_of(session, clock, spaces[0], "ada")

    links = await payments.buy_links(session, clock, ada, settings)

    assert [link.offer.slug for link in links] == ["club", "pro"]
    assert links[1].url.startswith("https://acme.example/buy/pro?m=")
    token = parse_qs(urlsplit(links[1].url).query)["m"][0]
    buyer = await payments.buyer_of(
        session, clock, secret=SECRET, token=token, offer_slug="pro", community_id=ada.community_id
    )
    uid = await session.scalar(select(Member.uid).where(Member.id == ada.member_id))
    assert (buyer.member_id, buyer.uid) == (ada.member_id, uid)
    assert links[1].expires_at == (clock.now() + timedelta(days=7)).replace(microsecond=0)


async def test_a_link_of_an_erased_member_names_nobody(
    session: AsyncSession, clock: FakeClock, spaces: tuple[SpaceRef, SpaceRef], settings: Settings
) -> None:
    ada = await actor_of(session, clock, spaces[0], "ada")
    (link,) = await payments.buy_links(session, clock, ada, settings, offer="pro")
    await session.execute(
        update(Member).where(Member.id == ada.member_id).values(erased_at=clock.now())
    )

    with pytest.raises(LinkRefused) as refused:
        await payments.buyer_of(
            session,
            clock,
            secret=SECRET,
            token=parse_qs(urlsplit(link.url).query)["m"][0],
            offer_slug="pro",
            community_id=ada.community_id,
        )
    assert refused.value.code == "link.unknown_member"


async def test_the_open_order_is_recorded_once_however_often_the_session_is_seen(
    session: AsyncSession, clock: FakeClock, spaces: tuple[SpaceRef, SpaceRef]
) -> None:
    community = spaces[0].community_id

    first = await payments.record_opened(
        session,
        clock,
        community_id=community,
        offer_slug="pro",
        offer=PRO,
        buyer=None,
        opened=opened("cs_1", clock),
    )
    again = await payments.record_opened(
        session,
        clock,
        community_id=community,
        offer_slug="pro",
        offer=PRO,
        buyer=None,
        opened=opened("cs_1", clock),
    )

    assert (first, again) == (True, False)
    assert await session.scalar(select(func.count()).select_from(Order)) == 1


async def test_an_order_the_webhook_recorded_first_is_left_as_it_is(
    session: AsyncSession, clock: FakeClock, spaces: tuple[SpaceRef, SpaceRef]
) -> None:
    community = spaces[0].community_id
    session.add(
        Order(
            community_id=community,
            session_id="cs_2",
            offer_slug="pro",
            mode="payment",
            session_status="complete",
            payment_status="paid",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
    )
    await session.flush()

    recorded = await payments.record_opened(
        session,
        clock,
        community_id=community,
        offer_slug="pro",
        offer=PRO,
        buyer=None,
        opened=opened("cs_2", clock),
    )

    assert recorded is False
    order = await session.scalar(select(Order).where(Order.session_id == "cs_2"))
    assert order is not None and (order.session_status, order.payment_status) == (
        "complete",
        "paid",
    )


async def test_the_billing_customer_falls_back_to_the_latest_order_then_subscription(
    session: AsyncSession, clock: FakeClock, spaces: tuple[SpaceRef, SpaceRef]
) -> None:
    ada = await actor_of(session, clock, spaces[0], "ada")
    assert await payments.billing_customer(session, ada) is None
    session.add(
        Subscription(
            community_id=ada.community_id,
            subscription_id="sub_1",
            customer_id="cus_sub",
            member_id=ada.member_id,
            status="active",
            version=clock.now(),
            created_at=clock.now(),
            updated_at=clock.now(),
        )
    )
    await session.flush()
    assert await payments.billing_customer(session, ada) == "cus_sub"
    for n, customer in enumerate(["cus_old", "cus_new"]):
        session.add(
            Order(
                community_id=ada.community_id,
                session_id=f"cs_{n}",
                member_id=ada.member_id,
                mode="payment",
                customer_id=customer,
                created_at=clock.now() + timedelta(minutes=n),
                updated_at=clock.now(),
            )
        )
    await session.flush()
    assert await payments.billing_customer(session, ada) == "cus_new"
    await session.execute(
        update(Member).where(Member.id == ada.member_id).values(stripe_customer_id="cus_own")
    )
    assert await payments.billing_customer(session, ada) == "cus_own"


async def test_offer_figures_are_for_owners_only(
    session: AsyncSession, clock: FakeClock, spaces: tuple[SpaceRef, SpaceRef], settings: Settings
) -> None:
    ada = await actor_of(session, clock, spaces[0], "ada")
    owner = await actor_of(session, clock, spaces[0], "olive", Role.OWNER)
    session.add(
        Subscription(
            community_id=owner.community_id,
            subscription_id="sub_1",
            offer_slug="club",
            status="past_due",
            version=clock.now(),
            created_at=clock.now(),
            updated_at=clock.now(),
        )
    )
    await session.flush()

    with pytest.raises(Forbidden):
        await payments.offer_overview(session, ada, settings.offers)
    overview = await payments.offer_overview(session, owner, settings.offers, "club")

    (club,) = overview.offers
    assert (club.offer.slug, club.live_subscriptions, club.paid_orders) == ("club", 1, 0)
