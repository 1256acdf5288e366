"""``POST /stripe/webhook``: Stripe's events, verified by us, processed once, acknowledged after commit.

The ``Stripe-Signature`` header is checked against ``STRIPE_WEBHOOK_SECRET`` and the process
clock (:mod:`bot.payments.signature`); the body must be an event (id, type, created,
data.object). Answers, as Stripe reads them:

- 200 ``processed`` once the event and its effects are committed; 200 ``already processed``
  for an event id seen before (nothing changes); 200 for a type Flywheel does not use;
- 400 with a short reason for a missing, malformed, forged or stale signature or an
  unreadable body: nothing is written, and the refusal is noted on ``bot.refusals``;
- 413 for a body over the app's limit (aiohttp refuses it before we read it);
- 500 with an error id when our own processing failed: the transaction is rolled back and
  Stripe retries; 503 while the secret is not configured (logged, so an owner sees why).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from aiohttp import web

from bot.acting import refused, unexpected_failure
from bot.errors import Invalid
from bot.payments.signature import SignatureError, verify
from bot.runtime import Runtime
from bot.services import payments

PATH = "/stripe/webhook"
WHERE = "POST /stripe/webhook"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookSource:
    """What the route reads: the runtime (settings, clock, sessions, community)."""

    runtime: Runtime


SOURCE = web.AppKey("stripe_webhook", WebhookSource)


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


def _refuse(code: str, text: str) -> web.Response:
    refused(code, WHERE)
    return _plain(400, text)


async def stripe_webhook(request: web.Request) -> web.Response:
    """Verify, record and apply one Stripe event; answer after the commit."""
    runtime = request.app[SOURCE].runtime
    secret = runtime.settings.secrets.STRIPE_WEBHOOK_SECRET
    if secret is None:
        log.warning(
            "Stripe webhook refused: STRIPE_WEBHOOK_SECRET is not set; set it to the endpoint's "
            "signing secret (whsec_…) from Stripe's dashboard"
        )
        return _plain(503, "webhook secret not configured")
    payload = await request.read()  # over MAX_BODY_BYTES: aiohttp answers 413
    try:
        verify(
            payload,
            request.headers.get("Stripe-Signature"),
            secret.get_secret_value(),
            now=runtime.clock.now().timestamp(),
            tolerance=runtime.settings.stripe.webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        return _refuse(f"stripe.{exc.reason}", f"bad signature: {exc.reason}")
    try:
        event = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return _refuse("stripe.body.json", "unreadable body: not JSON")
    if not isinstance(event, dict):
        return _refuse("stripe.body.shape", "unreadable body: not an event")
    try:
        payments.read_event(event)
    except Invalid as exc:
        return _refuse(exc.code or "stripe.body.shape", f"unreadable body: {exc}")
    try:
        async with runtime.sessions() as session, session.begin():
            fresh = await payments.apply_event(
                session, runtime.clock, runtime.settings, runtime.community_id, event
            )
    except Exception as exc:
        said = unexpected_failure(exc, f"Stripe event {event.get('id')!s:.80}", logger=log)
        return _plain(500, said)
    return _plain(200, "processed" if fresh else "already processed")


def add_webhook_routes(app: web.Application, runtime: Runtime) -> None:
    """Serve ``POST /stripe/webhook`` for the runtime's community."""
    app[SOURCE] = WebhookSource(runtime)
    app.router.add_post(PATH, stripe_webhook)
