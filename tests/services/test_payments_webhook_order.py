"""One subscription purchase's events, delivered in every order, end in one state."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.services.payments_webhook_kit import SECRET, Shop, shop

__all__ = ["shop"]  # the fixture, used by name

pytestmark = [pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")]

BOUGHT = (
    "checkout.session.completed",
    "customer.subscription.created",
    "invoice.paid",
    "customer.subscription.updated",  # set to cancel at the period end, a minute later
)
ENDED = (*BOUGHT, "customer.subscription.deleted")  # and canceled at once a minute after that


async def _purchase(shop: Shop, buyer: str, order: tuple[str, ...]) -> dict[str, Any]:
    """Buy, ask to cancel at the period end (and maybe end it), deliver in ``order``."""
    member_id, uid = await shop.member(buyer)
    checkout = await shop.checkout("supporters", uid)
    start = shop.clock.now()
    shop.sandbox.webhooks.hold()
    shop.sandbox.complete_session(checkout.id)
    subscription = shop.sandbox.get("checkout.session", checkout.id)["subscription"]
    shop.clock.advance(60)
    await shop.client.v1.subscriptions.update_async(subscription, {"cancel_at_period_end": True})
    if "customer.subscription.deleted" in order:
        shop.clock.advance(60)
        shop.sandbox.cancel_subscription(subscription)
    held = shop.sandbox.webhooks.held()
    first = [next(d for d in held if d.event_type == kind) for kind in order]
    await shop.sandbox.webhooks.release(first)
    assert all(d.delivered for d in shop.sandbox.deliveries)
    return await shop.state(member_id, start)


def _net(state: dict[str, Any]) -> dict[str, Any]:
    """Return the state with the access as it ends: held or not, and the role's last change."""
    roles = state["roles"]
    return {
        **{k: v for k, v in state.items() if k not in ("access", "roles")},
        "held": any(granted for *_, granted in state["access"]),
        "role_ends_granted": roles.count(True) - roles.count(False) == 1,
        "role_changes_balance": roles.count(True) - roles.count(False) in (0, 1),
    }


async def test_a_purchase_and_its_cancel_at_period_end_end_alike_in_all_24_orders(
    shop: Shop,
) -> None:
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    orders = list(itertools.permutations(BOUGHT))
    states = {order: await _purchase(shop, f"buyer{i}", order) for i, order in enumerate(orders)}

    expected = {
        "orders": [("supporters", "complete", "paid", 500, True, 60.0, True)],
        "subscriptions": [("supporters", "active", True, 30 * 86400.0, 60.0, None, None, 60.0)],
        "access": [("supporters", "supporters", True)],
        "roles": [True],  # one RoleChange, a grant, whatever came first
        "recorded": 1,
    }
    differing = {order: state for order, state in states.items() if state != expected}
    assert len(states) == 24 and not differing, differing


async def test_a_purchase_canceled_at_once_ends_canceled_without_access_in_all_120_orders(
    shop: Shop,
) -> None:
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    orders = list(itertools.permutations(ENDED))
    states = {order: await _purchase(shop, f"buyer{i}", order) for i, order in enumerate(orders)}

    expected = {
        "orders": [("supporters", "complete", "paid", 500, True, 120.0, True)],
        "subscriptions": [
            ("supporters", "canceled", True, 30 * 86400.0, 120.0, 120.0, None, 120.0)
        ],
        "recorded": 1,
        "held": False,
        "role_ends_granted": False,
        "role_changes_balance": True,
    }
    differing = {order: _net(state) for order, state in states.items() if _net(state) != expected}
    assert len(states) == 120 and not differing, differing
    # Delivered deleted-first, no access was ever given; otherwise it was given and taken back.
    first_deleted = [s for o, s in states.items() if o[0] == "customer.subscription.deleted"]
    assert first_deleted and all(s["roles"] == [] for s in first_deleted)
    assert all(s["roles"] in ([], [True, False]) for s in states.values())


async def _renewal(shop: Shop, buyer: str, order: tuple[int, ...]) -> dict[str, Any]:
    """Buy, fail a renewal, pay its retry an hour later; deliver those 4 events in ``order``."""
    member_id, uid = await shop.member(buyer)
    checkout = await shop.checkout("supporters", uid)
    start = shop.clock.now()
    shop.sandbox.complete_session(checkout.id)
    await shop.settle()
    subscription = shop.sandbox.get("checkout.session", checkout.id)["subscription"]
    shop.sandbox.webhooks.hold()
    shop.clock.advance(60)
    shop.sandbox.fail_renewal(subscription)
    shop.clock.advance(3600)
    shop.sandbox.renew(subscription)
    held = shop.sandbox.webhooks.held()
    wanted = ("invoice.payment_failed", "invoice.paid", "customer.subscription.updated")
    four = [d for d in held if d.event_type in wanted]
    assert [d.event_type for d in four] == [
        "invoice.payment_failed",
        "customer.subscription.updated",  # past_due
        "invoice.paid",
        "customer.subscription.updated",  # active again
    ]
    await shop.sandbox.webhooks.release([four[i] for i in order])
    assert all(d.delivered for d in shop.sandbox.deliveries)
    return await shop.state(member_id, start)


async def test_a_failed_renewal_and_its_paid_retry_end_active_with_no_grace_in_all_24_orders(
    shop: Shop,
) -> None:
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    orders = list(itertools.permutations(range(4)))
    states = {order: await _renewal(shop, f"buyer{i}", order) for i, order in enumerate(orders)}

    expected = {
        "orders": [("supporters", "complete", "paid", 500, True, 0.0, True)],
        # Active again, the period advanced by the failed renewal, no grace period running.
        "subscriptions": [("supporters", "active", False, 60 * 86400.0, None, None, None, 3660.0)],
        "access": [("supporters", "supporters", True)],
        "roles": [True],
        "recorded": 1,
    }
    differing = {order: state for order, state in states.items() if state != expected}
    assert len(states) == 24 and not differing, differing
