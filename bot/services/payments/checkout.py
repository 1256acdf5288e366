"""Checkout: a member's personal buy links, and the Checkout Session a link opens.

``/buy`` hands a member one signed link per offer (:func:`buy_links`, purpose ``buy``,
carrying their public id and the offer). ``GET /buy/{offer}`` then, in three steps that
never hold a write transaction across a call to Stripe:

1. :func:`buyer_of` reads who the link names (a read-only session);
2. :func:`checkout_request` builds the Checkout Session's parameters as the payments
   contract states them, and :func:`open_session` creates it through stripe-python;
3. :func:`record_opened` inserts the order (``open``) unless the webhook got there first
   (insert-or-ignore on the order's unique community + session id).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.errors import NotFound
from bot.ids import new_uid
from bot.links import LinkRefused, expiry, sign, verify
from bot.models import Member, Order
from bot.offers import OfferSettings
from bot.payments import StripeGateway
from bot.services.callers import Actor
from bot.services.identities import member_of_public_id, public_id
from bot.services.payments.offers import OfferView, find_offer, list_offers
from bot.settings import Settings

LINK_PURPOSE = "buy"
LINK_DAYS = 7
# A second click within the same minute replays the first session instead of opening another.
IDEMPOTENCY_WINDOW_SECONDS = 60
NOTHING_TO_BUY = "There is nothing to buy yet: an owner adds offers as [offers.<slug>] in bot.toml."


@dataclass(frozen=True)
class BuyLink:
    """A member's personal link to one offer."""

    offer: OfferView
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Buyer:
    """The member a verified link names, with what Stripe may already know of them."""

    member_id: int
    uid: str
    email: str | None
    customer_id: str | None


@dataclass(frozen=True)
class CheckoutRequest:
    """The parameters of one Checkout Session and the idempotency key to create it with."""

    params: dict[str, Any]
    idempotency_key: str | None


@dataclass(frozen=True)
class OpenedSession:
    """What Flywheel keeps of a Checkout Session it just created."""

    session_id: str
    url: str
    created: datetime
    amount_total: int | None
    currency: str | None
    customer_id: str | None
    customer_email: str | None


def buy_path(slug: str) -> str:
    """Return the path of an offer's checkout route."""
    return f"/buy/{slug}"


def _base(public_url: str) -> str:
    return public_url.rstrip("/")


async def buy_links(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    settings: Settings,
    offer: str | None = None,
) -> list[BuyLink]:
    """Return the caller's personal link to one offer, or to every offer when none is named."""
    offers = settings.offers
    key = settings.secrets.FLYWHEEL_SECRET_KEY
    secret = key.get_secret_value() if key else None
    public_url = settings.web.public_url
    if not offers:
        raise NotFound(NOTHING_TO_BUY)
    chosen = [find_offer(offers, offer)] if offer else list_offers(offers)
    uid = await public_id(session, actor.member_id)
    expires_at = expiry(clock.now(), LINK_DAYS)
    links = []
    for view in chosen:
        token = sign(
            secret, purpose=LINK_PURPOSE, member=uid, subject=view.slug, expires_at=expires_at
        )
        links.append(
            BuyLink(view, f"{_base(public_url)}{buy_path(view.slug)}?m={token}", expires_at)
        )
    return links


async def buyer_of(
    session: AsyncSession,
    clock: Clock,
    *,
    secret: str | None,
    token: str,
    offer_slug: str,
    community_id: int,
) -> Buyer:
    """Return the member a buy link names; raise LinkRefused for a bad, expired or stray link."""
    claims = verify(secret, token, purpose=LINK_PURPOSE, now=clock.now())
    if claims.subject != offer_slug:
        raise LinkRefused(
            "This link is for another offer: use the link the bot gave you for this one.",
            field="m",
            code="link.other_offer",
        )
    member_id = await member_of_public_id(session, claims.member, community_id)
    if member_id is None:
        raise LinkRefused(
            "This link names nobody in the community any more: ask the bot for a new one.",
            field="m",
            code="link.unknown_member",
        )
    found = (
        await session.execute(
            select(Member.uid, Member.email, Member.stripe_customer_id).where(
                Member.id == member_id
            )
        )
    ).one()
    return Buyer(member_id, found.uid or claims.member, found.email, found.stripe_customer_id)


def checkout_request(
    slug: str,
    offer: OfferSettings,
    buyer: Buyer | None,
    *,
    community_slug: str,
    public_url: str,
    now: datetime,
) -> CheckoutRequest:
    """Return the Checkout Session parameters of the payments contract for this buyer."""
    page = f"{_base(public_url)}{buy_path(slug)}"
    metadata = {"flywheel_offer": slug, "flywheel_community": community_slug}
    params: dict[str, Any] = {
        "mode": offer.mode,
        "line_items": [{"price": offer.price, "quantity": 1}],
        "success_url": offer.success_url or f"{page}/thanks?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": offer.cancel_url or f"{page}/canceled",
    }
    key = None
    if buyer is not None:
        metadata["flywheel_member"] = buyer.uid
        params["client_reference_id"] = buyer.uid
        if buyer.customer_id:
            params["customer"] = buyer.customer_id
        elif buyer.email:
            params["customer_email"] = buyer.email
        window = int(now.timestamp()) // IDEMPOTENCY_WINDOW_SECONDS
        key = f"flywheel-buy:{community_slug}:{slug}:{buyer.uid}:{window}"
    # An anonymous buyer gets no key of ours: two strangers in one minute are two sessions
    # (stripe-python still retries a failed POST with a key of its own).
    if offer.mode == "payment" and "customer" not in params:
        # A one-time payment makes no Stripe customer by default; without one the buyer has
        # no billing page (/billing) and their next purchase is not recognised by customer.
        params["customer_creation"] = "always"
    params["metadata"] = metadata
    if offer.mode == "subscription":
        params["subscription_data"] = {"metadata": dict(metadata)}
    if offer.allow_promotion_codes:
        params["allow_promotion_codes"] = True
    if key is not None:
        # Stripe refuses a key replayed with other parameters (an email learnt, bot.toml
        # edited in between): those are another session, so they get another key.
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        key = f"{key}:{digest[:16]}"
    return CheckoutRequest(params, key)


async def open_session(gateway: StripeGateway, request: CheckoutRequest) -> OpenedSession:
    """Create the Checkout Session in Stripe (errors are stripe-python's own)."""
    options: dict[str, Any] = {}
    if request.idempotency_key:
        options["idempotency_key"] = request.idempotency_key
    created = await gateway.client.v1.checkout.sessions.create_async(
        params=request.params,  # type: ignore[arg-type]  # built to the contract, not the TypedDict
        options=options,  # type: ignore[arg-type]
    )
    if not created.url:
        raise RuntimeError(f"Stripe returned the Checkout Session {created.id} without a url")
    return OpenedSession(
        session_id=created.id,
        url=created.url,
        created=datetime.fromtimestamp(created.created, UTC),
        amount_total=created.amount_total,
        currency=created.currency,
        customer_id=_id_of(created.customer),
        customer_email=created.customer_email,
    )


def _id_of(value: Any) -> str | None:
    """Return an expandable field's id (a string, or an object with ``id``)."""
    if value is None or isinstance(value, str):
        return value
    found = getattr(value, "id", None)
    return found if isinstance(found, str) else None


async def record_opened(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    offer_slug: str,
    offer: OfferSettings,
    buyer: Buyer | None,
    opened: OpenedSession,
) -> bool:
    """Insert the open order of a new session; return False when it was already recorded."""
    now = clock.now()
    values: Mapping[str, Any] = {
        "community_id": community_id,
        "session_id": opened.session_id,
        "offer_slug": offer_slug,
        "member_id": buyer.member_id if buyer else None,
        "mode": offer.mode,
        "session_status": "open",
        "payment_status": "unpaid",
        "amount_total": opened.amount_total,
        "currency": opened.currency,
        "customer_id": opened.customer_id,
        "customer_email": opened.customer_email,
        "client_reference_id": buyer.uid if buyer else None,
        "matched": buyer is not None,
        "created_at": opened.created,
        "updated_at": now,
    }
    inserted = await session.execute(
        dialect_insert(session, Order)
        .values(uid=new_uid(), **values)
        .on_conflict_do_nothing(index_elements=["community_id", "session_id"])
        .returning(Order.id)
    )
    return inserted.scalar() is not None
