"""The Stripe account the sandbox keeps, with Checkout on top of its catalogue and billing.

`StripeState` is the whole account: storage and events (`account`), products, prices,
customers and discounts (`catalogue`), payments and subscriptions (`billing`), and here the
Checkout Sessions that tie them together.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.sandbox.base import Clock
from bot.sandbox.stripe.account import INTERVALS
from bot.sandbox.stripe.billing import Billing
from bot.sandbox.stripe.wire import (
    SESSION_LIFETIME,
    JsonObject,
    StripeError,
    as_bool,
    as_int,
    as_metadata,
    as_str,
    invalid,
    new_id,
    required,
)


class StripeState(Billing):
    """One test-mode Stripe account, Checkout Sessions included."""

    def __init__(self, *, clock: Clock, base_url: Callable[[], str]) -> None:
        super().__init__(clock=clock, base_url=base_url)
        # `subscription_data[metadata]` of each subscription-mode session, by session id: as
        # on Stripe it is not shown on the session, only copied onto the subscription.
        self.subscription_metadata: dict[str, dict[str, str]] = {}

    # -- checkout sessions ----------------------------------------------------------------

    def create_session(self, params: JsonObject) -> JsonObject:
        """Create a hosted Checkout Session in payment or subscription mode."""
        mode = as_str(params, "mode")
        if mode is None:
            raise required("mode")
        if mode not in ("payment", "subscription"):
            raise invalid(
                f"Invalid mode: must be one of payment or subscription ({mode!r}).", "mode"
            )
        raw_items = params.get("line_items")
        if not isinstance(raw_items, list) or not raw_items:
            raise required("line_items")
        items: list[JsonObject] = []
        currency: str | None = None
        for index, raw in enumerate(raw_items):
            if not isinstance(raw, dict):
                raise invalid("Invalid hash.", f"line_items[{index}]")
            price_id = as_str(raw, "price")
            if price_id is None:
                raise required(f"line_items[{index}][price]")
            price = self.objects["price"].get(price_id)
            if price is None:
                # Stripe answers 400 here, not 404: the session is what was asked for.
                raise StripeError(
                    400,
                    f"No such price: '{price_id}'",
                    code="resource_missing",
                    param=f"line_items[{index}][price]",
                )
            if mode == "payment" and price["recurring"] is not None:
                raise invalid(
                    "You specified `payment` mode but passed a recurring price. Either switch to "
                    "`subscription` mode or use only one-time prices.",
                    f"line_items[{index}][price]",
                )
            quantity = as_int(raw, "quantity", minimum=1)
            if quantity is None:
                raise required(f"line_items[{index}][quantity]")
            currency = currency or price["currency"]
            items.append(
                {
                    "id": new_id("li_"),
                    "object": "item",
                    "amount_subtotal": price["unit_amount"] * quantity,
                    "amount_total": price["unit_amount"] * quantity,
                    "currency": price["currency"],
                    "description": self.objects["product"][price["product"]]["name"],
                    "price": self.price_view(price),
                    "quantity": quantity,
                }
            )
        if mode == "subscription" and not any(i["price"]["recurring"] for i in items):
            raise invalid(
                "You must provide at least one recurring price in `subscription` mode when "
                "using prices.",
                "line_items",
            )
        customer_id = as_str(params, "customer")
        customer_email = as_str(params, "customer_email")
        creation = as_str(params, "customer_creation")
        if creation is not None and mode != "payment":
            raise invalid(
                "`customer_creation` can only be used in `payment` mode.", "customer_creation"
            )
        if creation not in (None, "always", "if_required"):
            raise invalid(
                "Invalid customer_creation: must be one of always or if_required.",
                "customer_creation",
            )
        if customer_id is not None and customer_email is not None:
            raise invalid(
                "You may only specify one of these parameters: customer, customer_email.",
                "customer_email",
            )
        if customer_id is not None:
            self.get("customer", customer_id, "customer")
        subscription_metadata = self._subscription_data(params, mode)
        subtotal = sum(item["amount_total"] for item in items)
        allow_codes = as_bool(params, "allow_promotion_codes")
        discounts = self._session_discounts(params, allow_codes, str(currency))
        discount = self._discount_amount(discounts, subtotal, str(currency))
        now = self.now()
        session = self._new(
            "checkout.session",
            {
                "allow_promotion_codes": allow_codes,
                "amount_subtotal": subtotal,
                "amount_total": subtotal - discount,
                "discounts": discounts,
                "total_details": {
                    "amount_discount": discount,
                    "amount_shipping": 0,
                    "amount_tax": 0,
                },
                "cancel_url": as_str(params, "cancel_url"),
                "client_reference_id": as_str(params, "client_reference_id"),
                "currency": currency,
                "customer": customer_id,
                "customer_creation": (creation or "if_required") if mode == "payment" else None,
                "customer_details": None,
                "customer_email": customer_email,
                "expires_at": now + SESSION_LIFETIME,
                "invoice": None,
                "line_items": {"object": "list", "data": items, "has_more": False},
                "metadata": as_metadata(params) or {},
                "mode": mode,
                "payment_intent": None,
                "payment_status": "unpaid",
                "status": "open",
                "subscription": None,
                "success_url": as_str(params, "success_url"),
                "ui_mode": "hosted",
                "url": None,
            },
        )
        session["line_items"]["url"] = f"/v1/checkout/sessions/{session['id']}/line_items"
        session["url"] = f"{self.base_url()}/pay/{session['id']}"
        if subscription_metadata is not None:
            self.subscription_metadata[session["id"]] = subscription_metadata
        return session

    @staticmethod
    def _subscription_data(params: JsonObject, mode: str) -> dict[str, str] | None:
        """Return ``subscription_data[metadata]`` (subscription mode only, as on Stripe)."""
        data = params.get("subscription_data")
        if data is None:
            return None
        if mode != "subscription":
            raise invalid(
                "You can only use `subscription_data` in `subscription` mode.",
                "subscription_data",
            )
        if not isinstance(data, dict):
            raise invalid("Invalid hash.", "subscription_data")
        return as_metadata(data) or {}

    def _session_discounts(
        self, params: JsonObject, allow_codes: bool | None, currency: str
    ) -> list[JsonObject]:
        """Check a session's ``discounts`` (at most one coupon or promotion code)."""
        raw = params.get("discounts")
        if raw is None or raw == "":
            return []
        if allow_codes:
            raise invalid(
                "You may only specify one of these parameters: allow_promotion_codes, discounts.",
                "discounts",
            )
        if not isinstance(raw, list) or len(raw) > 1 or not isinstance(raw[0], dict):
            raise invalid("You may only apply one discount to a Checkout Session.", "discounts")
        coupon_id = as_str(raw[0], "coupon")
        code_id = as_str(raw[0], "promotion_code")
        if (coupon_id is None) == (code_id is None):
            raise invalid(
                "Each discount needs exactly one of coupon or promotion_code.", "discounts[0]"
            )
        if code_id is not None:
            code = self.get("promotion_code", code_id, "discounts[0][promotion_code]")
            if not code["active"]:
                raise invalid(
                    f"This promotion code is inactive: '{code_id}'.", "discounts[0][promotion_code]"
                )
            coupon_id = code["promotion"]["coupon"]
        assert coupon_id is not None
        coupon = self.get("coupon", coupon_id, "discounts[0][coupon]")
        if not coupon["valid"]:
            raise invalid(f"This coupon is no longer valid: '{coupon_id}'.", "discounts[0][coupon]")
        if coupon["amount_off"] is not None and coupon["currency"] != currency:
            raise invalid(
                f"The coupon's currency ({coupon['currency']}) is not the session's ({currency}).",
                "discounts[0][coupon]",
            )
        return [{"coupon": coupon["id"], "promotion_code": code_id}]

    def _discount_amount(self, discounts: list[JsonObject], subtotal: int, currency: str) -> int:
        """Return what a session's discounts take off its subtotal."""
        off = 0
        for discount in discounts:
            coupon = self.objects["coupon"][discount["coupon"]]
            if coupon["percent_off"] is not None:
                off += round(subtotal * coupon["percent_off"] / 100)
            elif coupon["currency"] == currency:
                off += coupon["amount_off"]
        return min(off, subtotal)

    def _redeem(self, discounts: list[JsonObject]) -> None:
        for discount in discounts:
            coupon = self.objects["coupon"][discount["coupon"]]
            coupon["times_redeemed"] += 1
            if (
                coupon["max_redemptions"] is not None
                and coupon["times_redeemed"] >= coupon["max_redemptions"]
            ):
                coupon["valid"] = False
            if discount["promotion_code"] is not None:
                promo = self.objects["promotion_code"][discount["promotion_code"]]
                promo["times_redeemed"] += 1
                if (
                    promo["max_redemptions"] is not None
                    and promo["times_redeemed"] >= promo["max_redemptions"]
                ):
                    promo["active"] = False

    @staticmethod
    def session_view(session: JsonObject, expand: list[str] | None = None) -> JsonObject:
        """Return a session as the API shows it: ``line_items`` only when expanded."""
        view = dict(session)
        if "line_items" not in (expand or []):
            view.pop("line_items", None)
        return view

    def sweep(self) -> None:
        """Expire the open sessions whose ``expires_at`` has passed, as Stripe does by itself."""
        now = self.now()
        for session in list(self.objects["checkout.session"].values()):
            if session["status"] == "open" and session["expires_at"] <= now:
                self.expire_session(session)

    def expire_session(self, session: JsonObject) -> JsonObject:
        """Expire an open session, as ``POST …/expire`` or the 24 hours do."""
        if session["status"] != "open":
            raise StripeError(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
            )
        session.update({"status": "expired", "url": None})
        self.emit("checkout.session.expired", self.session_view(session))
        return session

    def complete_session(
        self,
        session: JsonObject,
        email: str,
        name: str | None = None,
        promotion_code: str | None = None,
        *,
        delayed: bool = False,
    ) -> JsonObject:
        """Pay a session as a customer would and emit the events Stripe emits, in its order.

        ``promotion_code`` is a code the customer types on the pay page (the session must
        allow promotion codes). ``delayed`` pays with a delayed method (a bank debit): the
        session completes unpaid and `settle_payment` later succeeds or fails it.
        """
        if session["status"] != "open":
            raise StripeError(
                400, f"This Checkout Session is {session['status']} and can no longer be paid."
            )
        if delayed and session["mode"] != "payment":
            raise StripeError(400, "The sandbox models delayed payment methods in payment mode.")
        if promotion_code:
            promo = self.promotion_code_by_code(promotion_code)
            if not session["allow_promotion_codes"]:
                raise StripeError(400, "This Checkout Session does not accept promotion codes.")
            if promo is None or not self.objects["coupon"][promo["promotion"]["coupon"]]["valid"]:
                raise StripeError(400, f"This code is invalid: {promotion_code}.")
            discounts = [{"coupon": promo["promotion"]["coupon"], "promotion_code": promo["id"]}]
            off = self._discount_amount(discounts, session["amount_subtotal"], session["currency"])
            session["discounts"] = discounts
            session["total_details"]["amount_discount"] = off
            session["amount_total"] = session["amount_subtotal"] - off
        self._redeem(session["discounts"])
        now = self.now()
        customer: JsonObject | None = None
        if session["customer"] is not None:
            customer = self.get("customer", session["customer"])
        elif session["mode"] == "subscription" or session["customer_creation"] == "always":
            customer = self.create_customer(
                {"email": session["customer_email"] or email, **({"name": name} if name else {})}
            )
        # In payment mode Stripe makes no Customer unless asked (a guest): the email the
        # buyer gave is only in customer_details.
        payer_email = (customer or {}).get("email") or session["customer_email"] or email
        payer_name = (customer or {}).get("name") or name
        items = session["line_items"]["data"]
        total = session["amount_total"]
        changes: JsonObject = {
            "customer": customer["id"] if customer else None,
            "customer_details": {
                "address": None,
                "email": payer_email,
                "name": payer_name,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
            "payment_status": "unpaid" if delayed else "paid",
            "status": "complete",
            "url": None,
        }
        if delayed:
            intent = self._intent(customer, total, session["currency"], session["metadata"])
        else:
            intent = self._pay(
                customer,
                total,
                session["currency"],
                session["metadata"],
                email=payer_email,
                name=payer_name,
            )
        if session["mode"] == "payment":
            changes["payment_intent"] = intent["id"]
        else:
            assert customer is not None  # subscription mode always makes one
            subscription = self._new(
                "subscription",
                {
                    "billing_cycle_anchor": now,
                    "cancel_at": None,
                    "cancel_at_period_end": False,
                    "canceled_at": None,
                    "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                    "collection_method": "charge_automatically",
                    "currency": session["currency"],
                    "customer": customer["id"],
                    "default_payment_method": "pm_" + intent["id"][3:],
                    "ended_at": None,
                    "items": {"object": "list", "data": [], "has_more": False},
                    "latest_invoice": None,
                    # Stripe copies only subscription_data[metadata]; sessions made without it
                    # keep the sandbox's older behaviour of copying the session's metadata.
                    "metadata": dict(
                        self.subscription_metadata.get(session["id"]) or session["metadata"]
                    ),
                    "start_date": now,
                    "status": "active",
                    "trial_end": None,
                    "trial_start": None,
                },
            )
            subscription["items"]["url"] = (
                f"/v1/subscription_items?subscription={subscription['id']}"
            )
            # Recurring prices become the subscription's items; one-time prices are billed on
            # the first invoice only, as Stripe does.
            for item in items:
                price = item["price"]
                if not price["recurring"]:
                    continue
                period = (
                    INTERVALS[price["recurring"]["interval"]] * price["recurring"]["interval_count"]
                )
                subscription["items"]["data"].append(
                    {
                        "id": new_id("si_"),
                        "object": "subscription_item",
                        "created": now,
                        "current_period_end": now + period,
                        "current_period_start": now,
                        "metadata": {},
                        "price": price,
                        "quantity": item["quantity"],
                        "subscription": subscription["id"],
                    }
                )
            invoice = self._invoice(
                subscription,
                "subscription_create",
                paid=True,
                discount=session["total_details"]["amount_discount"],
                one_time=[item for item in items if not item["price"]["recurring"]],
            )
            subscription["latest_invoice"] = invoice["id"]
            self.emit("customer.subscription.created", subscription)
            self.emit("invoice.created", invoice)
            self.emit("invoice.finalized", invoice)
            self.emit("invoice.paid", invoice)
            self.emit("invoice.payment_succeeded", invoice)
            changes["subscription"] = subscription["id"]
            changes["invoice"] = invoice["id"]
        session.update(changes)
        self.emit("checkout.session.completed", self.session_view(session))
        return session

    def settle_payment(self, session: JsonObject, *, succeeded: bool) -> JsonObject:
        """Settle a delayed payment: ``checkout.session.async_payment_succeeded`` or ``_failed``."""
        intent_id = session["payment_intent"]
        intent = self.objects["payment_intent"].get(intent_id) if intent_id else None
        if session["status"] != "complete" or intent is None or intent["status"] != "processing":
            raise StripeError(400, f"Checkout Session {session['id']} has no payment processing.")
        details = session["customer_details"]
        if succeeded:
            self._charge(intent, details["email"], details["name"])
            session["payment_status"] = "paid"
            self.emit("checkout.session.async_payment_succeeded", self.session_view(session))
        else:
            intent.update(
                {
                    "last_payment_error": {
                        "code": "payment_method_provider_decline",
                        "message": "The payment was declined by the bank.",
                        "type": "card_error",
                    },
                    "status": "requires_payment_method",
                }
            )
            self.emit("payment_intent.payment_failed", intent)
            self.emit("checkout.session.async_payment_failed", self.session_view(session))
        return session
