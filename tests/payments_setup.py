"""A shop for payments tests: the Stripe sandbox with three priced offers, their bot.toml, and
a store (Flywheel's web app with payments configured, and an HTTP client).

``pro`` is a one-time price that allows promotion codes, ``club`` a monthly subscription and
``insiders`` a members-only one-time price whose name holds markup (pages must escape it).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.models import Member, Order
from bot.runtime import Runtime, bootstrap_community, build_runtime
from bot.sandbox.stripe import StripeSandbox
from bot.services import payments
from bot.services.callers import Caller, Role, resolve_actor
from bot.settings import Settings, load_settings
from bot.web.app import create_app, start_site

SECRET_KEY = "flywheel-test-secret-key-for-signed-links"
# For the command fuzz harnesses: two offers and the links' key (no Stripe key: /billing of a
# member without a purchase never reaches Stripe), so /buy and /offer answer for real.
FUZZ_PAYMENTS = (
    '[offers.pro]\nname = "Pro <Pack> & *more*"\nprice = "price_fuzz_pro"\n'
    '[offers.club]\nname = "Club"\nprice = "price_fuzz_club"\nmode = "subscription"\n'
    "members_only = true\n",
    {"FLYWHEEL_SECRET_KEY": SECRET_KEY},
)
INSIDERS_NAME = "Insiders <b>& Co</b>"


@dataclass(frozen=True)
class Shop:
    """The Stripe sandbox and the price id of each offer slug."""

    stripe: StripeSandbox
    prices: dict[str, str]

    def toml(self, extra: int = 0, access: dict[str, str] | None = None) -> str:
        """Return the [stripe] and [offers.*] tables for bot.toml (``extra`` more offers of
        the pro price, ``more-01``…, for paging; ``access`` maps an offer's slug to the access
        key it grants)."""
        grants = access or {}

        def grant(slug: str) -> str:
            return f'access = "{grants[slug]}"\n' if slug in grants else ""

        more = "".join(
            f'[offers.more-{n:02}]\nname = "More {n:02}"\nprice = "{self.prices["pro"]}"\n'
            for n in range(1, extra + 1)
        )
        return more + (
            f'[stripe]\napi_base = "{self.stripe.api_base}"\ntimeout_seconds = 5\n'
            f'[offers.pro]\nname = "Pro Pack"\nprice = "{self.prices["pro"]}"\n'
            f"allow_promotion_codes = true\n{grant('pro')}"
            f'[offers.club]\nname = "Supporters Club"\nprice = "{self.prices["club"]}"\n'
            f'mode = "subscription"\n{grant("club")}'
            f'[offers.insiders]\nname = "{INSIDERS_NAME}"\nprice = "{self.prices["insiders"]}"\n'
            f"members_only = true\n{grant('insiders')}"
        )

    def environ(self) -> dict[str, str]:
        """Return the secrets payments need."""
        return {"STRIPE_API_KEY": self.stripe.api_key, "FLYWHEEL_SECRET_KEY": SECRET_KEY}


async def open_shop(clock: Callable[[], float] | None = None) -> Shop:
    """Start the Stripe sandbox (on ``clock``, else real time) with the offers' prices."""
    stripe = StripeSandbox(clock=clock or time.time, webhook_backoff=0.01)
    await stripe.start()
    pro = stripe.add_product("Pro Pack")
    club = stripe.add_product("Supporters Club")
    insiders = stripe.add_product("Insiders")
    prices = {
        "pro": stripe.add_price(pro["id"], 2500)["id"],
        "club": stripe.add_price(club["id"], 500, recurring={"interval": "month"})["id"],
        "insiders": stripe.add_price(insiders["id"], 9900)["id"],
    }
    return Shop(stripe, prices)


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    """Start the Stripe sandbox with the three offers' products and prices."""
    opened = await open_shop()
    yield opened
    await opened.stripe.stop()


def with_public_url(runtime: Runtime, url: str) -> None:
    """Point the runtime's ``[web] public_url`` at the server a test just started."""
    settings: Settings = runtime.settings
    web = settings.file.web.model_copy(update={"public_url": url})
    runtime.settings = settings.model_copy(
        update={"file": settings.file.model_copy(update={"web": web})}
    )


COMMUNITY = '[community]\nname = "Acme Makers"\nslug = "acme"\n'


@dataclass
class Store:
    """Flywheel's web app with payments configured, and a browser-like HTTP client."""

    runtime: Runtime
    shop: Shop
    base: str
    http: aiohttp.ClientSession

    async def link(self, offer: str, *, user: str = "U1", name: str = "Ada") -> str:
        """Return a member's personal link to an offer, as /buy gives it."""
        async with self.runtime.sessions() as session, session.begin():
            actor = await resolve_actor(
                session,
                self.runtime.clock,
                community_id=self.runtime.community_id,
                caller=Caller("discord", "G1", user, name, Role.MEMBER),
            )
            links = await payments.buy_links(
                session,
                self.runtime.clock,
                actor,
                self.runtime.settings,
                offer=offer,
            )
        return links[0].url

    async def get(self, url: str) -> tuple[int, str, aiohttp.ClientResponse]:
        """GET without following redirects; return status, body and the response."""
        async with self.http.get(url, allow_redirects=False) as response:
            return response.status, await response.text(), response

    async def orders(self) -> list[Order]:
        """Return every order, oldest first."""
        async with self.runtime.sessions() as session:
            return list(await session.scalars(select(Order).order_by(Order.id)))

    async def member(self) -> Member:
        """Return the one member the test made."""
        async with self.runtime.sessions() as session:
            found = await session.scalar(select(Member).where(Member.display_name.is_not(None)))
            assert found is not None
            return found


@pytest.fixture
async def store(
    tmp_path: Path, database_url: str, committed: object, clock: FakeClock, shop: Shop
) -> AsyncIterator[Store]:
    config = tmp_path / "bot.toml"
    config.write_text(COMMUNITY + shop.toml(), encoding="utf-8")
    settings = load_settings(
        config, environ={"FLYWHEEL_DATABASE_URL": database_url, **shop.environ()}
    )
    runtime = build_runtime(settings, clock=clock)
    await bootstrap_community(runtime)
    runner, port = await start_site(create_app(runtime), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    with_public_url(runtime, base)
    async with aiohttp.ClientSession() as http:
        yield Store(runtime, shop, base, http)
    await runner.cleanup()
    await runtime.close()
