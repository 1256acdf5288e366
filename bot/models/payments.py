"""Payments: Stripe events seen, orders (one per Checkout Session), subscriptions, paid access.

Stripe is the source of truth for what was paid; these rows are what Flywheel knows of it,
kept convergent whatever order webhooks arrive in (bot/services/payments/). Every Stripe id
is unique per community, so a repeated event or a reconcile run finds the row it changes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base
from bot.ids import new_uid

STRIPE_ID = 255  # Stripe documents ids as strings of at most 255 characters


class StripeEvent(Base):
    """A Stripe event processed once: the row is written in the transaction that processed it."""

    __tablename__ = "stripe_events"
    __table_args__ = (UniqueConstraint("community_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(STRIPE_ID))
    type: Mapped[str] = mapped_column(String(80))
    # The id of the object the event is about (cs_…, sub_…, in_…, ch_…, dp_…).
    object_id: Mapped[str] = mapped_column(String(STRIPE_ID), default="")
    # When Stripe created the event, and when Flywheel processed it.
    created: Mapped[datetime]
    processed_at: Mapped[datetime]
    # "webhook" or "reconcile": how the event reached Flywheel.
    via: Mapped[str] = mapped_column(String(16), default="webhook")


class Order(Base):
    """One Checkout Session, from creation (``open``) to paid, expired, refunded or disputed.

    The session's own facets are kept as Stripe states them (``session_status``:
    open/complete/expired; ``payment_status``: unpaid/paid/no_payment_required, or ``failed``
    once an async payment failed) and only ever move forward, so a late or repeated snapshot
    cannot undo a later one. Refunds and disputes arrive on the charge: ``amount_refunded``
    keeps the largest refunded amount seen, ``dispute_status`` the dispute's latest status.
    ``offer_slug`` or ``member_id`` is empty when the session names an offer or member
    Flywheel does not know: the order is kept (``matched`` False) and shown to the owner.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("community_id", "session_id"),
        Index("ix_orders_member", "member_id"),
        Index("ix_orders_community_created", "community_id", "created_at"),
        Index("ix_orders_payment_intent", "payment_intent_id"),
        Index("ix_orders_subscription", "subscription_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(STRIPE_ID))
    offer_slug: Mapped[str | None] = mapped_column(String(40))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    mode: Mapped[str] = mapped_column(String(16))
    session_status: Mapped[str] = mapped_column(String(16), default="open")
    payment_status: Mapped[str] = mapped_column(String(24), default="unpaid")
    amount_total: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    customer_id: Mapped[str | None] = mapped_column(String(STRIPE_ID))
    # The buyer's email as Stripe holds it (customer_details.email): matched by /link purchase.
    customer_email: Mapped[str | None] = mapped_column(String(320), info={"member_text": True})
    payment_intent_id: Mapped[str | None] = mapped_column(String(STRIPE_ID))
    charge_id: Mapped[str | None] = mapped_column(String(STRIPE_ID))
    subscription_id: Mapped[str | None] = mapped_column(String(STRIPE_ID))
    client_reference_id: Mapped[str | None] = mapped_column(String(200))
    amount_refunded: Mapped[int] = mapped_column(default=0)
    dispute_status: Mapped[str | None] = mapped_column(String(32))
    matched: Mapped[bool] = mapped_column(default=False)
    # Stripe's session.created; when Flywheel first saw it paid; when it last changed.
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Subscription(Base):
    """A Stripe subscription as Flywheel last knew it.

    ``status`` is Stripe's (incomplete, trialing, active, past_due, unpaid, canceled,
    incomplete_expired, paused). ``version`` is the ``created`` time of the event whose
    snapshot was applied: an older snapshot never replaces a newer one, and a final status
    (canceled, incomplete_expired) is never left, whatever arrives after it.
    ``past_due_since`` starts the offer's grace period.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("community_id", "subscription_id"),
        Index("ix_subscriptions_member", "member_id"),
        Index("ix_subscriptions_customer", "customer_id"),
        Index("ix_subscriptions_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    subscription_id: Mapped[str] = mapped_column(String(STRIPE_ID))
    customer_id: Mapped[str | None] = mapped_column(String(STRIPE_ID))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    offer_slug: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(24))
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    past_due_since: Mapped[datetime | None]
    version: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaidAccess(Base):
    """The access an offer gives a member, as Flywheel last decided it (granted or not).

    One row per (member, offer). It changes only when the decision changes, and each change
    queues one ``RoleChange`` (keyed by ``uid`` and ``changes``); ``reason`` says why in words
    an owner can read (``/access why``). A member who rejoins while ``granted`` gets the
    access back.
    """

    __tablename__ = "paid_access"
    __table_args__ = (UniqueConstraint("member_id", "offer_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    offer_slug: Mapped[str] = mapped_column(String(40))
    access: Mapped[str] = mapped_column(String(40))
    granted: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(300), default="")
    changes: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[datetime]
