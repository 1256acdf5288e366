"""Reconcile: read recent Stripe history and repair what the webhooks did not tell us.

Two passes, both through the webhook's own processing (:func:`apply_event`), so a repair
follows exactly the rules a delivered webhook would:

1. **Events** Stripe kept (its List Events API holds 30 days): every handled event of the last
   ``[stripe] reconcile_days`` that Flywheel has not processed (a webhook never delivered, or
   refused while the endpoint was down) is processed now, oldest first, ``via="reconcile"``.
2. **Snapshots** of the sessions created and the subscriptions changed in that window: each is
   applied as a synthetic event (``flywheel_reconcile_<object>_<digest of its state>``, created
   now), which catches changes whose events are gone or were never sent. The id names the
   state, so an unchanged object is processed once however often reconcile runs.

What changed is reported in an owner's words, from the rows before and after.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import stripe
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.features import FeatureContext
from bot.models import Order, StripeEvent, Subscription
from bot.payments import StripeGateway
from bot.services.payments.webhook import HANDLERS, apply_event
from bot.settings import Settings

log = logging.getLogger(__name__)

SYNTHETIC_PREFIX = "flywheel_reconcile_"
# The event types reconcile replays: the ones the webhook handles.
REPLAYED = frozenset(HANDLERS)
# The nightly job looks every this many seconds whether its hour has come.
NIGHTLY_EVERY_SECONDS = 600
# The local day each community was last reconciled by this process (a restart within the
# hour runs it again: reconciling twice changes nothing).
_last_run: dict[int, date] = {}
# A subscription's fields whose change is worth a synthetic snapshot.
_SUBSCRIPTION_STATE = ("status", "cancel_at_period_end", "canceled_at", "ended_at")


@dataclass
class ReconcileReport:
    """What one reconcile run read and repaired."""

    events_read: int = 0
    events_replayed: int = 0
    sessions_read: int = 0
    subscriptions_read: int = 0
    repairs: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return one line an owner can read."""
        fixed = f"{len(self.repairs)} repaired" if self.repairs else "nothing to repair"
        return (
            f"read {self.events_read} events, {self.sessions_read} checkout sessions and "
            f"{self.subscriptions_read} subscriptions from Stripe; replayed "
            f"{self.events_replayed} missed events; {fixed}"
        )


def _synthetic(
    kind: str, obj: dict[str, Any], state: Iterable[Any], created: int
) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(list(state), default=str).encode()).hexdigest()[:16]
    return {
        "id": f"{SYNTHETIC_PREFIX}{obj['id']}_{digest}",
        "object": "event",
        "type": kind,
        "created": created,
        "data": {"object": obj},
    }


def session_snapshot(obj: dict[str, Any], created: int) -> dict[str, Any] | None:
    """Return a synthetic event carrying a session's state, or None while it is still open."""
    status = obj.get("status")
    if status == "complete":
        kind = "checkout.session.completed"
        if obj.get("payment_status") == "paid":
            kind = "checkout.session.async_payment_succeeded"
    elif status == "expired":
        kind = "checkout.session.expired"
    else:
        return None
    return _synthetic(kind, obj, (status, obj.get("payment_status")), created)


def subscription_snapshot(obj: dict[str, Any], created: int) -> dict[str, Any]:
    """Return a synthetic event carrying a subscription's state."""
    final = obj.get("status") in ("canceled", "incomplete_expired")
    kind = "customer.subscription.deleted" if final else "customer.subscription.updated"
    state = [obj.get(name) for name in _SUBSCRIPTION_STATE]
    return _synthetic(kind, obj, state, created)


async def _state(session: AsyncSession, community_id: int) -> dict[str, tuple[Any, ...]]:
    """Return what reconcile reports on: each order's and subscription's visible state."""
    seen: dict[str, tuple[Any, ...]] = {}
    for order in await session.scalars(select(Order).where(Order.community_id == community_id)):
        seen[order.session_id] = (
            order.session_status,
            order.payment_status,
            order.amount_refunded,
            order.dispute_status,
        )
    for sub in await session.scalars(
        select(Subscription).where(Subscription.community_id == community_id)
    ):
        seen[sub.subscription_id] = (sub.status, sub.cancel_at_period_end)
    return seen


def _describe(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> list[str]:
    lines = []
    for stripe_id, now in sorted(after.items()):
        was = before.get(stripe_id)
        if was == now:
            continue
        kind = "order" if stripe_id.startswith("cs_") else "subscription"
        shown = "/".join(str(part) for part in now if part not in (None, 0, False))
        if was is None:
            lines.append(f"{kind} {stripe_id} recorded: {shown}")
        else:
            old = "/".join(str(part) for part in was if part not in (None, 0, False))
            lines.append(f"{kind} {stripe_id}: {old} → {shown}")
    return lines


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    settings: Settings,
    gateway: StripeGateway,
    community_id: int,
    *,
    days: int | None = None,
) -> ReconcileReport:
    """Compare the last days of Stripe with our records and repair the drift."""
    report = ReconcileReport()
    now = clock.now()
    since = int((now - timedelta(days=days or settings.stripe.reconcile_days)).timestamp())
    client = gateway.client.v1
    async with sessions() as session:
        before = await _state(session, community_id)
        known = set(
            await session.scalars(
                select(StripeEvent.event_id).where(
                    StripeEvent.community_id == community_id,
                    StripeEvent.created >= now - timedelta(days=days or 31),
                )
            )
        )
    missed: list[dict[str, Any]] = []
    listed = await client.events.list_async(params={"created": {"gte": since}, "limit": 100})
    async for event in listed.auto_paging_iter():
        report.events_read += 1
        data = event.to_dict()
        if data.get("type") in REPLAYED and data["id"] not in known:
            missed.append(data)
    # Stripe lists newest first; process as they happened.
    for data in sorted(missed, key=lambda e: (int(e.get("created") or 0), str(e["id"]))):
        async with sessions() as session, session.begin():
            if await apply_event(session, clock, settings, community_id, data, via="reconcile"):
                report.events_replayed += 1
    stamp = int(now.timestamp())
    snapshots: list[dict[str, Any]] = []
    checkout = await client.checkout.sessions.list_async(
        params={"created": {"gte": since}, "limit": 100}
    )
    async for opened in checkout.auto_paging_iter():
        report.sessions_read += 1
        snapshot = session_snapshot(opened.to_dict(), stamp)
        if snapshot is not None:
            snapshots.append(snapshot)
    subs = await client.subscriptions.list_async(params={"status": "all", "limit": 100})
    async for sub in subs.auto_paging_iter():
        report.subscriptions_read += 1
        snapshots.append(subscription_snapshot(sub.to_dict(), stamp))
    for snapshot in snapshots:
        async with sessions() as session, session.begin():
            await apply_event(session, clock, settings, community_id, snapshot, via="reconcile")
    async with sessions() as session:
        report.repairs = _describe(before, await _state(session, community_id))
    log.info("reconcile: %s", report.summary())
    return report


async def nightly_job(context: FeatureContext) -> ReconcileReport | None:
    """Reconcile once a day at ``[stripe] reconcile_hour`` (community time), if Stripe is set."""
    settings, gateway = context.settings, context.stripe
    if gateway is None or not settings.offers or not context.community_id:
        return None
    local = context.clock.now().astimezone(ZoneInfo(settings.community.timezone))
    if local.hour != settings.stripe.reconcile_hour:
        return None
    if _last_run.get(context.community_id) == local.date():
        return None
    _last_run[context.community_id] = local.date()
    try:
        return await reconcile(
            context.sessions, context.clock, settings, gateway, context.community_id
        )
    except stripe.StripeError as exc:
        # Tomorrow's run (or `flywheel reconcile`) tries again; nothing was half-applied:
        # each event and snapshot is its own transaction.
        log.warning("nightly reconcile failed: %s: %s", type(exc).__name__, exc.user_message)
        _last_run.pop(context.community_id, None)
        return None
