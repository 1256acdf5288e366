"""The buyer's side of the payments end-to-end tests, shared by the Discord and Slack stories.

The Stripe sandbox runs on the test's clock, so the webhooks it signs are fresh by the clock the
bot verifies them against. The bot's own web app (``build_web_app``: checkout, the Stripe
webhook and, on Slack, the events endpoint) is served on loopback and registered with the
sandbox as its webhook endpoint. A `Storefront` is the buyer's browser: it follows a member's
link to Stripe's pay page, pays there, opens the billing portal and presses Cancel, all over
HTTP, and waits for Stripe's webhooks to be acknowledged rather than sleeping.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.models import Order
from bot.process import build_web_app
from bot.runtime import Runtime
from bot.web.app import start_site
from tests.payments_setup import Shop, open_shop, with_public_url

WEBHOOK_SECRET = "whsec_flywheel_e2e_secret"
CANCEL_BUTTON = re.compile(r'action="(/portal/[^"]+/cancel/[^"]+)"')


@pytest.fixture
async def shop(clock: FakeClock) -> AsyncIterator[Shop]:
    """The Stripe sandbox with the three offers, on the test's clock."""
    opened = await open_shop(lambda: clock.now().timestamp())
    yield opened
    await opened.stripe.stop()


def shop_config(shop: Shop, access: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Return bot.toml's offers (``access``: offer slug → access key) and payments' secrets."""
    return shop.toml(access=access), {**shop.environ(), "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}


@dataclass
class Storefront:
    """The bot's web app on loopback, Stripe's endpoint pointing at it, and a buyer's browser."""

    runtime: Runtime
    shop: Shop
    base: str
    http: aiohttp.ClientSession

    async def pay(self, link: str, email: str) -> dict[str, Any]:
        """Follow a member's buy link to Stripe's pay page and pay; return the Checkout Session
        once Stripe's webhooks about it were acknowledged."""
        async with self.http.get(link, allow_redirects=False) as opened:
            assert opened.status == 303, await opened.text()
            pay_page = opened.headers["Location"]
        assert pay_page.startswith(f"{self.shop.stripe.base_url}/pay/cs_"), pay_page
        async with self.http.get(pay_page) as page:
            assert page.status == 200 and "Pay</button>" in await page.text()
        async with self.http.post(pay_page, data={"email": email}) as paid:
            assert paid.status == 200 and "Thank you!" in await paid.text()
            assert str(paid.url).startswith(f"{self.base}/buy/")
        await self.delivered()
        return self.shop.stripe.get("checkout.session", pay_page.rsplit("/", 1)[1])

    async def cancel_in_portal(self, portal_url: str) -> None:
        """Open the billing portal and press its Cancel button; wait for Stripe's webhooks."""
        async with self.http.get(portal_url) as page:
            assert page.status == 200
            (cancel,) = CANCEL_BUTTON.findall(await page.text())
        async with self.http.post(
            self.shop.stripe.base_url + cancel, allow_redirects=False
        ) as pressed:
            assert pressed.status == 303
        await self.delivered()

    async def delivered(self) -> None:
        """Wait until every event Stripe sent so far is over; check the bot took each at once.

        Stripe sends a purchase's events together: a 5xx on any of them (say, two
        transactions deadlocking) would leave that event waiting an hour for Stripe's retry.
        """
        stripe = self.shop.stripe
        await stripe.wait_for_deliveries(lambda d: d.done, len(stripe.deliveries))
        answers = [(d.event_type, [a.status for a in d.attempts]) for d in stripe.deliveries]
        assert all(statuses == [200] for _, statuses in answers), answers

    async def order(self, session_id: str) -> Order:
        """Return the order Flywheel stored for a Checkout Session."""
        async with self.runtime.sessions() as session:
            found = await session.scalar(select(Order).where(Order.session_id == session_id))
        assert found is not None, f"no order for {session_id}"
        return found


async def open_storefront(runtime: Runtime, shop: Shop) -> AsyncIterator[Storefront]:
    """Serve the process's web app on port 0 as ``[web] public_url``; register its webhook."""
    runner, port = await start_site(build_web_app(runtime), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    with_public_url(runtime, base)
    shop.stripe.add_webhook_endpoint(f"{base}/stripe/webhook", secret=WEBHOOK_SECRET)
    async with aiohttp.ClientSession() as http:
        yield Storefront(runtime, shop, base, http)
    await runner.cleanup()


async def settle(runtime: Runtime) -> None:
    """Send what the outbox holds, hand events to their subscribers, and send what they queued.

    Rows blocked on an owner's fix stay queued (``drain`` does not wait for their retries).
    """
    await runtime.dispatcher.drain()
    while await runtime.bus.process_pending():
        await runtime.dispatcher.drain()
