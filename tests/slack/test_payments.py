"""`/flywheel buy`, `billing` and `offer` on Slack: signed commands into the real bolt app, the
Slack and Stripe sandboxes answering, and the member's link followed to Stripe's pay page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import update

from bot.clock import FakeClock
from bot.models import Member, Order
from bot.runtime import Runtime
from bot.sandbox.slack import RecordedCall, SlackSandbox
from bot.slack.app import SlackPlatform
from bot.slack.payments import buying
from bot.web.app import create_app, start_site
from tests.payments_setup import Shop, shop, with_public_url
from tests.slack.conftest import CHANNEL, MEMBER, Served, prompt_buttons

__all__ = ["shop"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

OWNER = "U0OWNER"
LINK = re.compile(r"<(http://127\.0\.0\.1:\d+/buy/(?P<offer>[a-z0-9-]+)\?m=[A-Za-z0-9_.-]+)>")


@pytest.fixture
def extra_offers() -> int:
    """How many offers beyond the shop's three (parametrize to page)."""
    return 0


@pytest.fixture
def extra_config(shop: Shop, extra_offers: int) -> tuple[str, dict[str, str]]:
    """The shop's offers, Stripe and the links' secret key, on the conftest's runtime."""
    return shop.toml(extra_offers), shop.environ()


@pytest.fixture
async def served(runtime: Runtime, sandbox: SlackSandbox) -> AsyncIterator[Served]:
    """Serve the Slack app and the checkout routes; public_url is this server."""
    sandbox.add_user(OWNER, "olive", real_name="Olive Owner", is_owner=True)
    platform = SlackPlatform(runtime, api_base=sandbox.api_base)
    web_app = create_app(runtime)
    assert platform.mount(web_app)
    runner, port = await start_site(web_app, "127.0.0.1", 0)
    with_public_url(runtime, f"http://127.0.0.1:{port}")
    yield Served(runtime, platform, sandbox.sender(f"http://127.0.0.1:{port}/slack/events"))
    await runner.cleanup()


async def answer_to(
    served: Served, sandbox: SlackSandbox, text: str, user_id: str = MEMBER
) -> RecordedCall:
    """Run a command and return the ephemeral answer."""
    seen = len(sandbox.calls)
    reply = await served.sender.send_slash_command(
        "/flywheel", text, user_id=user_id, channel_id=CHANNEL
    )
    assert reply.status == 200
    answer: RecordedCall = await sandbox.wait_for_call("response_url", since=seen)
    assert answer.args["response_type"] == "ephemeral"
    return answer


async def ask(served: Served, sandbox: SlackSandbox, text: str, user_id: str = MEMBER) -> str:
    """Run a command and return the text of the ephemeral answer."""
    return str((await answer_to(served, sandbox, text, user_id)).args["text"])


async def test_buy_gives_a_link_that_opens_a_checkout_session_for_the_member(
    served: Served, sandbox: SlackSandbox, shop: Shop
) -> None:
    text = await ask(served, sandbox, "buy Supporters Club")

    found = LINK.search(text)
    assert found and found.group("offer") == "club", text
    async with (
        aiohttp.ClientSession() as http,
        http.get(found.group(1), allow_redirects=False) as opened,
    ):
        assert opened.status == 303
        session_id = opened.headers["Location"].rsplit("/", 1)[1]
    created = shop.stripe.get("checkout.session", session_id)
    assert created["mode"] == "subscription"
    assert created["client_reference_id"] == created["metadata"]["flywheel_member"]


async def test_buy_alone_lists_every_offer_with_its_link_escaped(
    served: Served, sandbox: SlackSandbox
) -> None:
    text = await ask(served, sandbox, "buy")

    assert [m.group("offer") for m in LINK.finditer(text)] == ["club", "insiders", "pro"]
    assert "*Insiders &lt;b&gt;&amp; Co&lt;/b&gt;*" in text


@pytest.mark.parametrize("extra_offers", [12])
async def test_buy_pages_a_long_list_of_offers_with_buttons(
    served: Served, sandbox: SlackSandbox
) -> None:
    first = await answer_to(served, sandbox, "buy")
    assert first.ok, first.response
    assert "Page 1 of 2." in first.args["text"]
    (next_page,) = prompt_buttons(first).items()
    assert next_page == (buying.PAGE_ACTION, "2")

    seen = len(sandbox.calls)
    await served.sender.send_block_action(
        buying.PAGE_ACTION, "2", user_id=MEMBER, channel_id=CHANNEL
    )
    second = await sandbox.wait_for_call("response_url", since=seen)

    assert second.ok, second.response
    assert "Page 2 of 2." in second.args["text"]
    offers = [m.group("offer") for m in LINK.finditer(first.args["text"] + second.args["text"])]
    assert len(offers) == 15 and len(set(offers)) == 15
    assert all(len(b["text"]["text"]) <= 3000 for b in second.args["blocks"] if "text" in b)


async def test_billing_gives_a_payer_a_portal_link(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, shop: Shop
) -> None:
    await ask(served, sandbox, "buy pro")
    customer = shop.stripe.state.create_customer({"email": "ada@example.org"})
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Member).values(stripe_customer_id=customer["id"]))

    text = await ask(served, sandbox, "billing")

    (made,) = shop.stripe.objects("billing_portal.session")
    assert made["customer"] == customer["id"]
    assert f"<{made['url']}>" in text


async def test_billing_without_a_purchase_suggests_claiming_it(
    served: Served, sandbox: SlackSandbox, shop: Shop
) -> None:
    text = await ask(served, sandbox, "billing")

    assert "I found no purchase made through your personal link" in text
    assert "`/flywheel link purchase`" in text
    assert shop.stripe.objects("billing_portal.session") == []


async def test_offer_list_shows_an_owner_the_counts(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock: FakeClock
) -> None:
    async with runtime.sessions() as session, session.begin():
        session.add(
            Order(
                community_id=runtime.community_id,
                session_id="cs_paid",
                offer_slug="club",
                mode="subscription",
                payment_status="paid",
                matched=True,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )

    text = await ask(served, sandbox, "offer list", OWNER)

    club = text[text.index("*Supporters Club*") :]
    assert "paid orders: 1" in club.split("\n\n")[0]


async def test_offer_show_needs_an_offer_and_shows_its_settings(
    served: Served, sandbox: SlackSandbox
) -> None:
    assert "Name the offer" in await ask(served, sandbox, "offer show", OWNER)

    text = await ask(served, sandbox, "offer show pro", OWNER)

    assert "*Pro Pack*" in text and "promotion codes: allowed" in text


async def test_offer_is_refused_to_members(served: Served, sandbox: SlackSandbox) -> None:
    assert await ask(served, sandbox, "offer list") == "Only owners can do that."
