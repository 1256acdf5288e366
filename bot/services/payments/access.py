"""Paid access: what a member's orders and subscriptions entitle them to, kept in step.

``refresh`` is called in the transaction that changed a member's orders or subscriptions
(a webhook, reconcile, linking a purchase, the grace-period job). It works out, for each
offer that grants access, whether the member is entitled now, and when that differs from
``paid_access`` it records the new decision with its reason and queues one ``RoleChange``
through the outbox (keyed by the row's uid and change count, so a repeat queues nothing).

An access key can be given by several offers and by badges (``[badges.<slug>] role``). A
revoke is queued only when nothing else the member holds gives the same key: no other
offer they are entitled to now, no badge they hold. (Badges' own revoke checks only other
badges; see ``recognition.badges._access_still_given``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.driver import insert_new, run_core
from bot.ids import new_uid
from bot.messages import RoleChange
from bot.models import Badge, Member, MemberBadge, Order, PaidAccess, Subscription
from bot.offers import OfferSettings
from bot.outbox import send

# Stripe subscription statuses that pay for access (past_due only within the grace period).
PAYING = frozenset({"active", "trialing"})
REVERSED_DISPUTES = frozenset({"lost"})
REASON_LENGTH = 300


@dataclass(frozen=True)
class Entitlement:
    """Whether a member should hold an offer's access now, and why, in an owner's words."""

    offer_slug: str
    access: str
    entitled: bool
    reason: str


@dataclass(frozen=True)
class AccessChange:
    """A decision that changed (and the RoleChange queued for it, unless ``kept_by``).

    ``kept_by`` names what still gives the access key when a revoke was not queued (another
    offer, or a badge): the member keeps the role.
    """

    offer_slug: str
    access: str
    granted: bool
    reason: str
    kept_by: str | None = None


class OrderFacts(Protocol):
    """What deciding access reads of an order: an ``Order``, or an :class:`_OrderRow`."""

    @property
    def offer_slug(self) -> str | None: ...
    @property
    def session_id(self) -> str: ...
    @property
    def session_status(self) -> str: ...
    @property
    def payment_status(self) -> str: ...
    @property
    def subscription_id(self) -> str | None: ...
    @property
    def amount_total(self) -> int | None: ...
    @property
    def amount_refunded(self) -> int: ...
    @property
    def dispute_status(self) -> str | None: ...


class _OrderRow(NamedTuple):
    """An order's facts as :data:`_ORDER_FACTS` reads them (no ORM object to build)."""

    offer_slug: str | None
    session_id: str
    session_status: str
    payment_status: str
    subscription_id: str | None
    amount_total: int | None
    amount_refunded: int
    dispute_status: str | None


def order_paid(order: OrderFacts) -> bool:
    """Return whether a Checkout Session's payment went through (or needed none)."""
    if order.payment_status == "paid":
        return True
    # A 100 % discount completes the session with nothing to pay.
    return order.payment_status == "no_payment_required" and order.session_status == "complete"


def order_reversed(order: OrderFacts) -> str | None:
    """Return why a paid order no longer pays for anything, or None while it does."""
    if order.dispute_status in REVERSED_DISPUTES:
        return f"order {order.session_id}: the dispute was lost"
    if order.amount_total is not None and order.amount_refunded >= order.amount_total > 0:
        return f"order {order.session_id}: refunded in full"
    return None


def grace_ends(sub: Subscription, offer: OfferSettings) -> datetime:
    """Return when a past-due subscription stops paying for access."""
    return (sub.past_due_since or sub.version) + timedelta(days=offer.grace_days)


def _subscription_reason(
    sub: Subscription, offer: OfferSettings, now: datetime
) -> tuple[bool, str]:
    """Return whether a subscription pays for access now, and the sentence saying so."""
    if sub.status in PAYING:
        return True, f"subscription {sub.subscription_id} is {sub.status}"
    if sub.status == "past_due":
        until = grace_ends(sub, offer)
        if now < until:
            return True, (
                f"subscription {sub.subscription_id} is past due; access kept until "
                f"{until:%Y-%m-%d %H:%M} UTC (grace period of {offer.grace_days} days)"
            )
        return False, (
            f"subscription {sub.subscription_id} is past due beyond the grace period of "
            f"{offer.grace_days} days"
        )
    return False, f"subscription {sub.subscription_id} is {sub.status}"


def _subscription_reasons(
    slug: str,
    offer: OfferSettings,
    orders: Sequence[OrderFacts],
    subscriptions: list[Subscription],
    now: datetime,
) -> list[tuple[bool, str]]:
    mine = [o for o in orders if o.offer_slug == slug]
    reversed_subs = {o.subscription_id for o in mine if order_reversed(o)}
    reasons: list[tuple[bool, str]] = []
    known: set[str] = set()
    for sub in subscriptions:
        if (sub.offer_slug or _offer_of(sub, orders)) != slug:
            continue
        known.add(sub.subscription_id)
        paying, why = _subscription_reason(sub, offer, now)
        if paying and sub.subscription_id in reversed_subs:
            paying, why = False, f"{why}, but its first payment was taken back"
        reasons.append((paying, why))
    for order in mine:
        # checkout.session.completed can arrive before the subscription's own events: a paid
        # session whose subscription is not known yet pays until that subscription says more.
        if order.subscription_id in known or not order_paid(order):
            continue
        reversed_why = order_reversed(order)
        reasons.append(
            (
                reversed_why is None,
                reversed_why
                or f"order {order.session_id} is paid; its subscription is not known yet",
            )
        )
    return reasons


def _offer_of(sub: Subscription, orders: Sequence[OrderFacts]) -> str | None:
    return next((o.offer_slug for o in orders if o.subscription_id == sub.subscription_id), None)


def _payment_reasons(slug: str, orders: Sequence[OrderFacts]) -> list[tuple[bool, str]]:
    reasons: list[tuple[bool, str]] = []
    for order in (o for o in orders if o.offer_slug == slug):
        if not order_paid(order):
            reasons.append((False, f"order {order.session_id} is {order.payment_status}"))
            continue
        reversed_why = order_reversed(order)
        reasons.append((reversed_why is None, reversed_why or f"order {order.session_id} is paid"))
    return reasons


# Built once (each paid-access refresh reads them): newest first.
_ORDERS = (
    select(Order)
    .where(Order.member_id == bindparam("member_id"))
    .order_by(Order.created_at.desc(), Order.id.desc())
)
# What deciding access needs of a member's orders, as plain values: sent straight to
# SQLite's driver (run_core), a quarter of an ORM load's cost on every webhook.
_ORDER_FACTS = (
    select(*(Order.__table__.c[name] for name in _OrderRow._fields))
    .where(Order.member_id == bindparam("member_id"))
    .order_by(Order.created_at.desc(), Order.id.desc())
)


async def _subscriptions_of(
    session: AsyncSession, member_id: int, orders: Sequence[OrderFacts]
) -> list[Subscription]:
    """Return the subscriptions that name the member or that one of their orders started
    (its own events may not name the member yet), latest snapshot first."""
    started = {o.subscription_id for o in orders if o.subscription_id}
    whose = Subscription.member_id == member_id
    if started:
        whose = or_(whose, Subscription.subscription_id.in_(started))
    return list(
        await session.scalars(
            select(Subscription)
            .where(whose)
            .order_by(Subscription.version.desc(), Subscription.id.desc())
        )
    )


async def member_payments(
    session: AsyncSession, member_id: int
) -> tuple[list[Order], list[Subscription]]:
    """Return a member's orders (newest first) and subscriptions (latest snapshot first)."""
    orders = list(await session.scalars(_ORDERS, {"member_id": member_id}))
    return orders, await _subscriptions_of(session, member_id, orders)


async def entitlements(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    member_id: int,
) -> list[Entitlement]:
    """Return, for each offer granting access, whether the member is entitled to it now."""
    granting = {slug: offer for slug, offer in offers.items() if offer.access}
    if not granting:
        return []
    now = clock.now()
    found_orders = await run_core(session, _ORDER_FACTS, {"member_id": member_id})
    orders = [_OrderRow(*row) for row in found_orders if row[0] in granting]
    # Only a subscription offer reads subscriptions: a one-time offer needs its orders alone.
    subscriptions = (
        await _subscriptions_of(session, member_id, orders)
        if any(o.mode == "subscription" for o in granting.values())
        else []
    )
    found: list[Entitlement] = []
    for slug, offer in granting.items():
        assert offer.access is not None
        if offer.mode == "subscription":
            reasons = _subscription_reasons(slug, offer, orders, subscriptions, now)
        else:
            reasons = _payment_reasons(slug, orders)
        entitled = any(paying for paying, _ in reasons)
        # The newest reason that agrees with the decision is the one an owner needs to read.
        chosen = next((why for paying, why in reasons if paying == entitled), None)
        found.append(
            Entitlement(
                slug,
                offer.access,
                entitled,
                (chosen or "no purchase of this offer")[:REASON_LENGTH],
            )
        )
    return found


async def _badge_giving(session: AsyncSession, member_id: int, access: str) -> str | None:
    """Return the name of a badge the member holds that gives ``access``, if any."""
    return await session.scalar(
        select(Badge.name)
        .join(MemberBadge, MemberBadge.badge_id == Badge.id)
        .where(
            MemberBadge.member_id == member_id,
            MemberBadge.revoked_at.is_(None),
            Badge.enabled.is_(True),
            Badge.access == access,
        )
        .limit(1)
    )


async def _kept_by(
    session: AsyncSession, member_id: int, access: str, slug: str, wanted: list[Entitlement]
) -> str | None:
    """Return what else gives the member ``access`` now (another offer, a badge), if anything."""
    for other in wanted:
        if other.offer_slug != slug and other.entitled and other.access == access:
            return f"offer {other.offer_slug}"
    badge = await _badge_giving(session, member_id, access)
    return f"badge {badge}" if badge is not None else None


@dataclass(slots=True)
class _Held:
    """A member's ``paid_access`` row as :func:`refresh` reads and writes it (no ORM object)."""

    id: int
    uid: str
    community_id: int
    member_id: int
    offer_slug: str
    access: str
    granted: bool
    reason: str
    changes: int


_ACCESS_TABLE = cast(Table, PaidAccess.__table__)
_TABLE = _ACCESS_TABLE.c
# Read and written straight through SQLite's driver (run_core) on every webhook that
# touches a member; FOR UPDATE holds the rows on PostgreSQL.
_HELD = (
    select(*(_TABLE[name] for name in _Held.__slots__))
    .where(_TABLE.member_id == bindparam("member_id"))
    .order_by(_TABLE.id)
    .with_for_update()
)
_SET_REASON = (
    update(_ACCESS_TABLE)
    .where(_TABLE.id == bindparam("row_id"))
    .values(reason=bindparam("new_reason"), access=bindparam("new_access"))
)
_SET_DECISION = _SET_REASON.values(
    granted=bindparam("new_granted"),
    changes=bindparam("new_changes"),
    changed_at=bindparam("new_changed_at"),
)


async def refresh(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    *,
    community_id: int,
    member_id: int,
) -> list[AccessChange]:
    """Bring a member's paid access in line with their orders and subscriptions."""
    changes: list[AccessChange] = []
    # One refresh of a member at a time (PostgreSQL): two webhooks about the same member
    # would otherwise both insert the member's first paid_access row. SQLite's write
    # transactions begin IMMEDIATE, holding the database's one write lock already (FOR UPDATE
    # is not even rendered there): the statement would only cost a trip.
    if session.get_bind().dialect.name != "sqlite":
        await session.scalar(select(Member.id).where(Member.id == member_id).with_for_update())
    wanted = await entitlements(session, clock, offers, member_id)
    if not wanted:
        return changes
    found = await run_core(session, _HELD, {"member_id": member_id})
    rows = {row.offer_slug: row for row in (_Held(*values) for values in found)}
    for item in wanted:
        row = rows.get(item.offer_slug)
        if row is None:
            if item.entitled:
                changes.append(await _first_grant(session, clock, community_id, member_id, item))
            continue  # never granted and not entitled: nothing to take back
        if row.granted == item.entitled and row.access == item.access:
            await _note(session, row, item.reason, row.access)
            continue
        if not row.granted and not item.entitled:
            # The offer's key changed while not held: nothing to do but remember it.
            await _note(session, row, item.reason, item.access)
            continue
        reason, kept_by, revoke = item.reason, None, None
        if row.granted:
            # Entitlement ended, or the offer now grants another key: take the old one back,
            # unless another offer or a badge still gives it.
            kept_by = await _kept_by(session, member_id, row.access, item.offer_slug, wanted)
            if kept_by is None:
                revoke = row.access
            else:
                reason = f"{item.reason}; the role stays: {kept_by} gives it"[:REASON_LENGTH]
        row.granted, row.access, row.reason = item.entitled, item.access, reason
        if revoke is not None:
            await _queue(session, clock, row, revoke, grant=False)
        if item.entitled:
            await _queue(session, clock, row, item.access, grant=True)
        await run_core(
            session,
            _SET_DECISION,
            {
                "row_id": row.id,
                "new_reason": reason,
                "new_access": row.access,
                "new_granted": row.granted,
                "new_changes": row.changes,
                "new_changed_at": clock.now(),
            },
        )
        changes.append(AccessChange(item.offer_slug, item.access, item.entitled, reason, kept_by))
    return changes


async def _note(session: AsyncSession, row: _Held, reason: str, access: str) -> None:
    """Keep the newest reason (and key) on a row whose decision did not change."""
    if row.reason != reason or row.access != access:
        row.reason, row.access = reason, access
        params = {"row_id": row.id, "new_reason": reason, "new_access": access}
        await run_core(session, _SET_REASON, params)


async def _first_grant(
    session: AsyncSession, clock: Clock, community_id: int, member_id: int, item: Entitlement
) -> AccessChange:
    """Record a member's first access from an offer, granted, and queue the grant.

    The row is written once, as decided, in one INSERT (one trip on SQLite), not through the
    unit of work: :func:`refresh` holds the member (the database, on SQLite), so no other
    refresh can have inserted it since it was read.
    """
    row = _Held(
        0, new_uid(), community_id, member_id, item.offer_slug, item.access, True, item.reason, 0
    )
    await _queue(session, clock, row, item.access, grant=True)
    values = {name: getattr(row, name) for name in _Held.__slots__ if name != "id"}
    inserted = await insert_new(
        session, PaidAccess, {**values, "changed_at": clock.now()}, ("member_id", "offer_slug")
    )
    if inserted is None:
        raise RuntimeError(
            f"paid access {item.offer_slug} of member {member_id} appeared meanwhile"
        )
    return AccessChange(item.offer_slug, item.access, True, row.reason)


async def _queue(
    session: AsyncSession, clock: Clock, row: _Held, access: str, *, grant: bool
) -> None:
    row.changes += 1
    await send(
        session,
        clock,
        RoleChange(
            member_id=row.member_id,
            access=access,
            grant=grant,
            reason=f"Flywheel paid access: {row.offer_slug}"[:400],
        ),
        key=f"paid-access:{row.uid}:{row.changes}",
        community_id=row.community_id,
    )


async def revoke_all(session: AsyncSession, clock: Clock, member_id: int) -> int:
    """Queue a revoke of every access a member's paid access holds (erasing them: once their
    identities are forgotten nothing could take it back); return how many were queued."""
    granted = list(
        await session.scalars(
            select(PaidAccess)
            .where(PaidAccess.member_id == member_id, PaidAccess.granted.is_(True))
            .order_by(PaidAccess.id)
        )
    )
    done: set[str] = set()
    for row in granted:
        if row.access not in done:
            done.add(row.access)
            held = _Held(
                row.id,
                row.uid,
                row.community_id,
                row.member_id,
                row.offer_slug,
                row.access,
                row.granted,
                row.reason,
                row.changes,
            )
            await _queue(session, clock, held, row.access, grant=False)
            row.changes = held.changes
        row.granted = False
    return len(done)
