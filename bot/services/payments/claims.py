"""`/link purchase <email>`: a buyer who paid from a plain link claims the purchase.

The member types the email they paid with. Flywheel never says whether a purchase with that
email exists (that would let anyone test addresses); it DMs the member a confirmation for
each paid, unclaimed order of the community with that checkout email, with a button
"Yes, this was my purchase" carrying the order's public uid. Each attempt is audited
(``payments.purchase_claim``, the orders offered in its detail, never the email) and at most
:data:`DAILY_ATTEMPTS` are allowed a day. The click is checked again: the clicker must be a
member who was offered that order by an attempt of theirs, and the order must still be
unclaimed. Then the order (and its subscription) becomes the member's, their Stripe customer
is remembered if they had none, and paid access is refreshed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import Invalid, LimitReached, NotFound
from bot.messages import Button, DirectMessage, bold, lines, rich
from bot.models import AuditEntry, Identity, Member, Order, PlatformSpace, Subscription
from bot.offers import OfferSettings
from bot.outbox import send
from bot.services.audit import audit, record_audit
from bot.services.callers import Actor
from bot.services.payments.access import AccessChange, refresh
from bot.services.payments.why import money

CLAIM_ACTION = "payments.purchase_claim"
LINKED_ACTION = "payments.purchase_linked"
CLAIM_BUTTON = "purchase-claim:"
DAILY_ATTEMPTS = 5
OFFER_WINDOW = timedelta(days=7)  # a confirmation button works this long after its DM
MAX_DMS = 5  # orders offered per attempt
EMAIL_LENGTH = 254
# One @, something before it, a dot in the domain, no spaces: the shape, not deliverability.
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+")
TOLD = (
    "If a purchase with that email is waiting to be claimed, I've sent you a DM to confirm it. "
    "Nothing in your DMs? Check the email is the one you paid with, and allow DMs from this "
    "community."
)


@dataclass(frozen=True)
class ClaimAsked:
    """What the member is told after asking (the same whatever was found)."""

    told: str
    attempts_left: int


@dataclass(frozen=True)
class ClaimConfirmed:
    """A purchase now linked to the member, and the access it changed."""

    offer: str | None
    amount: str
    changes: tuple[AccessChange, ...]


def claim_button_id(order_uid: str) -> str:
    """Return the confirmation button's id for an order."""
    return f"{CLAIM_BUTTON}{order_uid}"


def order_of_button(button_id: str) -> str | None:
    """Return the order uid a confirmation button names, or None for another id."""
    uid = button_id.removeprefix(CLAIM_BUTTON)
    if uid == button_id or not re.fullmatch(r"[0-9a-f]{16}", uid):
        return None
    return uid


def check_email(typed: str) -> str:
    """Return the typed email trimmed and lower-cased, or raise Invalid saying what to type."""
    email = typed.strip()
    if not email:
        raise Invalid(
            "Give the email you paid with, like name@example.com.",
            field="email",
            code="email.missing",
        )
    if len(email) > EMAIL_LENGTH or not EMAIL.fullmatch(email) or not email.isprintable():
        raise Invalid(
            "That doesn't look like an email address; give the one you paid with, like "
            "name@example.com.",
            field="email",
            code="email.shape",
        )
    return email.lower()


async def _recent_claims(
    session: AsyncSession, member_id: int, since: datetime
) -> list[AuditEntry]:
    return list(
        await session.scalars(
            select(AuditEntry).where(
                AuditEntry.about_member_id == member_id,
                AuditEntry.action == CLAIM_ACTION,
                AuditEntry.at > since,
            )
        )
    )


async def claim_purchase(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    actor: Actor,
    typed_email: str,
) -> ClaimAsked:
    """DM the member a confirmation for each unclaimed paid order with this checkout email."""
    email = check_email(typed_email)
    now = clock.now()
    # Lock the member: two attempts at once must not both slip under the daily limit.
    await session.scalar(select(Member.id).where(Member.id == actor.member_id).with_for_update())
    earlier = len(await _recent_claims(session, actor.member_id, now - timedelta(days=1)))
    if earlier >= DAILY_ATTEMPTS:
        raise LimitReached(
            f"You've asked {DAILY_ATTEMPTS} times in the last 24 hours; try again tomorrow."
        )
    found = list(
        await session.scalars(
            select(Order)
            .where(
                Order.community_id == actor.community_id,
                Order.member_id.is_(None),
                Order.payment_status.in_(("paid", "no_payment_required")),
                func.lower(Order.customer_email) == email,
            )
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(MAX_DMS)
        )
    )
    attempt = earlier + 1
    await audit(
        session,
        clock,
        actor,
        CLAIM_ACTION,
        detail={"orders": [order.uid for order in found], "attempt": attempt},
        about_member_id=actor.member_id,
    )
    for order in found:
        offer = offers.get(order.offer_slug or "")
        what = offer.name if offer is not None else "a purchase"
        await send(
            session,
            clock,
            DirectMessage(
                member_id=actor.member_id,
                platform=actor.caller.platform,
                body=lines(
                    rich(
                        "You asked to claim a purchase made with your email: ",
                        bold(what),
                        f", {money(order.amount_total, order.currency)}, "
                        f"on {order.created_at:%d %b %Y}.",
                    ),
                    rich(
                        "Was this yours? Press the button and it is linked to you here "
                        "(with any access it gives). If not, ignore this message."
                    ),
                ),
                buttons=(
                    Button(
                        id=claim_button_id(order.uid),
                        label="Yes, this was my purchase",
                        style="primary",
                    ),
                ),
            ),
            key=f"purchase-claim:{order.uid}:{actor.member_id}:{now:%Y%m%d}:{attempt}",
            community_id=actor.community_id,
        )
    return ClaimAsked(TOLD, DAILY_ATTEMPTS - attempt)


async def member_of_identity(
    session: AsyncSession, community_id: int, platform: str, user_id: str
) -> int | None:
    """Return the member a platform account is in this community (a DM has no server)."""
    return await session.scalar(
        select(Identity.member_id)
        .join(PlatformSpace, PlatformSpace.id == Identity.space_id)
        .where(
            PlatformSpace.community_id == community_id,
            Identity.platform == platform,
            Identity.user_id == user_id,
        )
        .order_by(Identity.id)
        .limit(1)
    )


async def confirm_claim(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    *,
    community_id: int,
    member_id: int | None,
    button_id: str,
) -> ClaimConfirmed:
    """Link the order a confirmation button names to the member who was offered it."""
    uid = order_of_button(button_id)
    gone = NotFound(
        "This purchase can't be claimed any more: it was claimed already, or this "
        "confirmation expired. Ask again with the purchase command if it's yours."
    )
    if uid is None or member_id is None:
        raise gone
    now = clock.now()
    offered = any(
        uid in (entry.detail or {}).get("orders", [])
        for entry in await _recent_claims(session, member_id, now - OFFER_WINDOW)
    )
    order = await session.scalar(
        select(Order).where(Order.uid == uid, Order.community_id == community_id)
    )
    if not offered or order is None:
        raise gone
    if order.member_id == member_id:
        raise Invalid("This purchase is already linked to you; nothing changed.", code="claimed")
    # Conditional, so two clicks (or two members) at once link it once.
    claimed = await session.scalar(
        update(Order)
        .where(Order.id == order.id, Order.member_id.is_(None))
        .values(member_id=member_id, matched=order.offer_slug is not None, updated_at=now)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if claimed is None:
        raise gone
    await session.refresh(order)
    member = await session.get(Member, member_id, with_for_update=True)
    assert member is not None
    if order.customer_id and not member.stripe_customer_id:
        member.stripe_customer_id = order.customer_id
    if order.subscription_id:
        await session.execute(
            update(Subscription)
            .where(
                Subscription.community_id == community_id,
                Subscription.subscription_id == order.subscription_id,
                Subscription.member_id.is_(None),
            )
            .values(member_id=member_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    await record_audit(
        session,
        clock,
        community_id=community_id,
        actor_member_id=member_id,
        action=LINKED_ACTION,
        target=f"order:{order.uid}",
        about_member_id=member_id,
    )
    changes = await refresh(session, clock, offers, community_id=community_id, member_id=member_id)
    offer = offers.get(order.offer_slug or "")
    return ClaimConfirmed(
        offer=offer.name if offer is not None else None,
        amount=money(order.amount_total, order.currency),
        changes=tuple(changes),
    )
