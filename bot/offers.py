"""What a community sells (``[offers.<slug>]``) and how Flywheel reaches Stripe (``[stripe]``).

Pure settings, validated when bot.toml is read: an offer names a Stripe price, a mode, the
pages Stripe sends the buyer back to, and optionally the access a payment grants.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.destinations import checked_access_key

OFFER_SLUG = r"^[a-z][a-z0-9-]{0,39}$"
PRICE_ID = r"^price_[A-Za-z0-9_]{1,200}$"
PAGE_URL = r"^https?://[^\s<>\"]+$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OfferSettings(_Section):
    """One ``[offers.<slug>]`` table: a Stripe price sold through Checkout."""

    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=300)
    # The Stripe price id (price_…): its amount, currency and interval live in Stripe.
    price: str = Field(pattern=PRICE_ID)
    # "payment" (once) or "subscription" (recurring): must match the price's type in Stripe.
    mode: Literal["payment", "subscription"] = "payment"
    # Where Stripe sends the buyer afterwards; empty: Flywheel's own thank-you / canceled page.
    success_url: str | None = Field(default=None, pattern=PAGE_URL)
    cancel_url: str | None = Field(default=None, pattern=PAGE_URL)
    # A neutral access key of [discord.access] / [slack.access], held while paid.
    access: str | None = None
    # Days a subscription whose renewal failed keeps its access before it is revoked.
    grace_days: int = Field(default=3, ge=0, le=60)
    # Only members (through their signed /buy link) may buy; a plain link is refused.
    members_only: bool = False
    # Let buyers type a promotion code on Stripe's page.
    allow_promotion_codes: bool = False

    @field_validator("access")
    @classmethod
    def _access_key(cls, value: str | None) -> str | None:
        return checked_access_key(value)


class StripeSettings(_Section):
    """How Flywheel talks to Stripe (the key and webhook secret come from the environment)."""

    # Stripe's API address; only the sandbox (tests, `flywheel demo`) changes it.
    api_base: str = Field(default="https://api.stripe.com", pattern=r"^https?://\S+$")
    # Seconds one API call may take before the buyer sees the friendly error page.
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # How old a webhook signature may be (Stripe's libraries default to 300 s).
    webhook_tolerance_seconds: int = Field(default=300, ge=30, le=3600)
    # How many days back `flywheel reconcile` and the nightly job read Stripe.
    reconcile_days: int = Field(default=3, ge=1, le=30)
    # The local hour (community time zone) the nightly reconcile runs.
    reconcile_hour: int = Field(default=4, ge=0, le=23)


def check_offer_slugs(offers: dict[str, OfferSettings], mapped: set[str]) -> None:
    """Raise ValueError naming the first bad offer table: its slug, or an unmapped access key."""
    for slug, offer in offers.items():
        if not re.fullmatch(OFFER_SLUG, slug):
            raise ValueError(
                f"[offers.{slug[:40]}]: name the table with lower-case letters, digits and -, "
                "starting with a letter (e.g. [offers.pro-membership])"
            )
        if offer.access is not None and offer.access not in mapped:
            raise ValueError(
                f"offers.{slug}.access {offer.access!r} is not in [discord.access] or "
                "[slack.access]; map it to a role, user group or private channel there, "
                "or remove it"
            )
