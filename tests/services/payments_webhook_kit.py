"""The bot's real web app and the Stripe sandbox delivering signed webhooks to it on loopback.

Shared by the webhook tests: the sandbox runs on the runtime's fake clock (its signatures are
stamped with it, the bot verifies against it), an offer of each mode grants access, and
``state`` reads back what a member's purchases left in every table the webhook writes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import stripe
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.models import EventRecord, Order, OutboxMessage, PaidAccess, StripeEvent, Subscription
from bot.process import build_web_app
from bot.runtime import Runtime, bootstrap_community, build_runtime
from bot.sandbox.stripe import StripeSandbox
from bot.services.identities import public_id
from bot.settings import load_settings
from bot.web.app import start_site
from tests.conftest import make_spaces
from tests.services.test_ugc import actor

SECRET = "whsec_flywheel_test_secret"


@dataclass
class Shop:
    """The served app, its runtime, the sandbox, a Stripe client and the offers' prices."""

    runtime: Runtime
    sandbox: StripeSandbox
    client: stripe.StripeClient
    clock: FakeClock
    url: str
    prices: dict[str, str]
    skew: list[float] = field(default_factory=lambda: [0.0])

    async def member(self, user: str) -> tuple[int, str]:
        """Return a Discord member's id and public id."""
        async with self.runtime.sessions() as session, session.begin():
            found = await actor(session, self.clock, self.runtime.community_id, user)
            return found.member_id, await public_id(session, found.member_id)

    async def checkout(self, offer: str, uid: str | None, **extra: Any) -> stripe.checkout.Session:
        """Open a Checkout Session as the checkout route does (metadata per the contract)."""
        metadata = {"flywheel_offer": offer, "flywheel_community": "acme"}
        if uid is not None:
            metadata["flywheel_member"] = uid
        params: dict[str, Any] = {
            "mode": "subscription" if offer == "supporters" else "payment",
            "line_items": [{"price": self.prices[offer], "quantity": 1}],
            "success_url": "https://acme.example/thanks",
            "cancel_url": "https://acme.example/cancel",
            "metadata": metadata,
            **extra,
        }
        if uid is not None:
            params["client_reference_id"] = uid
        return await self.client.v1.checkout.sessions.create_async(params)

    async def settle(self) -> None:
        """Wait until every delivery so far is over (delivered or given up)."""
        await self.sandbox.wait_for_deliveries(lambda d: d.done, len(self.sandbox.deliveries))

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST raw bytes to the webhook route."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url, data=body, headers=headers) as response,
        ):
            return response.status, await response.text()

    async def count(self, model: Any) -> int:
        """Count a table's rows."""
        async with self.runtime.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def state(self, member_id: int, since: datetime) -> dict[str, Any]:
        """Return what the webhook left for a member, times relative to ``since``."""

        def rel(value: datetime | None) -> float | None:
            return (value - since).total_seconds() if value is not None else None

        async with self.runtime.sessions() as session:
            orders = (
                await session.scalars(select(Order).where(Order.member_id == member_id))
            ).all()
            subs = (
                await session.scalars(
                    select(Subscription).where(Subscription.member_id == member_id)
                )
            ).all()
            access = (
                await session.scalars(select(PaidAccess).where(PaidAccess.member_id == member_id))
            ).all()
            roles = [
                json.loads(payload)["effect"]["grant"]
                for payload in await session.scalars(
                    select(OutboxMessage.payload)
                    .where(OutboxMessage.key.like("paid-access:%"))
                    .where(OutboxMessage.payload.like(f'%"member_id":{member_id},%'))
                    .order_by(OutboxMessage.id)
                )
            ]
            recorded = [
                payload["order_uid"]
                for payload in await session.scalars(
                    select(EventRecord.payload).where(EventRecord.name == "payment.recorded")
                )
                if payload["member_id"] == member_id
            ]
        return {
            "orders": [
                (
                    o.offer_slug,
                    o.session_status,
                    o.payment_status,
                    o.amount_total,
                    o.matched,
                    rel(o.paid_at),
                    o.subscription_id is not None,
                )
                for o in orders
            ],
            "subscriptions": [
                (
                    s.offer_slug,
                    s.status,
                    s.cancel_at_period_end,
                    rel(s.current_period_end),
                    rel(s.canceled_at),
                    rel(s.ended_at),
                    rel(s.past_due_since),
                    rel(s.version),
                )
                for s in subs
            ],
            "access": [(a.offer_slug, a.access, a.granted) for a in access],
            "roles": roles,
            "recorded": len(recorded),
        }


async def open_shop(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Shop]:
    """Start the sandbox and the bot's web app, wired together; yield the shop."""
    skew = [0.0]
    sandbox = StripeSandbox(clock=lambda: clock.now().timestamp() + skew[0], webhook_backoff=0.01)
    await sandbox.start()
    client = stripe.StripeClient(
        sandbox.api_key,
        base_addresses={"api": sandbox.api_base},
        http_client=stripe.HTTPXClient(),
        max_network_retries=0,
    )
    product = sandbox.add_product("Acme membership")
    prices = {
        "supporters": sandbox.add_price(product["id"], 500, recurring={"interval": "month"})["id"],
        "guide": sandbox.add_price(product["id"], 2500)["id"],
    }
    config = tmp_path / "bot.toml"
    config.write_text(
        '[community]\nname = "Acme Makers"\nslug = "acme"\ntimezone = "Europe/Berlin"\n'
        f'[media]\ndir = "{tmp_path / "media"}"\n'
        "[discord.access]\nsupporters = 501\nguide = 502\n"
        f'[offers.supporters]\nname = "Supporters"\nprice = "{prices["supporters"]}"\n'
        'mode = "subscription"\naccess = "supporters"\n'
        f'[offers.guide]\nname = "The guide"\nprice = "{prices["guide"]}"\naccess = "guide"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        config,
        environ={"FLYWHEEL_DATABASE_URL": database_url, "STRIPE_WEBHOOK_SECRET": SECRET},
    )
    runtime = build_runtime(settings, clock=clock)
    await bootstrap_community(runtime)
    async with runtime.sessions() as session, session.begin():
        await make_spaces(session, clock)
    runner, port = await start_site(build_web_app(runtime), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/stripe/webhook"
    shop = Shop(runtime, sandbox, client, clock, url, prices, skew)
    try:
        yield shop
    finally:
        await sandbox.stop()
        await client._requestor._client.close_async()  # type: ignore[union-attr]
        await runner.cleanup()
        await runtime.close()


@pytest.fixture
async def shop(
    tmp_path: Path, database_url: str, committed: object, clock: FakeClock
) -> AsyncIterator[Shop]:
    """The shop, on a freshly migrated database (SQLite, or PostgreSQL when asked)."""
    async for opened in open_shop(tmp_path, database_url, clock):
        yield opened


async def stripe_events(shop: Shop) -> int:
    """Count the recorded Stripe events."""
    return await shop.count(StripeEvent)
