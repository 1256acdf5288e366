"""Subscriptions: Stripe's snapshots applied by their own time, never by arrival order.

A ``customer.subscription.*`` snapshot applies only when its event is at least as new as the
one applied before (``version``, the event's ``created``); at the same second the snapshot
further along its lifecycle wins (status rank, then period end, then the cancellation), so
the result is the same whatever order equal-time events arrive in. A final status (canceled,
incomplete_expired) is never left. An event about a subscription not seen yet (an invoice, a
paid Checkout Session) creates the row from what it carries, at version ``EPOCH``, so the
first real snapshot replaces it. ``invoice.payment_failed`` starts ``past_due_since`` (the
grace period) unless the subscription is already known paying since; ``invoice.paid`` and a
paying snapshot end it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.driver import insert_new
from bot.ids import new_uid
from bot.models import Order, Subscription
from bot.offers import OfferSettings
from bot.services.payments.access import PAYING
from bot.services.payments.matching import (
    child,
    member_for,
    metadata_of,
    moment,
    number,
    object_id,
    offer_for,
    remember_customer,
    text,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the version of a row no snapshot has set yet
MAX_STATUS = 24  # the length of subscriptions.status
FINAL = frozenset({"canceled", "incomplete_expired"})
STATUS_RANK = {
    "incomplete": 0,
    "trialing": 1,
    "active": 2,
    "past_due": 3,
    "unpaid": 4,
    "paused": 4,
    "canceled": 5,
    "incomplete_expired": 5,
}


def _stage(
    status: str, period_end: datetime | None, at_end: bool, canceled_at: datetime | None
) -> tuple[int, datetime, bool, datetime]:
    """Return how far along its lifecycle a subscription state is (ties at one second)."""
    return (STATUS_RANK.get(status, 0), period_end or EPOCH, at_end, canceled_at or EPOCH)


def _period_end(obj: Mapping[str, Any]) -> datetime | None:
    """Return the period end: on the items since API 2025-03 (the top level before)."""
    ends = [
        end
        for item in child(obj, "items").get("data") or []
        if isinstance(item, dict) and (end := number(item, "current_period_end")) is not None
    ]
    return moment(max(ends) if ends else number(obj, "current_period_end"))


def _prices(obj: Mapping[str, Any]) -> list[str]:
    items = child(obj, "items").get("data") or []
    return [
        price
        for item in items
        if isinstance(item, dict) and (price := object_id(item, "price")) is not None
    ]


async def _row(
    session: AsyncSession, clock: Clock, community_id: int, subscription_id: str, status: str
) -> Subscription:
    """Return the subscription's row, locked, inserting a placeholder first if it is new."""
    now = clock.now()
    await insert_new(
        session,
        Subscription,
        {
            "uid": new_uid(),
            "community_id": community_id,
            "subscription_id": subscription_id,
            "customer_id": None,
            "member_id": None,
            "offer_slug": None,
            "status": status,
            "current_period_end": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "ended_at": None,
            "past_due_since": None,
            "version": EPOCH,
            "created_at": now,
            "updated_at": now,
        },
        ("community_id", "subscription_id"),
    )
    row = await session.scalar(
        select(Subscription)
        .where(
            Subscription.community_id == community_id,
            Subscription.subscription_id == subscription_id,
        )
        .with_for_update()
    )
    assert row is not None
    return row


async def _match(
    session: AsyncSession,
    offers: dict[str, OfferSettings],
    row: Subscription,
    metadata: Mapping[str, str],
    prices: list[str],
) -> None:
    """Name the row's offer and member where still unknown: metadata, prices, its order."""
    if row.offer_slug is not None and row.member_id is not None:
        return
    order = (
        await session.execute(
            select(Order.offer_slug, Order.member_id)
            .where(
                Order.community_id == row.community_id,
                Order.subscription_id == row.subscription_id,
            )
            .order_by(Order.id)
            .limit(1)
        )
    ).first()
    if row.offer_slug is None:
        row.offer_slug = offer_for(offers, metadata, prices) or (
            order.offer_slug if order else None
        )
    if row.member_id is None and order is not None and order.member_id is not None:
        row.member_id = order.member_id  # its customer was remembered (or not) with the order
    elif row.member_id is None:
        row.member_id = await member_for(
            session, row.community_id, metadata, customer_id=row.customer_id
        )
        if row.member_id is not None:
            await remember_customer(session, row.member_id, row.customer_id)


async def apply_snapshot(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    community_id: int,
    obj: Mapping[str, Any],
    created: datetime,
) -> Subscription:
    """Apply a ``customer.subscription.*`` snapshot if it is not older than the row's."""
    status = text(obj, "status")
    if status is None or len(status) > MAX_STATUS:  # none of Stripe's is that long
        status = "incomplete"
    row = await _row(session, clock, community_id, text(obj, "id") or "", status)
    row.customer_id = row.customer_id or object_id(obj, "customer")
    await _match(session, offers, row, metadata_of(obj), _prices(obj))
    period_end = _period_end(obj)
    at_end = obj.get("cancel_at_period_end") is True
    canceled_at = moment(number(obj, "canceled_at"))
    newer = created > row.version or (
        created == row.version
        and _stage(status, period_end, at_end, canceled_at)
        >= _stage(row.status, row.current_period_end, row.cancel_at_period_end, row.canceled_at)
    )
    if newer and not (row.status in FINAL and status not in FINAL and row.version > EPOCH):
        row.status = status
        row.current_period_end = period_end
        row.cancel_at_period_end = at_end
        row.canceled_at = canceled_at
        row.ended_at = moment(number(obj, "ended_at"))
        row.version = created
        if status == "past_due" and row.past_due_since is None:
            row.past_due_since = created
        elif status in PAYING and row.past_due_since and row.past_due_since <= created:
            row.past_due_since = None
    row.updated_at = clock.now()
    return row


def invoice_subscription(obj: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """Return the subscription an invoice bills and its metadata (API 2026-10-28: parent)."""
    details = child(child(obj, "parent"), "subscription_details")
    found = object_id(details, "subscription") or object_id(obj, "subscription")
    return found, metadata_of(details)


async def apply_invoice(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    community_id: int,
    obj: Mapping[str, Any],
    created: datetime,
    *,
    paid: bool,
) -> Subscription | None:
    """Apply ``invoice.paid`` / ``invoice.payment_failed`` to the subscription it bills."""
    subscription_id, metadata = invoice_subscription(obj)
    if subscription_id is None:
        return None  # a one-off invoice: no subscription to keep
    first = text(obj, "billing_reason") == "subscription_create"
    placeholder = "active" if paid else ("incomplete" if first else "past_due")
    row = await _row(session, clock, community_id, subscription_id, placeholder)
    row.customer_id = row.customer_id or object_id(obj, "customer")
    await _match(session, offers, row, metadata, [])
    if paid:
        paid_at = moment(number(child(obj, "status_transitions"), "paid_at")) or created
        if row.past_due_since is not None and row.past_due_since <= paid_at:
            row.past_due_since = None
    elif not (row.status in PAYING and row.version > created) and (
        row.past_due_since is None or created < row.past_due_since
    ):
        # (A failure older than a snapshot showing the subscription paying is history.)
        row.past_due_since = created
    row.updated_at = clock.now()
    return row


async def link_order(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    order: Order,
) -> Subscription | None:
    """Give a subscription-mode order's subscription its offer and member (a row if new)."""
    if order.subscription_id is None:
        return None
    placeholder = "active" if order.payment_status == "paid" else "incomplete"
    row = await _row(session, clock, order.community_id, order.subscription_id, placeholder)
    row.customer_id = row.customer_id or order.customer_id
    await _match(session, offers, row, {}, [])
    return row
