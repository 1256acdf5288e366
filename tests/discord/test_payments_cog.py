"""/buy, /billing and /offer on Discord, through the real discord.py and stripe-python clients.

The bot runs against the Discord sandbox, payments against the Stripe sandbox, and the link a
member gets is followed by an HTTP client to the sandbox's pay page and back to our thanks page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.clock import FakeClock
from bot.discord.bot import FlywheelBot
from bot.models import Identity, Member, Order
from bot.runtime import Runtime
from bot.sandbox.discord import DiscordSandbox
from bot.web.app import create_app, start_site
from tests.discord.conftest import (
    ALICE_ID,
    CONFIGURED_OWNER_ID,
    GENERAL_ID,
    GUILD_ID,
    Slash,
    answer,
)
from tests.payments_setup import Shop, shop, with_public_url

__all__ = ["shop"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

LINK = re.compile(r"<(http://127\.0\.0\.1:\d+/buy/(?P<offer>[a-z0-9-]+)\?m=[A-Za-z0-9_.-]+)>")


@pytest.fixture
def extra_offers() -> int:
    """How many offers beyond the shop's three (parametrize to page)."""
    return 0


@pytest.fixture
def extra_config(shop: Shop, extra_offers: int) -> tuple[str, dict[str, str]]:
    """The shop's offers, STRIPE_API_KEY and FLYWHEEL_SECRET_KEY, on the conftest's settings."""
    return shop.toml(extra_offers), shop.environ()


@pytest.fixture
async def web(runtime: Runtime) -> AsyncIterator[str]:
    """Serve the web app, with [web] public_url pointing at it; return its address."""
    runner, port = await start_site(create_app(runtime), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    with_public_url(runtime, base)
    yield base
    await runner.cleanup()


def content(reply: Any) -> str:
    return str(reply.json["data"]["content"])


async def member_of(runtime: Runtime, user_id: int) -> Member:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(Member).join(Identity).where(Identity.user_id == str(user_id))
        )
        assert found is not None
        return found


async def test_buy_gives_a_member_their_link_and_it_leads_through_payment_to_thanks(
    bot: FlywheelBot, slash: Slash, web: str, runtime: Runtime, shop: Shop
) -> None:
    reply = await slash("buy", options=[{"type": 3, "name": "offer", "value": "pro"}])

    assert reply.json["data"]["flags"] & 64  # ephemeral: the link names the member
    found = LINK.search(content(reply))
    assert found and found.group("offer") == "pro", content(reply)
    assert "**Pro Pack**" in content(reply)
    async with aiohttp.ClientSession() as http:
        async with http.get(found.group(1), allow_redirects=False) as opened:
            assert opened.status == 303
            pay_page = opened.headers["Location"]
        created = shop.stripe.get("checkout.session", pay_page.rsplit("/", 1)[1])
        alice = await member_of(runtime, ALICE_ID)
        assert created["client_reference_id"] == alice.uid
        assert created["metadata"]["flywheel_member"] == alice.uid
        assert created["metadata"]["flywheel_offer"] == "pro"
        async with http.post(pay_page, data={"email": "alice@example.org"}) as paid:
            assert paid.status == 200
            assert str(paid.url).startswith(f"{web}/buy/pro/thanks?session_id=cs_")
            assert "Thank you!" in await paid.text()


async def test_buy_without_an_offer_lists_every_offer_with_its_link(
    bot: FlywheelBot, slash: Slash, web: str
) -> None:
    reply = await slash("buy")

    offers = [m.group("offer") for m in LINK.finditer(content(reply))]
    assert offers == ["club", "insiders", "pro"]
    # bot.toml's markup in a name is shown as text.
    assert "Insiders <b>& Co</b>" not in content(reply)


@pytest.mark.parametrize("extra_offers", [12])
async def test_buy_pages_a_long_list_of_offers(bot: FlywheelBot, slash: Slash, web: str) -> None:
    first = await slash("buy")
    second = await slash("buy", options=[{"type": 4, "name": "page", "value": 2}])

    assert "Page 1 of 2: `/buy page:2` for more." in content(first)
    assert "Page 2 of 2: the last page." in content(second)
    offers = [m.group("offer") for m in LINK.finditer(content(first) + content(second))]
    assert len(offers) == 15 and len(set(offers)) == 15


async def test_buy_names_the_offers_when_the_one_asked_for_does_not_exist(
    bot: FlywheelBot, slash: Slash, web: str
) -> None:
    reply = await slash("buy", options=[{"type": 3, "name": "offer", "value": "nope"}])

    assert "There is no offer 'nope'; the offers are: club, insiders, pro." in content(reply)


async def test_buy_autocompletes_offers_by_name(
    bot: FlywheelBot, sandbox: DiscordSandbox, web: str
) -> None:
    asked = await sandbox.send_autocomplete(
        "buy",
        guild_id=GUILD_ID,
        channel_id=GENERAL_ID,
        user_id=ALICE_ID,
        options=[{"type": 3, "name": "offer", "value": "supp", "focused": True}],
    )

    offered = await answer(sandbox, asked)
    assert offered.json["data"]["choices"] == [{"name": "Supporters Club", "value": "club"}]


async def test_buy_says_an_owner_must_set_the_secret_key_when_it_is_missing(
    bot: FlywheelBot, slash: Slash, runtime: Runtime
) -> None:
    secrets = runtime.settings.secrets.model_copy(update={"FLYWHEEL_SECRET_KEY": None})
    runtime.settings = runtime.settings.model_copy(update={"secrets": secrets})

    reply = await slash("buy")

    assert "an owner must set FLYWHEEL\\_SECRET\\_KEY" in content(reply)


async def test_billing_gives_a_payer_a_portal_link(
    bot: FlywheelBot, slash: Slash, web: str, runtime: Runtime, shop: Shop, clock: FakeClock
) -> None:
    await slash("buy", options=[{"type": 3, "name": "offer", "value": "pro"}])  # Alice exists
    alice = await member_of(runtime, ALICE_ID)
    customer = shop.stripe.state.create_customer({"email": "alice@example.org"})
    async with runtime.sessions() as session, session.begin():
        session.add(
            Order(
                community_id=runtime.community_id,
                session_id="cs_test_paid",
                offer_slug="pro",
                member_id=alice.id,
                mode="payment",
                session_status="complete",
                payment_status="paid",
                customer_id=customer["id"],
                client_reference_id=alice.uid,  # bought through her personal link
                matched=True,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )

    reply = await slash("billing")

    assert reply.json["data"]["flags"] & 64
    portal = re.search(r"<(http://127\.0\.0\.1:\d+/portal/[^>]+)>", content(reply))
    assert portal, content(reply)
    (made,) = shop.stripe.objects("billing_portal.session")
    assert made["customer"] == customer["id"] and made["return_url"] == web
    assert portal.group(1) == made["url"]


async def test_billing_prefers_the_members_own_stripe_customer(
    bot: FlywheelBot, slash: Slash, web: str, runtime: Runtime, shop: Shop
) -> None:
    await slash("billing")
    customer = shop.stripe.state.create_customer({"email": "alice@example.org"})
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Member).values(stripe_customer_id=customer["id"]))

    await slash("billing")

    (made,) = shop.stripe.objects("billing_portal.session")
    assert made["customer"] == customer["id"]


async def test_billing_without_a_purchase_suggests_claiming_it(
    bot: FlywheelBot, slash: Slash, shop: Shop
) -> None:
    reply = await slash("billing")

    assert "I found no purchase made through your personal link" in content(reply)
    assert "`/link-purchase`" in content(reply)
    assert shop.stripe.objects("billing_portal.session") == []


def _verb(name: str, **values: str) -> list[dict[str, Any]]:
    return [
        {
            "type": 1,
            "name": name,
            "options": [{"type": 3, "name": k, "value": v} for k, v in values.items()],
        }
    ]


async def test_offer_list_shows_owners_each_offer_with_its_counts(
    bot: FlywheelBot, slash: Slash, runtime: Runtime, clock: FakeClock
) -> None:
    async with runtime.sessions() as session, session.begin():
        for n, (slug, paid) in enumerate([("pro", "paid"), ("pro", "unpaid"), (None, "paid")]):
            session.add(
                Order(
                    community_id=runtime.community_id,
                    session_id=f"cs_{n}",
                    offer_slug=slug,
                    mode="payment",
                    payment_status=paid,
                    matched=False,
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )

    reply = await slash("offer", user_id=CONFIGURED_OWNER_ID, options=_verb("list"))

    text = content(reply)
    pro = text[text.index("**Pro Pack**") :].split("\n\n")[0]
    assert "paid orders: 1" in pro and "paid orders matched to no member: 1" in pro
    assert "Paid orders naming no offer in bot.toml: 1." in text


async def test_offer_show_gives_owners_the_offers_settings(
    bot: FlywheelBot, slash: Slash, shop: Shop
) -> None:
    reply = await slash("offer", user_id=CONFIGURED_OWNER_ID, options=_verb("show", offer="club"))

    text = content(reply)
    assert "**Supporters Club**" in text
    assert f"Stripe price: {shop.prices['club']}".replace("_", "\\_") in text
    assert "mode: subscription" in text and "grace period: 3 days" in text


async def test_offer_is_refused_to_members(bot: FlywheelBot, slash: Slash) -> None:
    reply = await slash("offer", user_id=ALICE_ID, options=_verb("list"))

    assert content(reply) == "Only owners can do that."


async def test_billing_for_a_customer_stripe_no_longer_knows_says_so_instead_of_failing(
    bot: FlywheelBot, slash: Slash, runtime: Runtime, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    await slash("billing")  # Alice exists
    async with runtime.sessions() as session, session.begin():
        # Removed in Stripe's dashboard, or a test-mode customer once the keys are live.
        await session.execute(update(Member).values(stripe_customer_id="cus_test_gone"))

    gone = await slash("billing")
    shop.stripe.fail_next(400, path="/v1/billing_portal/sessions")
    customer = shop.stripe.state.create_customer({"email": "alice@example.org"})
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Member).values(stripe_customer_id=customer["id"]))
    failing = await slash("billing")

    assert "Stripe no longer knows the billing account I have for you" in content(gone)
    assert "Stripe couldn't open your billing page just now" in content(failing)
    error_id = re.search(r"error id ([0-9a-f]{8})", content(failing))
    assert error_id and any(error_id.group(1) in r.getMessage() for r in caplog.records)
    assert "Something went wrong" not in content(gone) + content(failing)
