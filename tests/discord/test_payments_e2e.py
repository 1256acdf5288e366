"""Paid access on Discord, end to end: a member buys through their /buy link, pays on the
Stripe sandbox's page, and the signed webhook gets them the role in the Discord sandbox.

Everything real runs: discord.py against the Discord sandbox, the process's web app serving
``/buy/{offer}`` and ``/stripe/webhook`` on loopback, stripe-python and the Stripe sandbox
(on the test's clock) signing its webhooks, the outbox delivering the role changes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.discord.bot import DiscordPlatform, FlywheelBot
from bot.outbox.access import BLOCKED_RETRY_MAX
from bot.runtime import Runtime
from bot.sandbox.discord import DiscordSandbox
from tests.discord.conftest import (
    ALICE_ID,
    CONFIGURED_OWNER_ID,
    GUILD_ID,
    Slash,
    StartBot,
)
from tests.discord.test_payments_access import discord_member
from tests.log_waiter import LogWaiter
from tests.payments_e2e import Storefront, open_storefront, settle, shop, shop_config
from tests.payments_setup import Shop

__all__ = ["shop"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

SUPPORTER_ROLE_ID = 910_000_000_000_000_310
LINK = re.compile(r"<(http://127\.0\.0\.1:\d+/buy/[a-z0-9-]+\?m=[A-Za-z0-9_.-]+)>")
PORTAL = re.compile(r"<(http://127\.0\.0\.1:\d+/portal/[^>]+)>")
BELOW = (
    "Flywheel's role 'Flywheel' is below 'Supporters' in Server Settings → Roles: "
    "drag 'Flywheel' above it"
)


@pytest.fixture
def extra_config(shop: Shop) -> tuple[str, dict[str, str]]:
    """Both offers grant the 'supporter' access: the Supporters role on Discord."""
    offers, environ = shop_config(shop, {"pro": "supporter", "club": "supporter"})
    return f"[discord.access]\nsupporter = {SUPPORTER_ROLE_ID}\n{offers}", environ


@pytest.fixture
async def storefront(runtime: Runtime, shop: Shop) -> AsyncIterator[Storefront]:
    async for opened in open_storefront(runtime, shop):
        yield opened


@pytest.fixture
async def guild(sandbox: DiscordSandbox, start_bot: StartBot, runtime: Runtime) -> FlywheelBot:
    """The guild with its Supporters role, the bot running, its outbox sending to Discord."""
    sandbox.add_role(GUILD_ID, SUPPORTER_ROLE_ID, "Supporters")
    bot = await start_bot()
    DiscordPlatform(runtime, bot=bot)  # registers the outbox's Discord sender, as the process does
    return bot


@pytest.fixture
def joins(log_waiter: Callable[[str], LogWaiter]) -> LogWaiter:
    """What the members cog logs about joins (its listener answers nobody)."""
    return log_waiter("cogs.members")


def said(reply: Any) -> str:
    return str(reply.json["data"]["content"])


async def buy_link(slash: Slash, offer: str) -> str:
    """Run /buy as Alice and return the personal link from the ephemeral answer."""
    reply = await slash("buy", options=[{"type": 3, "name": "offer", "value": offer}])
    assert reply.json["data"]["flags"] & 64
    found = LINK.search(said(reply))
    assert found, said(reply)
    return found.group(1)


def access_why() -> list[dict[str, Any]]:
    return [{"type": 1, "name": "why", "options": []}]


def has_role(sandbox: DiscordSandbox) -> bool:
    return SUPPORTER_ROLE_ID in sandbox.member_roles(GUILD_ID, ALICE_ID)


def owner_dms(sandbox: DiscordSandbox) -> list[str]:
    return [m["content"] for m in sandbox.messages[sandbox.open_dm(CONFIGURED_OWNER_ID)]]


async def test_a_member_subscribes_through_their_buy_link_gets_the_role_and_loses_it_when_a_portal_cancel_ends_the_period(
    guild: FlywheelBot,
    slash: Slash,
    storefront: Storefront,
    runtime: Runtime,
    sandbox: DiscordSandbox,
    shop: Shop,
    clock: FakeClock,
) -> None:
    link = await buy_link(slash, "club")

    paid = await storefront.pay(link, "alice@example.org")

    order = await storefront.order(paid["id"])
    alice = await discord_member(runtime, ALICE_ID, "alice")
    assert (order.member_id, order.offer_slug, order.matched) == (alice, "club", True)
    assert (order.session_status, order.payment_status) == ("complete", "paid")
    assert order.subscription_id == paid["subscription"]
    assert not has_role(sandbox)  # nothing is granted before the outbox sends it
    await settle(runtime)
    assert has_role(sandbox)

    billing = await slash("billing")
    portal = PORTAL.search(said(billing))
    assert portal, said(billing)
    (opened,) = shop.stripe.objects("billing_portal.session")
    assert opened["customer"] == order.customer_id
    await storefront.cancel_in_portal(portal.group(1))
    await settle(runtime)
    subscription = shop.stripe.get("subscription", paid["subscription"])
    assert subscription["cancel_at_period_end"] and subscription["status"] == "active"
    assert has_role(sandbox)  # canceled at the period's end: paid until then

    period_end = subscription["items"]["data"][0]["current_period_end"]
    clock.set(datetime.fromtimestamp(period_end, UTC))
    shop.stripe.end_period(paid["subscription"])
    await storefront.delivered()
    await settle(runtime)

    assert not has_role(sandbox)


async def test_a_paying_member_who_leaves_and_rejoins_gets_the_role_back(
    guild: FlywheelBot,
    slash: Slash,
    storefront: Storefront,
    runtime: Runtime,
    sandbox: DiscordSandbox,
    joins: LogWaiter,
) -> None:
    await storefront.pay(await buy_link(slash, "pro"), "alice@example.org")
    await settle(runtime)
    assert has_role(sandbox)

    await sandbox.send_member_remove(GUILD_ID, ALICE_ID)
    await sandbox.send_member_add(GUILD_ID, ALICE_ID, "alice")
    assert not has_role(sandbox)  # a rejoining member comes back with no roles
    alice = await discord_member(runtime, ALICE_ID, "alice")
    await joins.wait_for(f"user {ALICE_ID} joined guild {GUILD_ID}: member {alice}")
    await settle(runtime)

    assert has_role(sandbox)
    why = said(await slash("access", options=access_why()))
    deliveries = [line.strip() for line in why.splitlines() if line.strip().startswith("discord:")]
    assert deliveries == ["discord: grant sent \\(1 attempt, 02 Mar 2026 09:00 UTC\\)"], why


async def test_a_role_above_the_bots_blocks_the_grant_tells_the_owner_and_access_why_says_so_until_it_is_fixed(
    guild: FlywheelBot,
    slash: Slash,
    storefront: Storefront,
    runtime: Runtime,
    sandbox: DiscordSandbox,
    clock: FakeClock,
) -> None:
    await sandbox.place_above_bot(GUILD_ID, SUPPORTER_ROLE_ID)

    await storefront.pay(await buy_link(slash, "pro"), "alice@example.org")
    await settle(runtime)

    assert not has_role(sandbox)
    (told,) = owner_dms(sandbox)
    assert "Flywheel could not give alice the access **supporter** on Discord" in told
    assert BELOW in told and "keeps trying" in told
    why = said(await slash("access", options=access_why()))
    assert "**Pro Pack** \\(pro, access `supporter`\\): entitled" in why
    assert f"discord: grant blocked \\(0 attempts, 02 Mar 2026 09:00 UTC\\): {BELOW}" in why, why

    await sandbox.move_role(GUILD_ID, SUPPORTER_ROLE_ID, 1)  # the owner drags the bot above it
    clock.advance(BLOCKED_RETRY_MAX.total_seconds())
    await settle(runtime)

    assert has_role(sandbox)
    assert len(owner_dms(sandbox)) == 1
    why = said(await slash("access", options=access_why()))
    assert "discord: grant sent" in why, why
