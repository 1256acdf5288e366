"""Offers as members and owners see them (`/offer list|show`, `/buy`): read from bot.toml."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import NotFound
from bot.inputs import shorten
from bot.offers import OfferSettings


@dataclass(frozen=True)
class OfferView:
    """One offer, as bot.toml states it (amounts and currencies live in Stripe)."""

    slug: str
    name: str
    description: str
    price: str
    mode: str
    access: str | None
    grace_days: int
    members_only: bool


def view_of(slug: str, offer: OfferSettings) -> OfferView:
    """Return the view of one configured offer."""
    return OfferView(
        slug=slug,
        name=offer.name,
        description=offer.description,
        price=offer.price,
        mode=offer.mode,
        access=offer.access,
        grace_days=offer.grace_days,
        members_only=offer.members_only,
    )


def list_offers(offers: dict[str, OfferSettings]) -> list[OfferView]:
    """Return every configured offer, by slug."""
    return [view_of(slug, offers[slug]) for slug in sorted(offers)]


def find_offer(offers: dict[str, OfferSettings], slug: str) -> OfferView:
    """Return the offer named by slug (or by its name), or raise NotFound listing the offers."""
    wanted = slug.strip().casefold()
    for key in sorted(offers):
        if wanted in (key, offers[key].name.casefold()):
            return view_of(key, offers[key])
    known = ", ".join(sorted(offers)) or "none yet: an owner adds [offers.<slug>] to bot.toml"
    raise NotFound(f"There is no offer {shorten(slug)!r}; the offers are: {known}.")
