"""Reading Stripe objects and matching them to offers and members (shared by the handlers).

Stripe objects arrive signed but are still read defensively: a field of an unexpected type
is treated as absent, never as a crash that would make Stripe retry for days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Member
from bot.models.payments import STRIPE_ID
from bot.offers import OfferSettings
from bot.services.identities import member_of_public_id

OFFER_KEY = "flywheel_offer"
MEMBER_KEY = "flywheel_member"
# A public id is 24 characters at most (members.uid); anything longer names no member.
MAX_PUBLIC_ID = 24


def text(obj: Mapping[str, Any], key: str) -> str | None:
    """Return ``obj[key]`` when it is a non-empty string, else None."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def number(obj: Mapping[str, Any], key: str) -> int | None:
    """Return ``obj[key]`` when it is a whole number (not a bool), else None."""
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def child(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Return ``obj[key]`` when it is an object, else an empty one."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def object_id(obj: Mapping[str, Any], key: str) -> str | None:
    """Return an id field, whether Stripe sent the id or the expanded object (None when it is
    longer than a Stripe id can be)."""
    value = obj.get(key)
    found = text(value, "id") if isinstance(value, dict) else value
    return found if isinstance(found, str) and 0 < len(found) <= STRIPE_ID else None


# The largest timestamp a datetime holds (9999-12-31); amounts fit a 32-bit integer column.
MAX_SECONDS = 253_402_300_799
MAX_AMOUNT = 2**31 - 1


def moment(seconds: int | None) -> datetime | None:
    """Return a Stripe timestamp (unix seconds) as an aware datetime (None if impossible)."""
    if seconds is None or not 0 <= seconds <= MAX_SECONDS:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def amount(obj: Mapping[str, Any], key: str) -> int | None:
    """Return ``obj[key]`` when it is an amount in the smallest unit (0 … 2**31 - 1)."""
    value = number(obj, key)
    return value if value is not None and 0 <= value <= MAX_AMOUNT else None


def metadata_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """Return an object's metadata, string values only."""
    return {k: v for k, v in child(obj, "metadata").items() if isinstance(v, str)}


def offer_for(
    offers: dict[str, OfferSettings], metadata: Mapping[str, str], prices: Iterable[str] = ()
) -> str | None:
    """Return the offer the metadata names, else the offer sold at one of these prices."""
    named = metadata.get(OFFER_KEY)
    if named in offers:
        return named
    wanted = set(prices)
    return next((slug for slug in sorted(offers) if offers[slug].price in wanted), None)


async def member_for(
    session: AsyncSession,
    community_id: int,
    metadata: Mapping[str, str],
    *,
    reference: str | None = None,
    customer_id: str | None = None,
) -> int | None:
    """Return the member a Stripe object names (public id in metadata or client_reference_id),
    else the member whose Stripe customer it is, else None."""
    for uid in (metadata.get(MEMBER_KEY), reference):
        if uid and len(uid) <= MAX_PUBLIC_ID:
            found = await member_of_public_id(session, uid, community_id)
            if found is not None:
                return found
    if customer_id:
        by_customer: int | None = await session.scalar(
            select(Member.id)
            .where(
                Member.community_id == community_id,
                Member.stripe_customer_id == customer_id,
                Member.erased_at.is_(None),
            )
            .order_by(Member.id)
            .limit(1)
        )
        return by_customer
    return None


async def remember_customer(session: AsyncSession, member_id: int, customer_id: str | None) -> None:
    """Give a member their Stripe customer id when they have none yet (the billing portal)."""
    if customer_id:
        await session.execute(
            update(Member)
            .where(Member.id == member_id, Member.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer_id[:64])
        )
