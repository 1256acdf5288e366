"""Flywheel's one way to Stripe: the real stripe-python client, async, built from settings.

``[stripe] api_base`` points it at the sandbox in tests and the demo; the API key comes from
``STRIPE_API_KEY`` and is never logged (stripe-python masks it in its own messages too).
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from bot.settings import Settings


@dataclass
class StripeGateway:
    """The process's Stripe client and the webhook secret(s) its events are signed with."""

    client: stripe.StripeClient
    webhook_secret: str | None
    http: stripe.HTTPXClient

    async def close(self) -> None:
        """Close the client's HTTP connections."""
        await self.http.close_async()  # type: ignore[no-untyped-call]  # stripe leaves it untyped


def build_gateway(settings: Settings) -> StripeGateway | None:
    """Return a gateway when STRIPE_API_KEY is set, else None (payments then say so)."""
    key = settings.secrets.STRIPE_API_KEY
    if key is None:
        return None
    secret = settings.secrets.STRIPE_WEBHOOK_SECRET
    http = stripe.HTTPXClient(timeout=settings.stripe.timeout_seconds)
    client = stripe.StripeClient(
        key.get_secret_value(),
        base_addresses={"api": settings.stripe.api_base},
        http_client=http,
        # A 5xx or a dropped connection is retried with the same idempotency key.
        max_network_retries=2,
    )
    return StripeGateway(client, secret.get_secret_value() if secret else None, http)
