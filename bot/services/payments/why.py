"""`/access why [member]`: a member's paid access explained from the records.

A member asks about themselves; moderators and owners about anyone. The answer is read,
never guessed: for each offer that grants access, what :func:`entitlements` decides now and
why, what Flywheel last decided (``paid_access``) and when, the delivery of the latest role
change (its outbox rows, with the platform's error verbatim), then the member's orders and
subscriptions as Stripe last stated them. :func:`why_lines` words it as neutral rich text
for both front ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import Forbidden
from bot.messages import Part, Rich, RoleChange, UnreadableEffect, bold, code, load, rich
from bot.models import Identity, Member, OutboxMessage, PaidAccess
from bot.offers import OfferSettings
from bot.services.callers import Actor, Role
from bot.services.payments.access import entitlements, member_payments

NOT_YOURS = "You can ask about your own access; moderators and owners can ask about any member's."
UNCONFIGURED = (
    "this offer is no longer in bot.toml, or grants no access any more; Flywheel does not "
    "revoke on a configuration change"
)
ERROR_SHOWN = 500  # characters of a platform's error shown (Discord pages cut longer lines)
# Currencies Stripe counts in whole units (no cents).
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)


@dataclass(frozen=True)
class Delivery:
    """One platform's outbox row of a role change: where it is, and what went wrong."""

    platform: str
    grant: bool
    status: str
    attempts: int
    last_error: str | None
    at: datetime


@dataclass(frozen=True)
class OfferAccess:
    """One offer that grants access: the decision now, the decision recorded, its delivery."""

    slug: str
    name: str
    access: str
    entitled: bool
    reason: str
    granted: bool | None  # None: no decision recorded (never granted)
    recorded_reason: str
    changed_at: datetime | None
    changes: int
    delivery: tuple[Delivery, ...]
    configured: bool = True  # False: the offer left bot.toml, or grants no access any more


@dataclass(frozen=True)
class OrderLine:
    """A Checkout Session of the member, as Stripe last stated it."""

    session_id: str
    offer: str | None
    session_status: str
    payment_status: str
    amount_total: int | None
    currency: str | None
    amount_refunded: int
    dispute_status: str | None
    created_at: datetime


@dataclass(frozen=True)
class SubscriptionLine:
    """A subscription of the member, as Stripe last stated it."""

    subscription_id: str
    offer: str | None
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    past_due_since: datetime | None


@dataclass(frozen=True)
class AccessReport:
    """Everything `/access why` shows about one member."""

    member_id: int | None
    name: str
    yourself: bool
    offers: tuple[OfferAccess, ...]
    orders: tuple[OrderLine, ...]
    subscriptions: tuple[SubscriptionLine, ...]


async def role_deliveries(session: AsyncSession, member_id: int) -> dict[str, tuple[Delivery, ...]]:
    """Return, per paid_access uid of the member, the outbox rows of its latest role change.

    Reads the rows keyed ``paid-access:<uid>:<n>:…`` and keeps the highest ``n``; of its rows,
    the newest per platform and space (a rejoin queues the change ``n`` again, and the earlier
    row, sent or dead when the member had left, no longer says where things stand).
    This is the one place `/access why` reads delivery state from: a diagnosis of why a
    grant fails (``access_state``) can take its place.
    """
    uids = list(
        await session.scalars(select(PaidAccess.uid).where(PaidAccess.member_id == member_id))
    )
    found: dict[str, tuple[int, dict[tuple[str, str], Delivery]]] = {}
    for uid in uids:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.like(f"paid-access:{uid}:%"))
            .order_by(OutboxMessage.id)
        )
        for row in rows:
            number = row.key.split(":")[2]
            if not number.isdigit():
                continue
            try:
                effect = load(row.payload)
            except UnreadableEffect:
                continue
            grant = effect.grant if isinstance(effect, RoleChange) else False
            delivery = Delivery(
                platform=row.platform,
                grant=grant,
                status="blocked" if row.status == "pending" and row.blocked_at else str(row.status),
                attempts=row.attempts,
                last_error=row.last_error,
                at=row.sent_at or row.created_at,
            )
            latest = found.get(uid)
            where = (row.platform, row.target)
            if latest is None or int(number) > latest[0]:
                found[uid] = (int(number), {where: delivery})
            elif int(number) == latest[0]:
                latest[1][where] = delivery  # rows come oldest first: the newest stays
    return {uid: tuple(deliveries.values()) for uid, (_, deliveries) in found.items()}


async def _member_in_space(session: AsyncSession, actor: Actor, user_id: str) -> int | None:
    """Return the member behind a user of the actor's own space, without creating one."""
    return await session.scalar(
        select(Member.id)
        .join(Identity, Identity.member_id == Member.id)
        .where(
            Identity.platform == actor.space.platform,
            Identity.space_id == actor.space.space_id,
            Identity.user_id == user_id,
            Member.erased_at.is_(None),
        )
    )


async def explain_access(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    actor: Actor,
    *,
    user_id: str | None = None,
    name: str | None = None,
) -> AccessReport:
    """Return the paid access of the actor, or (moderators) of the user ``user_id`` of their
    space, explained from the records."""
    if user_id is None or user_id == actor.caller.user_id:
        return await explain_member(session, clock, offers, actor.member_id, "you", yourself=True)
    if actor.caller.role < Role.MODERATOR:
        raise Forbidden(NOT_YOURS)
    shown = name or "that member"
    member_id = await _member_in_space(session, actor, user_id)
    if member_id is None:  # never seen here: no records at all
        return AccessReport(None, shown, False, (), (), ())
    return await explain_member(session, clock, offers, member_id, shown, yourself=False)


async def explain_member(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    member_id: int,
    name: str,
    *,
    yourself: bool,
) -> AccessReport:
    """Return a member's paid access explained from the records (no permission check)."""
    decided = await entitlements(session, clock, offers, member_id)
    rows = {
        row.offer_slug: row
        for row in await session.scalars(
            select(PaidAccess).where(PaidAccess.member_id == member_id)
        )
    }
    deliveries = await role_deliveries(session, member_id)
    shown: list[OfferAccess] = []
    for item in decided:
        row = rows.get(item.offer_slug)
        shown.append(
            OfferAccess(
                slug=item.offer_slug,
                name=offers[item.offer_slug].name,
                access=item.access,
                entitled=item.entitled,
                reason=item.reason,
                granted=row.granted if row is not None else None,
                recorded_reason=row.reason if row is not None else "",
                changed_at=row.changed_at if row is not None else None,
                changes=row.changes if row is not None else 0,
                delivery=deliveries.get(row.uid, ()) if row is not None else (),
            )
        )
    decided_slugs = {item.offer_slug for item in decided}
    for slug, row in sorted(rows.items()):
        if slug in decided_slugs:
            continue
        # An offer taken out of bot.toml (or no longer granting access): Flywheel does not
        # revoke on a configuration change, so what was granted stays until an owner acts.
        shown.append(
            OfferAccess(
                slug=slug,
                name=slug,
                access=row.access,
                entitled=False,
                reason=UNCONFIGURED,
                granted=row.granted,
                recorded_reason=row.reason,
                changed_at=row.changed_at,
                changes=row.changes,
                delivery=deliveries.get(row.uid, ()),
                configured=False,
            )
        )
    orders, subscriptions = await member_payments(session, member_id)
    return AccessReport(
        member_id=member_id,
        name=name,
        yourself=yourself,
        offers=tuple(shown),
        orders=tuple(
            OrderLine(
                o.session_id,
                o.offer_slug,
                o.session_status,
                o.payment_status,
                o.amount_total,
                o.currency,
                o.amount_refunded,
                o.dispute_status,
                o.created_at,
            )
            for o in orders
        ),
        subscriptions=tuple(
            SubscriptionLine(
                s.subscription_id,
                s.offer_slug,
                s.status,
                s.current_period_end,
                s.cancel_at_period_end,
                s.past_due_since,
            )
            for s in subscriptions
        ),
    )


# ------------------------------------------------------------------------------ words


def money(amount: int | None, currency: str | None) -> str:
    """Return an amount in Stripe's minor units as people write it (12.00 EUR)."""
    if amount is None:
        return "amount unknown"
    unit = (currency or "").lower()
    if unit in ZERO_DECIMAL:
        return f"{amount} {unit.upper()}"
    return f"{amount / 100:.2f} {unit.upper()}".rstrip()


def when(moment: datetime) -> str:
    """Return a time as `/access why` shows it (UTC)."""
    return f"{moment:%d %b %Y %H:%M} UTC"


def _delivery(item: Delivery) -> Rich:
    what = "grant" if item.grant else "revoke"
    tries = f"{item.attempts} attempt{'s' if item.attempts != 1 else ''}"
    parts: list[Part] = [f"    {item.platform}: {what} {item.status} ({tries}, {when(item.at)})"]
    if item.last_error:
        parts += [": ", item.last_error[:ERROR_SHOWN]]
    return rich(*parts)


def _offer_lines(item: OfferAccess) -> list[Rich]:
    state = "entitled" if item.entitled else "not entitled"
    found = [rich(bold(item.name), f" ({item.slug}, access ", code(item.access), f"): {state}")]
    found.append(rich(f"    Why: {item.reason}."))
    if item.granted is None:
        found.append(rich("    Decision: never granted."))
    else:
        said = "granted" if item.granted else "not granted"
        at = f" since {when(item.changed_at)}" if item.changed_at else ""
        count = f"{item.changes} role change{'s' if item.changes != 1 else ''} queued"
        found.append(rich(f"    Decision: {said}{at} ({count})."))
        if item.recorded_reason and item.recorded_reason != item.reason:
            found.append(rich(f"    Recorded: {item.recorded_reason}."))
        if item.granted != item.entitled and item.configured:
            found.append(
                rich("    The records and the decision differ: the next refresh brings it in line.")
            )
    if item.delivery:
        found.append(rich("    Latest role change:"))
        found += [_delivery(d) for d in item.delivery]
    elif item.granted is not None:
        found.append(
            rich(
                "    Latest role change: no outbox record left (sent ones are pruned after "
                "[outbox] retention_days)."
            )
        )
    return found


def _order_line(order: OrderLine) -> Rich:
    parts = [
        f" · {order.offer or 'unknown offer'} · {order.session_status}/{order.payment_status}"
        f" · {money(order.amount_total, order.currency)}"
    ]
    if order.amount_refunded:
        parts.append(f" · refunded {money(order.amount_refunded, order.currency)}")
    if order.dispute_status:
        parts.append(f" · dispute {order.dispute_status}")
    parts.append(f" · {when(order.created_at)}")
    return rich(code(order.session_id), "".join(parts))


def _subscription_line(sub: SubscriptionLine) -> Rich:
    parts = [f" · {sub.offer or 'unknown offer'} · {sub.status}"]
    if sub.current_period_end is not None:
        parts.append(f" · period ends {when(sub.current_period_end)}")
    if sub.cancel_at_period_end:
        parts.append(" · cancels at period end")
    if sub.past_due_since is not None:
        parts.append(f" · past due since {when(sub.past_due_since)}")
    return rich(code(sub.subscription_id), "".join(parts))


def why_lines(report: AccessReport) -> list[Rich]:
    """Return the report as lines of neutral rich text (each front end renders and pages them)."""
    whose = "Your paid access" if report.yourself else f"Paid access of {report.name}"
    found = [rich(bold(whose))]
    if report.member_id is None:
        found.append(
            rich(f"Flywheel has no records of {report.name}: no orders, no subscriptions.")
        )
        return found
    if not report.offers:
        found.append(rich("No offer grants access here (no [offers.<slug>] with an access key)."))
    for item in report.offers:
        found += _offer_lines(item)
    found.append(rich(bold(f"Orders ({len(report.orders)})")))
    found += [_order_line(o) for o in report.orders] or [rich("None.")]
    found.append(rich(bold(f"Subscriptions ({len(report.subscriptions)})")))
    found += [_subscription_line(s) for s in report.subscriptions] or [rich("None.")]
    return found
