"""Stripe events in: recorded once by id, applied in the same transaction.

:func:`apply_event` is what the webhook route and reconcile call, inside the caller's
transaction: it inserts the ``stripe_events`` row (``ON CONFLICT DO NOTHING … RETURNING``; a
repeat gets nothing back and changes nothing), applies the event to the order or
subscription it is about, and refreshes the paid access of each member touched. A type
Flywheel does not use is recorded and otherwise ignored. If anything raises, the caller's
rollback takes the event row with it, so the retried delivery is processed afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.driver import insert_new
from bot.errors import Invalid
from bot.models import Community, Order, StripeEvent, Subscription
from bot.models.payments import STRIPE_ID
from bot.offers import OfferSettings
from bot.services.payments import orders, subscriptions
from bot.services.payments.access import refresh
from bot.services.payments.matching import (
    child,
    community_named,
    moment,
    number,
    object_id,
    text,
)
from bot.settings import Settings

log = logging.getLogger(__name__)

Via = Literal["webhook", "reconcile"]
MAX_TYPE = 80


@dataclass(frozen=True)
class StripeEventIn:
    """The parts of an event every handler needs, checked."""

    id: str
    type: str
    created: datetime
    object: dict[str, Any]


def read_event(event: Mapping[str, Any]) -> StripeEventIn:
    """Return the event's id, type, created time and object, or raise Invalid naming the part."""
    event_id, kind = text(event, "id"), text(event, "type")
    if event_id is None or len(event_id) > STRIPE_ID:
        raise Invalid("The event has no id.", field="id", code="stripe.event.id")
    if kind is None or len(kind) > MAX_TYPE:
        raise Invalid("The event has no type.", field="type", code="stripe.event.type")
    created = number(event, "created")
    if created is None or moment(created) is None:
        raise Invalid(
            "The event has no created time.", field="created", code="stripe.event.created"
        )
    obj = child(child(event, "data"), "object")
    if object_id(obj, "id") is None:
        raise Invalid("The event has no data.object.", field="data", code="stripe.event.data")
    when = moment(created)
    assert when is not None
    return StripeEventIn(event_id, kind, when, obj)


@dataclass(frozen=True)
class _Applying:
    """One event being applied, with what every handler needs."""

    session: AsyncSession
    clock: Clock
    offers: dict[str, OfferSettings]
    community_id: int
    event: StripeEventIn


Handler = Callable[[_Applying], Awaitable["Order | Subscription | None"]]


async def _session(a: _Applying) -> Order | Subscription | None:
    order = await orders.apply_session(
        a.session, a.clock, a.offers, a.community_id, a.event.object, a.event.type
    )
    linked = await subscriptions.link_order(a.session, a.clock, a.offers, order)
    if linked is not None and linked.member_id not in (None, order.member_id):
        await refresh(
            a.session, a.clock, a.offers, community_id=a.community_id, member_id=linked.member_id
        )
    return order


async def _subscription(a: _Applying) -> Order | Subscription | None:
    return await subscriptions.apply_snapshot(
        a.session, a.clock, a.offers, a.community_id, a.event.object, a.event.created
    )


async def _invoice(a: _Applying) -> Order | Subscription | None:
    return await subscriptions.apply_invoice(
        a.session,
        a.clock,
        a.offers,
        a.community_id,
        a.event.object,
        a.event.created,
        paid=a.event.type == "invoice.paid",
    )


async def _charge(a: _Applying) -> Order | Subscription | None:
    return await orders.apply_charge(a.session, a.clock, a.community_id, a.event.object)


async def _dispute(a: _Applying) -> Order | Subscription | None:
    return await orders.apply_dispute(a.session, a.clock, a.community_id, a.event.object)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _session,
    "checkout.session.async_payment_succeeded": _session,
    "checkout.session.async_payment_failed": _session,
    "checkout.session.expired": _session,
    "customer.subscription.created": _subscription,
    "customer.subscription.updated": _subscription,
    "customer.subscription.deleted": _subscription,
    "invoice.paid": _invoice,
    "invoice.payment_failed": _invoice,
    "charge.refunded": _charge,
    "charge.dispute.created": _dispute,
    "charge.dispute.updated": _dispute,
    "charge.dispute.closed": _dispute,
}


async def _one_at_a_time(session: AsyncSession, community_id: int) -> None:
    """Wait for the community's other Stripe events in flight, then hold them off until commit.

    Stripe sends a purchase's events at once, and each touches the same order, subscription
    and member in a different order (the session locks its order, then creates the
    subscription; ``customer.subscription.created`` creates it, then updates the member):
    applied side by side on PostgreSQL they deadlock, and the one refused waits hours for
    Stripe's retry. Holding the community's row (``FOR NO KEY UPDATE``, which leaves foreign
    key checks of other writers alone) applies one event at a time, before the event row is
    inserted, so a duplicate delivered alongside waits here too rather than on that row.
    SQLite runs one writer at a time already.
    """
    if session.get_bind().dialect.name == "sqlite":
        return
    await session.execute(
        select(Community.id).where(Community.id == community_id).with_for_update(key_share=True)
    )


async def _record(
    session: AsyncSession, clock: Clock, community_id: int, event: StripeEventIn, via: Via
) -> bool:
    """Insert the event's row; return False if it was there already."""
    inserted = await insert_new(
        session,
        StripeEvent,
        {
            "community_id": community_id,
            "event_id": event.id,
            "type": event.type,
            "object_id": text(event.object, "id") or "",
            "created": event.created,
            "processed_at": clock.now(),
            "via": via,
        },
        ("community_id", "event_id"),
    )
    return inserted is not None


async def _known(session: AsyncSession, community_id: int, event: StripeEventIn) -> bool:
    """Return whether the session or subscription an event is about has a row here."""
    if event.type.startswith("checkout.session."):
        wanted = text(event.object, "id")
        query = select(Order.id).where(
            Order.community_id == community_id, Order.session_id == wanted
        )
    else:
        if event.type.startswith("invoice."):
            wanted = subscriptions.invoice_subscription(event.object)[0]
        else:
            wanted = text(event.object, "id")
        query = select(Subscription.id).where(
            Subscription.community_id == community_id, Subscription.subscription_id == wanted
        )
    return wanted is not None and await session.scalar(query.limit(1)) is not None


async def apply_event(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    community_id: int,
    event: Mapping[str, Any],
    via: Via = "webhook",
) -> bool:
    """Record and apply one Stripe event in the caller's transaction.

    Return False, changing nothing, when the event was processed before. Raise Invalid
    (before writing anything) when the event lacks its id, type, created time or object.
    """
    checked = read_event(event)
    await _one_at_a_time(session, community_id)
    if not await _record(session, clock, community_id, checked, via):
        return False
    handler = HANDLERS.get(checked.type)
    if handler is None:
        return True  # recorded; a type Flywheel does not use
    named = community_named(checked.object)
    if (
        named is not None
        and named != settings.community.slug
        and not await _known(session, community_id, checked)
    ):
        # One Stripe account can sell for several communities, and each endpoint hears every
        # event of the account: another community's purchase must not become an order here
        # (its offer slug may exist here too; its buyer may be a member here by customer).
        # What is known here already is ours whatever it says (the slug was renamed since).
        log.info(
            "Stripe event %s is about community %r, not this one: recorded, not applied",
            checked.id,
            named[:40],
        )
        return True
    offers = settings.offers
    changed = await handler(_Applying(session, clock, offers, community_id, checked))
    if changed is not None and changed.member_id is not None:
        await refresh(
            session, clock, offers, community_id=community_id, member_id=changed.member_id
        )
    return True
