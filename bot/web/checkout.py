"""``GET /buy/{offer}``: open a Stripe Checkout Session and send the buyer there (303).

``?m=<token>`` is the member's signed buy link (:mod:`bot.links`, from ``/buy``); without
it the buyer is anonymous, which a ``members_only`` offer refuses. The Checkout Session
carries the member and the offer as the payments contract says
(:func:`bot.services.payments.checkout_request`); the order is recorded ``open`` as soon as
the session exists, so an abandoned checkout is visible too.

Every answer other than the redirect is a page (:mod:`bot.web.pages`): unknown offer 404,
members-only without a link 403, a bad or expired link 400, Stripe not configured 503,
Stripe failing or too slow 502 with an error id that is in the log beside what Stripe
said (never the API key). ``/buy/{offer}/thanks`` and ``/buy/{offer}/canceled`` are where
Stripe sends the buyer back when the offer names no pages of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import stripe
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.acting import new_error_id, refused
from bot.db import read_sessions
from bot.links import LinkRefused, LinksUnavailable
from bot.offers import OfferSettings
from bot.runtime import Runtime
from bot.services import payments
from bot.web.pages import SECURITY_HEADERS, add_page_routes, message_page

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckoutSource:
    """What the routes read: the runtime and sessions that never take the write lock."""

    runtime: Runtime
    reads: async_sessionmaker[AsyncSession]


SOURCE = web.AppKey("checkout", CheckoutSource)


def _page(
    runtime: Runtime,
    title: str,
    *paragraphs: str,
    status: int = 200,
    error_id: str | None = None,
) -> web.Response:
    return message_page(
        community=runtime.settings.community.name,
        title=title,
        paragraphs=list(paragraphs),
        status=status,
        error_id=error_id,
    )


def _refuse(runtime: Runtime, error: LinkRefused | LinksUnavailable) -> web.Response:
    refused(error, "GET /buy")
    if isinstance(error, LinksUnavailable):
        return _page(runtime, "Checkout is not ready", error.message, status=503)
    return _page(runtime, "This link does not work", error.message, status=400)


def _offer(request: web.Request) -> tuple[str, OfferSettings | None]:
    slug = request.match_info["offer"]
    return slug, request.app[SOURCE].runtime.settings.offers.get(slug)


def _ask_for_link(runtime: Runtime) -> str:
    """Return how a member asks the bot for their personal link, on either platform."""
    return f"type /buy in the community (on Slack: {runtime.commands.typed('slack', 'buy')})"


def _not_found(runtime: Runtime) -> web.Response:
    refused("offer.unknown", "GET /buy")
    return _page(
        runtime,
        "No such offer",
        f"There is nothing to buy at this address. To see the offers, {_ask_for_link(runtime)}.",
        status=404,
    )


async def buy(request: web.Request) -> web.StreamResponse:
    """Create a Checkout Session for the offer and redirect the buyer to Stripe."""
    source = request.app[SOURCE]
    runtime = source.runtime
    slug, offer = _offer(request)
    if offer is None:
        return _not_found(runtime)
    tokens = request.query.getall("m", [])
    if len(tokens) > 1:
        refused("link.repeated", "GET /buy")
        return _page(runtime, "This link does not work", "The link was changed.", status=400)
    buyer = None
    if tokens:
        secret = runtime.settings.secrets.FLYWHEEL_SECRET_KEY
        try:
            async with source.reads() as session:
                buyer = await payments.buyer_of(
                    session,
                    runtime.clock,
                    secret=secret.get_secret_value() if secret else None,
                    token=tokens[0],
                    offer_slug=slug,
                    community_id=runtime.community_id,
                )
        except (LinkRefused, LinksUnavailable) as error:
            return _refuse(runtime, error)
    elif offer.members_only:
        refused("offer.members_only", "GET /buy")
        return _page(
            runtime,
            "Members only",
            f"{offer.name} is sold to community members only.",
            f"To get your personal link, {_ask_for_link(runtime)}, then open that link.",
            status=403,
        )
    if runtime.stripe is None:
        refused("payments.unconfigured", "GET /buy")
        return _page(
            runtime,
            "Checkout is not ready",
            "Payments aren't set up yet: the community's owner must set STRIPE_API_KEY.",
            status=503,
        )
    wanted = payments.checkout_request(
        slug,
        offer,
        buyer,
        community_slug=runtime.settings.community.slug,
        public_url=runtime.settings.web.public_url,
        now=runtime.clock.now(),
    )
    try:
        opened = await payments.open_session(runtime.stripe, wanted)
    except (stripe.StripeError, TimeoutError) as error:
        error_id = new_error_id()
        # What Stripe said, never the request: stripe-python's messages mask the key.
        log.error(
            "checkout for offer %s failed (error id %s): %s %s",
            slug,
            error_id,
            type(error).__name__,
            getattr(error, "http_status", None) or "",
        )
        return _page(
            runtime,
            "Checkout is unavailable",
            "We couldn't reach the payment provider just now; nothing was charged.",
            "Please try again in a minute.",
            status=502,
            error_id=error_id,
        )
    try:
        async with runtime.sessions() as session, session.begin():
            await payments.record_opened(
                session,
                runtime.clock,
                community_id=runtime.community_id,
                offer_slug=slug,
                offer=offer,
                buyer=buyer,
                opened=opened,
            )
    except Exception:
        # The buyer can still pay: the webhook records the order then. Say so in the log.
        log.exception("checkout %s: the open order could not be recorded", opened.session_id)
    headers = {**SECURITY_HEADERS, "Location": opened.url, "Cache-Control": "no-store"}
    return web.Response(status=303, headers=headers)


async def thanks(request: web.Request) -> web.Response:
    """Thank the buyer after Stripe's success redirect."""
    runtime = request.app[SOURCE].runtime
    _, offer = _offer(request)
    if offer is None:
        return _not_found(runtime)
    return _page(
        runtime,
        "Thank you!",
        f"Your payment for {offer.name} went through.",
        "Your access is given as soon as Stripe confirms the payment, usually within a "
        "minute. You can close this page.",
    )


async def canceled(request: web.Request) -> web.Response:
    """Tell the buyer that nothing was charged after they left Stripe's page."""
    runtime = request.app[SOURCE].runtime
    _, offer = _offer(request)
    if offer is None:
        return _not_found(runtime)
    return _page(
        runtime,
        "Checkout canceled",
        f"You left the checkout for {offer.name}: nothing was charged.",
        f"To try again, {_ask_for_link(runtime)} for a fresh link.",
    )


def add_checkout_routes(app: web.Application, runtime: Runtime) -> None:
    """Serve /buy/{offer}, its thank-you and canceled pages, and the pages' stylesheet."""
    app[SOURCE] = CheckoutSource(runtime, read_sessions(runtime.engine))
    add_page_routes(app)
    # Not on HEAD: a link checker's HEAD must not open a Checkout Session.
    app.router.add_get("/buy/{offer}", buy, allow_head=False)
    app.router.add_get("/buy/{offer}/thanks", thanks)
    app.router.add_get("/buy/{offer}/canceled", canceled)
