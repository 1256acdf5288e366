"""The moments payments publish for other features (referrals, waitlists, stages, the owned space)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.events import Event, domain_event


@domain_event("payment.recorded")
@dataclass(frozen=True)
class PaymentRecorded(Event):
    """An order was paid (once per order, whatever repeats): the money is in."""

    community_id: int
    order_uid: str
    session_id: str
    member_id: int | None
    offer_slug: str | None
    amount: int | None
    currency: str | None
    # Stripe's checkout.session metadata as sent (referral code, waitlist entry, invitation).
    metadata: dict[str, str]


@domain_event("payment.reversed")
@dataclass(frozen=True)
class PaymentReversed(Event):
    """A paid order was taken back (refunded in full, or a dispute lost), once per order."""

    community_id: int
    order_uid: str
    session_id: str
    member_id: int | None
    offer_slug: str | None
    why: str  # "refunded" or "dispute_lost"
