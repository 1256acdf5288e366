"""Reconcile: what Stripe holds and the webhooks never told us is repaired from its history.

The shop of the webhook tests (the bot's web app and the Stripe sandbox on the runtime's
clock), but the sandbox sends no webhook unless a test registers the endpoint: a purchase
made while nothing listens is exactly a webhook never delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import stripe
from sqlalchemy import select

from bot.models import Order, StripeEvent, Subscription
from bot.payments import StripeGateway
from bot.services.payments import ReconcileReport, reconcile
from bot.services.payments.reconcile import SYNTHETIC_PREFIX, _last_run, nightly_job
from tests.services.payments_webhook_kit import SECRET, Shop, shop

__all__ = ["shop"]  # the fixture, used by name


@pytest.fixture
async def gateway(shop: Shop) -> AsyncIterator[StripeGateway]:
    http = stripe.HTTPXClient()
    client = stripe.StripeClient(
        shop.sandbox.api_key,
        base_addresses={"api": shop.sandbox.api_base},
        http_client=http,
        max_network_retries=0,
    )
    yield StripeGateway(client, None, http)
    await http.close_async()  # type: ignore[no-untyped-call]


async def run(shop: Shop, gateway: StripeGateway, days: int | None = None) -> ReconcileReport:
    runtime = shop.runtime
    return await reconcile(
        runtime.sessions, shop.clock, runtime.settings, gateway, runtime.community_id, days=days
    )


async def test_a_purchase_whose_webhook_never_came_is_recorded_and_grants_access(
    shop: Shop, gateway: StripeGateway
) -> None:
    member_id, uid = await shop.member("ada")
    checkout = await shop.checkout("guide", uid)
    shop.sandbox.complete_session(checkout.id)  # nothing listens: no webhook at all
    start = shop.clock.now()
    assert (await shop.state(member_id, start))["orders"] == []

    report = await run(shop, gateway)

    state = await shop.state(member_id, start)
    assert [order[:5] for order in state["orders"]] == [("guide", "complete", "paid", 2500, True)]
    assert state["access"] == [("guide", "guide", True)]
    assert state["roles"] == [True]
    assert state["recorded"] == 1
    assert report.events_replayed >= 1
    assert any(checkout.id in line and "paid" in line for line in report.repairs)


async def test_a_subscription_canceled_in_the_dashboard_is_canceled_and_access_revoked(
    shop: Shop, gateway: StripeGateway
) -> None:
    member_id, uid = await shop.member("ada")
    endpoint = shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    checkout = await shop.checkout("supporters", uid)
    shop.sandbox.complete_session(checkout.id)
    await shop.settle()
    start = shop.clock.now()
    assert (await shop.state(member_id, start))["access"] == [("supporters", "supporters", True)]
    # The endpoint goes away (a deploy, a typo in the URL); the owner cancels in the dashboard.
    shop.sandbox.webhooks.endpoints.remove(endpoint)
    session = shop.sandbox.get("checkout.session", checkout.id)
    shop.sandbox.cancel_subscription(str(session["subscription"]))

    report = await run(shop, gateway)

    state = await shop.state(member_id, start)
    assert [s[1] for s in state["subscriptions"]] == ["canceled"]
    assert state["access"] == [("supporters", "supporters", False)]
    assert state["roles"] == [True, False]
    assert any("canceled" in line for line in report.repairs)


async def test_a_cancel_older_than_the_window_is_caught_from_the_subscription_itself(
    shop: Shop, gateway: StripeGateway
) -> None:
    member_id, uid = await shop.member("ada")
    endpoint = shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    checkout = await shop.checkout("supporters", uid)
    shop.sandbox.complete_session(checkout.id)
    await shop.settle()
    shop.sandbox.webhooks.endpoints.remove(endpoint)
    session = shop.sandbox.get("checkout.session", checkout.id)
    shop.sandbox.cancel_subscription(str(session["subscription"]))
    shop.clock.advance(
        timedelta(days=3).total_seconds()
    )  # its event is now outside a one-day window

    report = await run(shop, gateway, days=1)

    assert report.events_replayed == 0
    state = await shop.state(member_id, shop.clock.now())
    assert [s[1] for s in state["subscriptions"]] == ["canceled"]
    assert state["access"] == [("supporters", "supporters", False)]
    async with shop.runtime.sessions() as db:
        synthetic = await db.scalars(
            select(StripeEvent.event_id).where(StripeEvent.via == "reconcile")
        )
        assert any(event.startswith(SYNTHETIC_PREFIX) for event in synthetic)


async def test_reconciling_again_changes_nothing(shop: Shop, gateway: StripeGateway) -> None:
    member_id, uid = await shop.member("ada")
    checkout = await shop.checkout("supporters", uid)
    shop.sandbox.complete_session(checkout.id)
    await run(shop, gateway)
    start = shop.clock.now()
    before = await shop.state(member_id, start)
    events = await shop.count(StripeEvent)

    again = await run(shop, gateway)

    assert again.repairs == []
    assert again.events_replayed == 0
    assert await shop.count(StripeEvent) == events
    assert await shop.state(member_id, start) == before
    assert before["access"] == [("supporters", "supporters", True)]


async def test_a_paid_session_naming_nobody_is_kept_unmatched(
    shop: Shop, gateway: StripeGateway
) -> None:
    checkout = await shop.checkout("guide", None)
    shop.sandbox.complete_session(checkout.id, email="stranger@example.org")

    await run(shop, gateway)

    async with shop.runtime.sessions() as db:
        [order] = (await db.scalars(select(Order))).all()
        assert (order.session_id, order.payment_status, order.member_id) == (
            checkout.id,
            "paid",
            None,
        )
        assert order.customer_email == "stranger@example.org"
        assert (await db.scalars(select(Subscription))).all() == []


async def test_the_nightly_job_runs_once_at_its_local_hour(
    shop: Shop, gateway: StripeGateway
) -> None:
    _member_id, uid = await shop.member("ada")
    checkout = await shop.checkout("guide", uid)
    shop.sandbox.complete_session(checkout.id)
    runtime = shop.runtime
    runtime.stripe = gateway
    _last_run.pop(runtime.community_id, None)
    # The community is in Europe/Berlin; [stripe] reconcile_hour is 4 (local).
    local = shop.clock.now().astimezone(ZoneInfo("Europe/Berlin"))
    three = local.replace(hour=3, minute=0, second=0, microsecond=0)
    if three <= local:
        three += timedelta(days=1)
    shop.clock.advance((three - local).total_seconds())
    try:
        assert await nightly_job(runtime) is None  # 03:xx: not yet
        assert await shop.count(Order) == 0  # paid in Stripe, unknown here
        shop.clock.advance(timedelta(hours=1).total_seconds())
        first = await nightly_job(runtime)
        assert first is not None and first.events_replayed >= 1
        assert await nightly_job(runtime) is None  # once a day
    finally:
        runtime.stripe = None
        _last_run.pop(runtime.community_id, None)
