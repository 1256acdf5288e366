"""A shop for payments tests: the Stripe sandbox with three priced offers, and their bot.toml.

``pro`` is a one-time price that allows promotion codes, ``club`` a monthly subscription and
``insiders`` a members-only one-time price whose name holds markup (pages must escape it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.runtime import Runtime
from bot.sandbox.stripe import StripeSandbox
from bot.settings import Settings

SECRET_KEY = "flywheel-test-secret-key-for-signed-links"
INSIDERS_NAME = "Insiders <b>& Co</b>"


@dataclass(frozen=True)
class Shop:
    """The Stripe sandbox and the price id of each offer slug."""

    stripe: StripeSandbox
    prices: dict[str, str]

    def toml(self) -> str:
        """Return the [stripe] and [offers.*] tables for bot.toml."""
        return (
            f'[stripe]\napi_base = "{self.stripe.api_base}"\ntimeout_seconds = 5\n'
            f'[offers.pro]\nname = "Pro Pack"\nprice = "{self.prices["pro"]}"\n'
            "allow_promotion_codes = true\n"
            f'[offers.club]\nname = "Supporters Club"\nprice = "{self.prices["club"]}"\n'
            'mode = "subscription"\n'
            f'[offers.insiders]\nname = "{INSIDERS_NAME}"\nprice = "{self.prices["insiders"]}"\n'
            "members_only = true\n"
        )

    def environ(self) -> dict[str, str]:
        """Return the secrets payments need."""
        return {"STRIPE_API_KEY": self.stripe.api_key, "FLYWHEEL_SECRET_KEY": SECRET_KEY}


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    """Start the Stripe sandbox with the three offers' products and prices."""
    stripe = StripeSandbox(webhook_backoff=0.01)
    await stripe.start()
    pro = stripe.add_product("Pro Pack")
    club = stripe.add_product("Supporters Club")
    insiders = stripe.add_product("Insiders")
    prices = {
        "pro": stripe.add_price(pro["id"], 2500)["id"],
        "club": stripe.add_price(club["id"], 500, recurring={"interval": "month"})["id"],
        "insiders": stripe.add_price(insiders["id"], 9900)["id"],
    }
    yield Shop(stripe, prices)
    await stripe.stop()


def with_public_url(runtime: Runtime, url: str) -> None:
    """Point the runtime's ``[web] public_url`` at the server a test just started."""
    settings: Settings = runtime.settings
    web = settings.file.web.model_copy(update={"public_url": url})
    runtime.settings = settings.model_copy(
        update={"file": settings.file.model_copy(update={"web": web})}
    )
