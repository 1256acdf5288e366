"""The Stripe sandbox's server and control API: what tests call to pay, cancel and watch."""

from __future__ import annotations

import copy
import hashlib
import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.base import Clock, Injected, Sandbox
from bot.sandbox.stripe.api import Api
from bot.sandbox.stripe.state import StripeState
from bot.sandbox.stripe.webhooks import Delivery, Endpoint, WebhookDispatcher
from bot.sandbox.stripe.wire import (
    JsonObject,
    StripeError,
    key_fingerprint,
    new_id,
    parse_form,
)

DeliveryPredicate = Callable[[Delivery], bool]


@dataclass(frozen=True)
class RecordedCall:
    """One API request the sandbox answered (the API key is never kept)."""

    verb: str
    path: str
    params: dict[str, Any]
    at: float
    status: int
    response: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        """Tell whether Stripe answered 2xx."""
        return 200 <= self.status < 300


@dataclass(frozen=True)
class _Saved:
    """An idempotent result: the request it answered (by digest) and the answer."""

    request: str
    status: int
    body: JsonObject


class StripeSandbox(Sandbox[RecordedCall]):
    """A local test-mode Stripe account that the real stripe-python client can talk to."""

    kind = "Stripe"

    def __init__(
        self,
        *,
        api_key: str = "sk_test_sandbox",
        clock: Clock = time.time,
        webhook_backoff: float = 60.0,
    ) -> None:
        super().__init__(clock=clock)
        self.api_key = api_key
        self.state = StripeState(clock=clock, base_url=lambda: self.base_url)
        self.webhooks = WebhookDispatcher(clock=clock, changed=self.notify)
        self.webhooks.backoff_base = webhook_backoff
        self.state.listeners.append(self.webhooks.on_event)
        self.api = Api(self.state, self.webhooks)
        self._idempotent: dict[str, _Saved] = {}
        # What the portal's Cancel button does: Stripe's default portal configuration cancels
        # at the end of the period; "immediately" ends the subscription at once.
        self.portal_cancel_mode = "at_period_end"

    # -- lifecycle -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Serve the REST API, the hosted pay pages and the billing portal pages."""
        app.router.add_route("*", "/v1/{tail:.*}", self._handle_api)
        app.router.add_get("/pay/{session}", self._pay_page)
        app.router.add_post("/pay/{session}", self._pay_submit)
        app.router.add_get("/portal/{portal}", self._portal_page)
        app.router.add_post("/portal/{portal}/cancel/{subscription}", self._portal_cancel)

    async def stop(self) -> None:
        """Stop delivering webhooks and stop serving."""
        await self.webhooks.close()
        await super().stop()

    @property
    def api_base(self) -> str:
        """Return the URL for ``StripeClient(key, base_addresses={"api": ...})``."""
        return self.base_url

    # -- objects, as tests read them -------------------------------------------------------

    def objects(self, kind: str) -> list[JsonObject]:
        """Return the stored objects of a kind ("price", "checkout.session", …) oldest first."""
        return list(self.state.objects[kind].values())

    def get(self, kind: str, object_id: str) -> JsonObject:
        """Return one stored object; an unknown id raises `StripeError` (404)."""
        return self.state.get(kind, object_id)

    @property
    def events(self) -> list[JsonObject]:
        """Return every event, oldest first."""
        return self.objects("event")

    def event_types(self) -> list[str]:
        """Return the types of all events, oldest first."""
        return [event["type"] for event in self.events]

    # -- seeding ---------------------------------------------------------------------------

    def add_product(self, name: str, **params: Any) -> JsonObject:
        """Create a product as if through the API (params in their wire form)."""
        return self.state.create_product({"name": name, **_wire(params)})

    def add_price(
        self, product: str, unit_amount: int, currency: str = "usd", **params: Any
    ) -> JsonObject:
        """Create a price; ``recurring={"interval": "month"}`` makes it a subscription price."""
        return self.state.create_price(
            {
                "product": product,
                "unit_amount": str(unit_amount),
                "currency": currency,
                **_wire(params),
            }
        )

    # -- control hooks: what customers and the dashboard do --------------------------------

    def complete_session(
        self,
        session_id: str,
        email: str = "buyer@example.org",
        name: str | None = None,
        promotion_code: str | None = None,
        *,
        delayed: bool = False,
    ) -> JsonObject:
        """Pay an open Checkout Session as a customer would, emitting Stripe's events.

        ``promotion_code`` is a code typed on the pay page (the session must allow codes).
        ``delayed`` pays by a delayed method: complete but unpaid until `settle_payment`.
        A payment-mode session makes no Customer unless created with
        ``customer_creation="always"`` or for a ``customer``, as on Stripe.
        """
        session = self.state.get("checkout.session", session_id)
        return self.state.complete_session(session, email, name, promotion_code, delayed=delayed)

    def settle_payment(self, session_id: str, *, succeeded: bool = True) -> JsonObject:
        """Settle a delayed payment: ``checkout.session.async_payment_succeeded`` or ``_failed``."""
        return self.state.settle_payment(
            self.state.get("checkout.session", session_id), succeeded=succeeded
        )

    def expire_session(self, session_id: str) -> JsonObject:
        """Expire an open session, as 24 hours without payment do."""
        return self.state.expire_session(self.state.get("checkout.session", session_id))

    def cancel_subscription(
        self, subscription_id: str, reason: str = "cancellation_requested"
    ) -> JsonObject:
        """Cancel a subscription now: the owner in the dashboard (``cancellation_requested``),
        or Stripe after the last failed retry (``payment_failed``)."""
        subscription = self.state.get("subscription", subscription_id)
        return self.state.cancel_subscription(subscription, reason)

    def fail_renewal(self, subscription_id: str) -> JsonObject:
        """Fail the renewal's payment: ``invoice.payment_failed``, subscription past due (again on
        a past-due subscription: the open invoice's retry fails)."""
        return self.state.fail_renewal(self.state.get("subscription", subscription_id))

    def renew(self, subscription_id: str) -> JsonObject:
        """Renew with a paid invoice (past due: the open invoice is paid): ``invoice.paid``."""
        return self.state.renew(self.state.get("subscription", subscription_id))

    def end_period(self, subscription_id: str) -> JsonObject:
        """End the period: a subscription set to cancel at period end ends, others renew."""
        return self.state.end_period(self.state.get("subscription", subscription_id))

    def refund(self, payment_intent_id: str, amount: int | None = None) -> JsonObject:
        """Refund a payment (in full unless an amount is given): ``charge.refunded``."""
        params: JsonObject = {"payment_intent": payment_intent_id}
        if amount is not None:
            params["amount"] = str(amount)
        return self.state.create_refund(params)

    def open_dispute(self, payment_intent_id: str, reason: str = "fraudulent") -> JsonObject:
        """Open a dispute on a payment's charge, as the cardholder's bank does."""
        intent = self.state.get("payment_intent", payment_intent_id)
        return self.state.open_dispute(self.state.get("charge", intent["latest_charge"]), reason)

    def close_dispute(self, dispute_id: str, *, won: bool) -> JsonObject:
        """Close a dispute, won or lost."""
        return self.state.close_dispute(self.state.get("dispute", dispute_id), won=won)

    # -- webhooks --------------------------------------------------------------------------

    def add_webhook_endpoint(
        self, url: str, *, secret: str | None = None, events: tuple[str, ...] = ("*",)
    ) -> Endpoint:
        """Register a URL to receive every event (or the listed types), signed with a secret."""
        return self.webhooks.add_endpoint(url, secret=secret, events=events)

    def roll_secret(self, endpoint: Endpoint, secret: str | None = None) -> str:
        """Rotate an endpoint's secret; deliveries carry a ``v1`` for the old one too until
        ``webhooks.expire_old_secrets(endpoint)``."""
        return self.webhooks.roll_secret(endpoint, secret)

    @property
    def deliveries(self) -> list[Delivery]:
        """Return every webhook delivery with its attempts, in the order queued."""
        return self.webhooks.deliveries

    async def wait_for_deliveries(
        self,
        predicate: DeliveryPredicate,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout reads best in tests
    ) -> list[Delivery]:
        """Wait until ``count`` deliveries match (e.g. ``lambda d: d.done``) and return them."""

        def enough() -> bool:
            return sum(1 for d in self.deliveries if predicate(d)) >= count

        await self.wait_until(enough, timeout, f"{count} matching Stripe webhook deliveries")
        return [d for d in self.deliveries if predicate(d)]

    # -- faults ----------------------------------------------------------------------------

    def fail_next(
        self, status: int = 500, *, path: str | None = None, verb: str | None = None, count: int = 1
    ) -> None:
        """Answer the next matching API requests with a Stripe error of this status."""
        kinds = {402: "card_error", 429: "invalid_request_error"}
        body = {
            "error": {
                "type": kinds.get(
                    status, "api_error" if status >= 500 else "invalid_request_error"
                ),
                "message": f"Injected failure ({status}) by the Stripe sandbox.",
            }
        }
        if status == 429:
            body["error"]["code"] = "rate_limit"

        def matches(request_verb: str, target: str) -> bool:
            return (verb is None or verb == request_verb) and (path is None or path == target)

        self.inject(matches, Injected(status, body), count)

    # -- the API ---------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        verb, path = request.method, request.path
        text = await request.text() if verb == "POST" else request.query_string
        key = request.headers.get("Idempotency-Key") if verb == "POST" else None
        request_id = new_id("req_", 14)
        try:
            params = parse_form(text)
        except ValueError:
            params = {}
            status, body, replayed = 400, StripeError(400, "Invalid request body.").body(), False
        else:
            self.state.request = {"id": request_id, "idempotency_key": key}
            try:
                status, body, replayed = self._answer(request, verb, path, params, key)
            finally:
                self.state.request = {"id": None, "idempotency_key": None}
        await self.record(RecordedCall(verb, path, params, self.now(), status, body, key, replayed))
        headers = {"Request-Id": request_id}
        if key is not None:
            headers["Idempotency-Key"] = key
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self,
        request: web.Request,
        verb: str,
        path: str,
        params: JsonObject,
        key: str | None,
    ) -> tuple[int, JsonObject, bool]:
        injected = self.take_injection(verb, path)
        if injected is not None:
            return injected.status, injected.body, False
        try:
            self._authenticate(request.headers.get("Authorization"))
            self.state.sweep()
            digest = hashlib.sha256(
                f"{verb} {path}\n{sorted(params.items(), key=str)!r}".encode()
            ).hexdigest()
            if key is not None and key in self._idempotent:
                saved = self._idempotent[key]
                if saved.request != digest:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        type_="idempotency_error",
                        saved=False,
                    )
                return saved.status, saved.body, True
            try:
                handler, ids = self.api.route(verb, path)
                status, body = 200, handler(self.api, params, ids)
            except StripeError as error:
                if key is not None and error.saved:
                    self._idempotent[key] = _Saved(digest, error.status, error.body())
                raise
            if key is not None:
                # A copy: the objects behind the answer change later, the replay must not.
                self._idempotent[key] = _Saved(digest, status, copy.deepcopy(body))
            return status, body, False
        except StripeError as error:
            return error.status, error.body(), False

    def _authenticate(self, header: str | None) -> None:
        scheme, _, key = (header or "").partition(" ")
        if scheme != "Bearer" or not key.strip():
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                saved=False,
            )
        if key.strip() != self.api_key:
            raise StripeError(
                401,
                f"Invalid API Key provided: {key_fingerprint(key.strip())}",
                saved=False,
            )

    # -- the hosted pay page and the billing portal ----------------------------------------

    async def _pay_page(self, request: web.Request) -> web.Response:
        self.state.sweep()
        session = self.state.objects["checkout.session"].get(request.match_info["session"])
        if session is None:
            return _page("Not found", "<p>This checkout link is not valid.</p>", 404)
        title = "Pay " + html.escape(_money(session["amount_total"], session["currency"]))
        if session["status"] != "open":
            return _page(
                title, f"<p>This checkout session is {html.escape(session['status'])}.</p>", 410
            )
        items = "".join(
            f"<li>{html.escape(str(item['description']))} × {item['quantity']}: "
            f"{html.escape(_money(item['amount_total'], item['currency']))}</li>"
            for item in session["line_items"]["data"]
        )
        email = html.escape(session["customer_email"] or "", quote=True)
        cancel = (
            f'<p><a href="{html.escape(session["cancel_url"], quote=True)}">Cancel</a></p>'
            if session["cancel_url"]
            else ""
        )
        code = (
            '<p><label>Promotion code <input name="promotion_code"></label></p>'
            if session["allow_promotion_codes"]
            else ""
        )
        off = session["total_details"]["amount_discount"]
        discount = (
            f"<p>Discount: −{html.escape(_money(off, session['currency']))}</p>" if off else ""
        )
        body = (
            f"<ul>{items}</ul>{discount}"
            '<form method="post"><p><label>Email <input type="email" name="email" '
            f'value="{email}" required></label></p>{code}'
            f'<button type="submit">Pay</button></form>{cancel}'
            "<p><small>Stripe sandbox: no card is charged.</small></p>"
        )
        return _page(title, body)

    async def _pay_submit(self, request: web.Request) -> web.Response:
        session_id = request.match_info["session"]
        self.state.sweep()
        form = await request.post()
        email = str(form.get("email") or "buyer@example.org")
        code = str(form.get("promotion_code") or "") or None
        try:
            session = self.complete_session(session_id, email, promotion_code=code)
        except StripeError as error:
            return _page("Payment failed", f"<p>{html.escape(error.message)}</p>", error.status)
        await self.notify()
        success = session["success_url"]
        if success:
            raise web.HTTPSeeOther(success.replace("{CHECKOUT_SESSION_ID}", session_id))
        return _page("Paid", "<p>Thank you: the payment went through.</p>")

    async def _portal_page(self, request: web.Request) -> web.Response:
        portal = self.state.objects["billing_portal.session"].get(request.match_info["portal"])
        if portal is None:
            return _page("Not found", "<p>This billing link is not valid.</p>", 404)
        rows = []
        for sub in self.state.subscriptions_of(portal["customer"]):
            if sub["status"] == "canceled":
                continue
            names = ", ".join(
                html.escape(self.state.objects["product"][i["price"]["product"]]["name"])
                for i in sub["items"]["data"]
            )
            if sub["cancel_at_period_end"]:
                rows.append(f"<li>{names}: cancels at the end of the period</li>")
                continue
            rows.append(
                f'<li>{names} ({html.escape(sub["status"])}) <form method="post" '
                f'action="/portal/{portal["id"]}/cancel/{sub["id"]}" style="display:inline">'
                '<button type="submit">Cancel subscription</button></form></li>'
            )
        back = (
            f'<p><a href="{html.escape(portal["return_url"], quote=True)}">Return</a></p>'
            if portal["return_url"]
            else ""
        )
        listing = f"<ul>{''.join(rows)}</ul>" if rows else "<p>No active subscriptions.</p>"
        return _page("Billing", listing + back)

    async def _portal_cancel(self, request: web.Request) -> web.Response:
        portal = self.state.objects["billing_portal.session"].get(request.match_info["portal"])
        sub = self.state.objects["subscription"].get(request.match_info["subscription"])
        if portal is None or sub is None or sub["customer"] != portal["customer"]:
            return _page("Not found", "<p>This subscription is not yours to cancel.</p>", 404)
        if sub["status"] != "canceled" and self.portal_cancel_mode == "immediately":
            self.state.cancel_subscription(sub)
        elif sub["status"] != "canceled" and not sub["cancel_at_period_end"]:
            self.state.update_subscription(sub, {"cancel_at_period_end": "true"})
        await self.notify()
        raise web.HTTPSeeOther(f"/portal/{portal['id']}")


def _wire(params: dict[str, Any]) -> JsonObject:
    """Turn Python values into the strings a form body would carry (nested dicts kept)."""
    wired: JsonObject = {}
    for key, value in params.items():
        if isinstance(value, dict):
            wired[key] = _wire(value)
        elif isinstance(value, bool):
            wired[key] = "true" if value else "false"
        else:
            wired[key] = str(value)
    return wired


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


def _page(title: str, body: str, status: int = 200) -> web.Response:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title}</title><style>body{{font-family:sans-serif;max-width:30em;margin:3em auto}}"
        "button{font-size:1.2em;padding:.4em 1.2em}</style></head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    )
    return web.Response(text=document, status=status, content_type="text/html")
