"""Paid access on Slack, end to end: a member buys through the link `/flywheel buy` gives them,
pays on the Stripe sandbox's page, and the signed webhook gets them into the private channel
(or the user group) in the Slack sandbox.

Everything real runs: slack-bolt answering signed requests on the process's own web app, which
also serves ``/buy/{offer}`` and ``/stripe/webhook`` on loopback; stripe-python and the Stripe
sandbox (on the test's clock) signing its webhooks; the outbox delivering through the Slack
sender ``attach_slack`` registers, as the process does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import pytest

from bot.clock import FakeClock
from bot.outbox.access import BLOCKED_RETRY_MAX
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from bot.slack.app import SlackPlatform, attach_slack
from tests.log_waiter import LogWaiter
from tests.payments_e2e import Storefront, open_storefront, settle, shop, shop_config
from tests.payments_setup import Shop
from tests.slack.conftest import MEMBER, Served
from tests.slack.test_payments import ask

__all__ = ["shop"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

OWNER = "U0OWNER"
SUPPORTERS = "G0SUPPORT"  # a private channel: club (a subscription) gives it
INSIDERS = "S0INSIDE"  # a user group: pro (a one-time payment) gives it
LINK = re.compile(r"<(http://127\.0\.0\.1:\d+/buy/[a-z0-9-]+\?m=[A-Za-z0-9_.-]+)>")
PORTAL = re.compile(r"<(http://127\.0\.0\.1:\d+/portal/[^>|]+)>")
OUTSIDE = f"flywheel is not in private channel {SUPPORTERS}: invite it (/invite @flywheel)"


@pytest.fixture
def extra_config(sandbox: SlackSandbox, shop: Shop) -> tuple[str, dict[str, str]]:
    """Acme Makers with an owner, the shop's offers and [slack.access] for both."""
    sandbox.add_user(OWNER, "olive", real_name="Olive Owner", is_owner=True)
    sandbox.add_channel(SUPPORTERS, "supporters", is_private=True)
    sandbox.add_usergroup(INSIDERS, "insiders", users=[OWNER])
    offers, environ = shop_config(shop, {"club": "supporters", "pro": "insiders"})
    slack = f'owner_user_ids = ["{OWNER}"]\n'
    slack += f'[slack.access]\nsupporters = "{SUPPORTERS}"\ninsiders = "{INSIDERS}"\n'
    return slack + offers, environ


@pytest.fixture
def platform(runtime: Runtime, sandbox: SlackSandbox) -> SlackPlatform:
    """The Slack front end and its outbox sender, attached to the runtime as the process does."""
    return attach_slack(runtime, api_base=sandbox.api_base)


@pytest.fixture
async def storefront(
    runtime: Runtime, shop: Shop, platform: SlackPlatform
) -> AsyncIterator[Storefront]:
    """The process's web app (with /slack/events) on loopback, Stripe's webhooks pointing at it."""
    async for opened in open_storefront(runtime, shop):
        yield opened


@pytest.fixture
async def served(
    runtime: Runtime, sandbox: SlackSandbox, platform: SlackPlatform, storefront: Storefront
) -> AsyncIterator[Served]:
    """Signed requests from Slack to the served app."""
    sender = sandbox.sender(f"{storefront.base}/slack/events")
    yield Served(runtime, platform, sender)
    await sender.close()


async def buy_link(served: Served, sandbox: SlackSandbox, offer: str) -> str:
    """Run `/flywheel buy <offer>` as Ada and return the link from the ephemeral answer."""
    text = await ask(served, sandbox, f"buy {offer}")
    found = LINK.search(text)
    assert found, text
    return found.group(1)


def owner_dms(sandbox: SlackSandbox) -> list[str]:
    return [m["text"] for m in sandbox.messages_in(sandbox.dm_channel_id(OWNER))]


async def test_a_member_subscribes_through_their_buy_link_joins_the_private_channel_and_is_removed_when_they_cancel_in_the_portal(
    served: Served, storefront: Storefront, sandbox: SlackSandbox, shop: Shop, runtime: Runtime
) -> None:
    link = await buy_link(served, sandbox, "club")

    paid = await storefront.pay(link, "ada@example.org")

    order = await storefront.order(paid["id"])
    assert (order.offer_slug, order.matched, order.payment_status) == ("club", True, "paid")
    assert order.member_id is not None and order.subscription_id == paid["subscription"]
    assert MEMBER not in sandbox.members_of(SUPPORTERS)
    await settle(runtime)
    assert MEMBER in sandbox.members_of(SUPPORTERS)

    portal = PORTAL.search(await ask(served, sandbox, "billing"))
    assert portal
    shop.stripe.portal_cancel_mode = "immediately"
    await storefront.cancel_in_portal(portal.group(1))
    await settle(runtime)

    assert shop.stripe.get("subscription", paid["subscription"])["status"] == "canceled"
    assert MEMBER not in sandbox.members_of(SUPPORTERS)


async def test_a_one_time_purchase_puts_the_member_in_the_user_group_and_billing_opens_their_page(
    served: Served, storefront: Storefront, sandbox: SlackSandbox, runtime: Runtime, shop: Shop
) -> None:

    paid = await storefront.pay(await buy_link(served, sandbox, "pro"), "ada@example.org")
    await settle(runtime)

    order = await storefront.order(paid["id"])
    assert (order.offer_slug, order.payment_status) == ("pro", "paid")
    assert sandbox.usergroups[INSIDERS]["users"] == [OWNER, MEMBER]
    assert MEMBER not in sandbox.members_of(SUPPORTERS)  # the other offer's channel
    # A one-time buyer is a Stripe customer too, so /billing has a page (receipts, card).
    billing = await ask(served, sandbox, "billing")
    (portal,) = shop.stripe.objects("billing_portal.session")
    assert portal["customer"] == order.customer_id and f"<{portal['url']}>" in billing


async def test_a_paying_member_who_leaves_and_joins_again_is_put_back_in_the_channel(
    served: Served,
    storefront: Storefront,
    sandbox: SlackSandbox,
    runtime: Runtime,
    log_waiter: Callable[[str], LogWaiter],
) -> None:
    joins = log_waiter("bot.slack.members")
    await storefront.pay(await buy_link(served, sandbox, "club"), "ada@example.org")
    await settle(runtime)
    assert MEMBER in sandbox.members_of(SUPPORTERS)

    sandbox.state.members[SUPPORTERS].remove(MEMBER)  # leaving took them out of the channel
    joined = await served.sender.send_event(
        {"type": "team_join", "user": {**sandbox.users[MEMBER], "team_id": sandbox.team_id}}
    )
    assert joined.status == 200
    await joins.wait_for(f"user {MEMBER} joined workspace {sandbox.team_id}: member \\d+")
    await settle(runtime)

    assert MEMBER in sandbox.members_of(SUPPORTERS)
    assert sandbox.calls_to("conversations.invite")[-1].ok
    why = await ask(served, sandbox, "access why")
    deliveries = [line.strip() for line in why.splitlines() if line.strip().startswith("slack:")]
    assert deliveries == ["slack: grant sent (1 attempt, 02 Mar 2026 09:00 UTC)"], why


async def test_flywheel_outside_the_private_channel_blocks_the_grant_tells_the_owner_and_access_why_says_so_until_it_is_invited(
    served: Served,
    storefront: Storefront,
    sandbox: SlackSandbox,
    runtime: Runtime,
    clock: FakeClock,
) -> None:
    sandbox.state.set_bot_membership(SUPPORTERS, member=False)

    await storefront.pay(await buy_link(served, sandbox, "club"), "ada@example.org")
    await settle(runtime)

    assert MEMBER not in sandbox.members_of(SUPPORTERS)
    (told,) = owner_dms(sandbox)
    assert "Flywheel could not give ada the access *supporters* on Slack" in told
    assert OUTSIDE in told and "keeps trying" in told
    why = await ask(served, sandbox, "access why")
    assert "*Supporters Club* (club, access `supporters`): entitled" in why
    assert f"slack: grant blocked (0 attempts, 02 Mar 2026 09:00 UTC): {OUTSIDE}" in why, why

    sandbox.state.set_bot_membership(SUPPORTERS, member=True)  # the owner invites Flywheel
    clock.advance(BLOCKED_RETRY_MAX.total_seconds())
    await settle(runtime)

    assert MEMBER in sandbox.members_of(SUPPORTERS)
    assert len(owner_dms(sandbox)) == 1
    assert "slack: grant sent" in await ask(served, sandbox, "access why")
