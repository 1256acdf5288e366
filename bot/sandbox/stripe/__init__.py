"""A local fake Stripe (test mode): the REST API, hosted pay pages and signed webhooks.

`StripeSandbox` serves the subset of Stripe's API Flywheel uses on 127.0.0.1 with aiohttp, so
the real stripe-python client runs unmodified against it
(`StripeClient(key, base_addresses={"api": sandbox.api_base})`). No public emulator covers
Checkout Sessions (see FIELD-NOTES), hence this one.

Fidelity notes (what a client sees here, as on Stripe):
- Requests are form-encoded as stripe-python sends them (`metadata[k]`, `line_items[0][price]`,
  `expand[]` or `expand[0]`), GET parameters in the query string. Answers are JSON.
- `Authorization: Bearer <key>` must carry the sandbox's key (`sk_test_sandbox` by default);
  otherwise 401 with Stripe's error body, the key shown with all but its last four hidden.
- Errors are `{"error": {"type", "message", "code"?, "param"?, "doc_url"?}}`: unknown ids 404
  `resource_missing` naming the param; bad or missing params 400; an unknown URL 404.
- `Idempotency-Key` on POSTs: the same key and parameters replay the first answer (header
  `Idempotent-Replayed: true`); the same key with other parameters is 400 `idempotency_error`.
  As on Stripe, a request refused for its parameters saves nothing and can be retried.
- Objects carry `id` (Stripe's prefixes), `object`, `created`, `livemode: false`, `metadata`.
  Lists are `{"object": "list", "data", "has_more", "url"}`, newest first, paged by `limit`
  (1-100, default 10), `starting_after`, `ending_before`.
- Includable fields are left out unless expanded, as on Stripe: a price's `currency_options`,
  a session's `line_items`; `expand[]` also replaces id fields (`customer`, `subscription`, …).
- Objects: products, prices (one-time or `recurring`, `currency_options`), customers, Checkout
  Sessions (create, retrieve, list, expire, line_items; `url` is the local pay page
  `GET /pay/{id}` with a Pay button), subscriptions (retrieve, list, update
  `cancel_at_period_end`/metadata, cancel by DELETE), invoices (API version 2026-10-28: the
  subscription is under `parent.subscription_details`, periods on subscription items),
  payment intents and charges (retrieve), refunds, billing-portal sessions (`url` is a local
  page listing the customer's subscriptions with Cancel buttons), events (list, retrieve) and
  `POST /v1/webhook_endpoints`.
- Control hooks: `complete_session` (`delayed=True` for a bank debit, then `settle_payment`),
  `expire_session`, `cancel_subscription`, `fail_renewal`, `renew`, `end_period`, `refund`,
  `open_dispute`, `close_dispute`. A payment-mode session makes no Customer unless
  `customer_creation=always` or a `customer` was given (the email is in `customer_details`). Each state change appends events with a snapshot in `data.object`
  (and `data.previous_attributes` for updates).
- Webhooks (`add_webhook_endpoint`): each event is POSTed with
  `Stripe-Signature: t=<ts>,v1=<HMAC-SHA256(secret, "t.payload")>`, signed at each attempt,
  and retried on non-2xx or no answer with backoff `webhook_backoff * 2**(n-1)` seconds.
  `webhooks.copies`, `.delay`, `.hold()`/`.release(order)` duplicate, delay and reorder;
  `deliveries` lists each delivery with its attempts.
- Coupons (`percent_off` or `amount_off`) and promotion codes (`promotion[coupon]`) discount a
  session through `discounts[0][…]`, or a code typed on the pay page when the session has
  `allow_promotion_codes`; redemptions count against `max_redemptions`. A coupon discounts
  the first payment only, whatever its `duration`.
- Open sessions expire by themselves once the clock passes `expires_at` (24 h).
- The portal's Cancel button cancels at the period end, Stripe's default configuration
  (`portal_cancel_mode = "immediately"` ends it at once); `end_period` then ends it.
- Not modelled: taxes, trials, payment methods and cards, 3-D Secure,
  Connect, plan changes (`items`) on subscriptions, API versions other than stripe-python's.

Where things live: `wire` (form decoding, errors, list pages, signatures), `account` (storage
and events), `catalogue` (products, prices, customers, coupons, promotion codes), `billing`
(payments, subscriptions, invoices, refunds, disputes, the portal), `state` (Checkout
Sessions; `StripeState` is the whole account), `api` (the routes), `webhooks` (delivery) and
`sandbox` (the server, the pay and portal pages, and the control API tests call).
"""

from __future__ import annotations

from bot.sandbox.stripe.sandbox import RecordedCall, StripeSandbox
from bot.sandbox.stripe.webhooks import Attempt, Delivery, Endpoint, WebhookDispatcher
from bot.sandbox.stripe.wire import StripeError, parse_form, sign_payload

__all__ = [
    "Attempt",
    "Delivery",
    "Endpoint",
    "RecordedCall",
    "StripeError",
    "StripeSandbox",
    "WebhookDispatcher",
    "parse_form",
    "sign_payload",
]
