"""Orders: one per Checkout Session, converging on Stripe's state whatever the arrival order.

Each facet moves one way only, judged by the object's own state, never by when its event
arrived: ``session_status`` open → complete or expired; ``payment_status`` unpaid → paid,
no_payment_required or failed; ``amount_refunded`` keeps the largest amount seen;
``dispute_status`` by the dispute's rank (won and lost are final). Ids and amounts a snapshot
carries fill what is still empty. ``PaymentRecorded`` is published when an order first becomes
paid (``paid_at`` set) and ``PaymentReversed`` when it first becomes refunded in full or its
dispute lost: each transition happens once per order, so each event is published once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.driver import insert_row, sqlite_driver
from bot.db.sqlite_cursor import fetch_quick
from bot.events import publish
from bot.ids import new_uid
from bot.models import Order
from bot.offers import OfferSettings
from bot.services.payments.access import order_reversed
from bot.services.payments.events import PaymentRecorded, PaymentReversed
from bot.services.payments.matching import (
    amount,
    child,
    email_key,
    member_for,
    metadata_of,
    moment,
    number,
    object_id,
    offer_for,
    remember_customer,
    text,
)

SESSION_RANK = {"open": 0, "complete": 1, "expired": 1}
PAYMENT_RANK = {"unpaid": 0, "paid": 1, "no_payment_required": 1, "failed": 1}
DISPUTE_RANK = {
    "warning_needs_response": 1,
    "needs_response": 1,
    "warning_under_review": 2,
    "under_review": 2,
    "warning_closed": 3,
    "won": 4,
    "lost": 4,
}


# The session id of an order held for a refund or dispute whose Checkout Session has not
# arrived yet (Stripe's charge names its payment intent, not the session): the session's
# order takes over what it holds and the held row is deleted.
HELD = "pi:"


def _forward(current: str, new: str | None, ranks: Mapping[str, int]) -> str:
    """Return ``new`` when it ranks above ``current`` (a final value is never left)."""
    if new is None or new not in ranks:
        return current
    return new if ranks[new] > ranks.get(current, -1) else current


def _blank(clock: Clock, community_id: int, obj: Mapping[str, Any]) -> Order:
    """Return a new, unsaved order for a session: open, unpaid, nothing known yet."""
    now = clock.now()
    return Order(
        uid=new_uid(),
        community_id=community_id,
        session_id=text(obj, "id") or "",
        mode=(text(obj, "mode") or "payment")[:16],
        session_status="open",
        payment_status="unpaid",
        amount_refunded=0,
        matched=False,
        created_at=moment(number(obj, "created")) or now,
        updated_at=now,
    )


async def _insert(session: AsyncSession, order: Order) -> bool:
    """Insert a new order unless its session has one; return whether it was inserted."""
    return await insert_row(session, order, ("community_id", "session_id")) is not None


async def _held(session: AsyncSession, community_id: int, intent_id: str | None) -> Order | None:
    """Return the order held for this payment intent's charge, locked, if there is one."""
    if intent_id is None:
        return None
    key = HELD + intent_id
    driver = await sqlite_driver(session)
    if driver is not None:
        # Almost never there: on SQLite, ask in one trip before loading anything.
        found = await fetch_quick(
            driver,
            "SELECT 1 FROM orders WHERE community_id = ? AND session_id = ?",
            (community_id, key),
        )
        if not found:
            return None
    held: Order | None = await session.scalar(
        select(Order)
        .where(Order.community_id == community_id, Order.session_id == key)
        .with_for_update()
    )
    return held


def _take_over(row: Order, held: Order) -> None:
    """Move what a held order knows of its charge (refunds, dispute) onto the session's."""
    row.charge_id = row.charge_id or held.charge_id
    row.amount_refunded = max(row.amount_refunded, held.amount_refunded)
    row.dispute_status = _dispute(row.dispute_status, held.dispute_status)


def _dispute(current: str | None, new: str | None) -> str | None:
    """Return the dispute status further along its rank (won and lost are final)."""
    if new not in DISPUTE_RANK:
        return current
    if current is None or DISPUTE_RANK[new] > DISPUTE_RANK.get(current, 0):
        return new
    return current


def _fill(row: Order, obj: Mapping[str, Any]) -> None:
    """Fill the ids and amounts a snapshot carries where the order has none yet."""
    details = child(obj, "customer_details")
    found: dict[str, Any] = {
        "amount_total": amount(obj, "amount_total"),
        "currency": (text(obj, "currency") or "")[:3] or None,
        "customer_id": object_id(obj, "customer"),
        # Lower-cased here, in Python: `/link purchase` compares with SQL lower(), which
        # SQLite (and PostgreSQL under the C locale) applies to ASCII letters only.
        "customer_email": email_key(text(details, "email") or text(obj, "customer_email")),
        "payment_intent_id": object_id(obj, "payment_intent"),
        "subscription_id": object_id(obj, "subscription"),
        "client_reference_id": (text(obj, "client_reference_id") or "")[:200] or None,
    }
    for name, value in found.items():
        if value is not None and getattr(row, name) is None:
            setattr(row, name, value[:320] if isinstance(value, str) else value)


def _merge(
    row: Order,
    obj: Mapping[str, Any],
    event_type: str,
    offers: dict[str, OfferSettings],
    named: int | None,
) -> Order:
    """Move an order forward by a session snapshot (and the member it names); return it."""
    _fill(row, obj)
    row.session_status = _forward(row.session_status, text(obj, "status"), SESSION_RANK)
    payment = text(obj, "payment_status")
    if event_type == "checkout.session.async_payment_failed":
        payment = "failed"  # Stripe leaves the session "unpaid"; the order says why
    row.payment_status = _forward(row.payment_status, payment, PAYMENT_RANK)
    if row.offer_slug is None:
        row.offer_slug = offer_for(offers, metadata_of(obj))
    if row.member_id is None:
        row.member_id = named
    row.matched = row.offer_slug is not None and row.member_id is not None
    return row


async def apply_session(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    community_id: int,
    obj: Mapping[str, Any],
    event_type: str,
) -> Order:
    """Apply a ``checkout.session.*`` snapshot to its order; return the order."""
    metadata = metadata_of(obj)
    # Looked up first: a query after the stored order changed would flush it early.
    named = await member_for(
        session, community_id, metadata, customer_id=object_id(obj, "customer")
    )
    # The order as this snapshot alone makes it: inserted as it is when the session is new
    # (one statement), else the stored order, locked, is merged with the snapshot.
    held = await _held(session, community_id, object_id(obj, "payment_intent"))
    row = _merge(_blank(clock, community_id, obj), obj, event_type, offers, named)
    if held is not None:
        _take_over(row, held)
    was_reversed = False
    first_paid = row.payment_status == "paid"
    if first_paid:
        row.paid_at = clock.now()
    if not await _insert(session, row):
        stored = await session.scalar(
            select(Order)
            .where(Order.community_id == community_id, Order.session_id == row.session_id)
            .with_for_update()
        )
        assert stored is not None
        was_reversed = order_reversed(stored) is not None
        row = _merge(stored, obj, event_type, offers, named)
        if held is not None:
            _take_over(row, held)
        first_paid = row.payment_status == "paid" and row.paid_at is None
        if first_paid:
            row.paid_at = clock.now()
        row.updated_at = clock.now()
    if named is not None and row.member_id == named:
        # Not for a member the order got by a claim (/link purchase): see remember_customer.
        await remember_customer(session, named, row.customer_id)
    if first_paid:
        await publish(
            session,
            clock,
            PaymentRecorded(
                community_id=community_id,
                order_uid=row.uid,
                session_id=row.session_id,
                member_id=row.member_id,
                offer_slug=row.offer_slug,
                amount=row.amount_total,
                currency=row.currency,
                metadata=metadata,
            ),
        )
    if held is not None:
        await session.delete(held)
        why = "dispute_lost" if row.dispute_status == "lost" else "refunded"
        await _reverse_once(session, clock, row, was_reversed, why)
    return row


async def _order_of_charge(
    session: AsyncSession, community_id: int, charge_id: str | None, intent_id: str | None
) -> Order | None:
    """Return the order a charge belongs to (by payment intent or charge id), locked."""
    keys = []
    if intent_id:
        keys.append(Order.payment_intent_id == intent_id)
    if charge_id:
        keys.append(Order.charge_id == charge_id)
    if not keys:
        return None
    found: Order | None = await session.scalar(
        select(Order)
        .where(Order.community_id == community_id, or_(*keys))
        .order_by(Order.id)
        .limit(1)
        .with_for_update()
    )
    return found


async def _reverse_once(
    session: AsyncSession, clock: Clock, row: Order, was_reversed: bool, why: str
) -> None:
    """Publish ``PaymentReversed`` if this change took a paid order back."""
    if was_reversed or row.paid_at is None or order_reversed(row) is None:
        return
    await publish(
        session,
        clock,
        PaymentReversed(
            community_id=row.community_id,
            order_uid=row.uid,
            session_id=row.session_id,
            member_id=row.member_id,
            offer_slug=row.offer_slug,
            why=why,
        ),
    )


async def _hold(
    session: AsyncSession,
    clock: Clock,
    community_id: int,
    intent_id: str | None,
    charge_id: str | None,
) -> Order | None:
    """Return an order held for a charge whose session is not known yet (None without an
    intent to wait for); its session's order takes it over when it arrives."""
    if intent_id is None:
        return None
    now = clock.now()
    await _insert(
        session,
        Order(
            uid=new_uid(),
            community_id=community_id,
            session_id=HELD + intent_id,
            mode="payment",
            session_status="open",
            payment_status="unpaid",
            payment_intent_id=intent_id,
            charge_id=charge_id,
            amount_refunded=0,
            matched=False,
            created_at=now,
            updated_at=now,
        ),
    )
    return await _held(session, community_id, intent_id)


async def apply_charge(
    session: AsyncSession, clock: Clock, community_id: int, obj: Mapping[str, Any]
) -> Order | None:
    """Apply a ``charge.refunded`` snapshot: the refunded amount only grows."""
    charge_id = text(obj, "id")
    intent_id = object_id(obj, "payment_intent")
    row = await _order_of_charge(session, community_id, charge_id, intent_id)
    row = row or await _hold(session, clock, community_id, intent_id, charge_id)
    if row is None:
        return None  # no payment intent to wait for: nothing Checkout sold
    was_reversed = order_reversed(row) is not None
    row.charge_id = row.charge_id or charge_id
    row.amount_refunded = max(row.amount_refunded, amount(obj, "amount_refunded") or 0)
    row.updated_at = clock.now()
    await _reverse_once(session, clock, row, was_reversed, "refunded")
    return row


async def apply_dispute(
    session: AsyncSession, clock: Clock, community_id: int, obj: Mapping[str, Any]
) -> Order | None:
    """Apply a ``charge.dispute.*`` snapshot: the status only moves up its rank."""
    charge_id, intent_id = object_id(obj, "charge"), object_id(obj, "payment_intent")
    row = await _order_of_charge(session, community_id, charge_id, intent_id)
    row = row or await _hold(session, clock, community_id, intent_id, charge_id)
    if row is None:
        return None
    was_reversed = order_reversed(row) is not None
    row.charge_id = row.charge_id or charge_id
    row.dispute_status = _dispute(row.dispute_status, text(obj, "status"))
    row.updated_at = clock.now()
    await _reverse_once(session, clock, row, was_reversed, "dispute_lost")
    return row
