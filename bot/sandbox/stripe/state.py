"""The Stripe account the sandbox keeps: its objects, what changes them, and the events list.

Every state change goes through here and appends the events Stripe would emit, each carrying
a snapshot of the object as it was then (``data.object``) and, for updates, the fields it had
before (``data.previous_attributes``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from bot.sandbox.base import Clock
from bot.sandbox.stripe.wire import (
    API_VERSION,
    SESSION_LIFETIME,
    JsonObject,
    StripeError,
    as_bool,
    as_int,
    as_metadata,
    as_str,
    invalid,
    merge_metadata,
    missing,
    new_id,
    required,
)

# What each object kind is called in a 404 ("No such checkout.session: …"), its id prefix and
# the param Stripe names when a retrieve misses.
KINDS: dict[str, tuple[str, str, str]] = {
    "product": ("product", "prod_", "id"),
    "price": ("price", "price_", "price"),
    "customer": ("customer", "cus_", "id"),
    "checkout.session": ("checkout.session", "cs_test_", "session"),
    "payment_intent": ("payment_intent", "pi_", "intent"),
    "charge": ("charge", "ch_", "charge"),
    "subscription": ("subscription", "sub_", "id"),
    "invoice": ("invoice", "in_", "invoice"),
    "refund": ("refund", "re_", "refund"),
    "dispute": ("dispute", "dp_", "dispute"),
    "coupon": ("coupon", "", "coupon"),
    "promotion_code": ("promotion_code", "promo_", "promotion_code"),
    "billing_portal.session": ("billing_portal.session", "bps_", "session"),
    "event": ("event", "evt_", "id"),
}
INTERVALS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}

EventListener = Callable[[JsonObject], None]


class StripeState:
    """One test-mode Stripe account: objects by kind in creation order, and its events."""

    def __init__(self, *, clock: Clock, base_url: Callable[[], str]) -> None:
        self.clock = clock
        self.base_url = base_url
        self.objects: dict[str, dict[str, JsonObject]] = {kind: {} for kind in KINDS}
        self.listeners: list[EventListener] = []
        self.api_version = API_VERSION
        # The API request being answered, if any: events it causes name it, as Stripe's do.
        self.request: JsonObject = {"id": None, "idempotency_key": None}

    # -- basics ---------------------------------------------------------------------------

    def now(self) -> int:
        """Return the clock in whole seconds, as Stripe's timestamps are."""
        return int(self.clock())

    def get(self, kind: str, object_id: str, param: str | None = None) -> JsonObject:
        """Return a stored object, or raise the 404 Stripe answers for an unknown id."""
        found = self.objects[kind].get(object_id)
        if found is None:
            name, _prefix, default_param = KINDS[kind]
            raise missing(name, object_id, param or default_param)
        return found

    def _new(self, kind: str, fields: JsonObject, object_id: str | None = None) -> JsonObject:
        """Store a new object of a kind with its id, object name, created and livemode."""
        _name, prefix, _param = KINDS[kind]
        length = {"checkout.session": 58, "coupon": 8}.get(kind, 24)
        obj: JsonObject = {
            "id": object_id or new_id(prefix, length),
            "object": kind,
            "created": self.now(),
            "livemode": False,
        }
        obj.update(fields)
        self.objects[kind][obj["id"]] = obj
        return obj

    def emit(self, type_: str, obj: JsonObject, previous: JsonObject | None = None) -> JsonObject:
        """Append an event with a snapshot of the object and hand it to the listeners."""
        data: JsonObject = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = self._new(
            "event",
            {
                "api_version": self.api_version,
                "data": data,
                "pending_webhooks": 0,
                "request": dict(self.request),
                "type": type_,
            },
        )
        for listener in self.listeners:
            listener(event)
        return event

    def update(self, kind: str, obj: JsonObject, type_: str, changes: JsonObject) -> JsonObject:
        """Apply field changes to an object and emit ``type_`` with the previous attributes."""
        previous = {
            key: copy.deepcopy(obj.get(key)) for key in changes if obj.get(key) != changes[key]
        }
        obj.update(changes)
        if previous:
            self.emit(type_, obj, previous)
        return obj

    # -- products, prices, customers -------------------------------------------------------

    def create_product(self, params: JsonObject) -> JsonObject:
        """Create a product (``name`` required)."""
        name = as_str(params, "name")
        if name is None:
            raise required("name")
        now = self.now()
        product = self._new(
            "product",
            {
                "active": as_bool(params, "active") is not False,
                "default_price": None,
                "description": as_str(params, "description"),
                "images": [],
                "marketing_features": [],
                "metadata": as_metadata(params) or {},
                "name": name,
                "package_dimensions": None,
                "shippable": None,
                "statement_descriptor": None,
                "tax_code": None,
                "unit_label": None,
                "updated": now,
                "url": None,
            },
        )
        self.emit("product.created", product)
        return product

    def create_price(self, params: JsonObject) -> JsonObject:
        """Create a price for a product (or ``product_data``), one-time or recurring."""
        currency = as_str(params, "currency")
        if currency is None:
            raise required("currency")
        product_id = as_str(params, "product")
        product_data = params.get("product_data")
        if product_id is None and isinstance(product_data, dict):
            product = self.create_product(product_data)
            product_id = product["id"]
        elif product_id is None:
            raise required("product")
        else:
            self.get("product", product_id, "product")
        unit_amount = as_int(params, "unit_amount", minimum=0)
        if unit_amount is None:
            raise required("unit_amount")
        recurring: JsonObject | None = None
        raw_recurring = params.get("recurring")
        if raw_recurring is not None:
            if not isinstance(raw_recurring, dict):
                raise invalid("Invalid hash: recurring.", "recurring")
            interval = as_str(raw_recurring, "interval")
            if interval not in INTERVALS:
                raise invalid(
                    "Invalid recurring[interval]: must be one of day, month, week, or year.",
                    "recurring[interval]",
                )
            recurring = {
                "interval": interval,
                "interval_count": as_int(raw_recurring, "interval_count", minimum=1) or 1,
                "meter": None,
                "trial_period_days": None,
                "usage_type": "licensed",
            }
        options: JsonObject = {}
        raw_options = params.get("currency_options") or {}
        if not isinstance(raw_options, dict):
            raise invalid("Invalid hash: currency_options.", "currency_options")
        for code, option in raw_options.items():
            if not isinstance(option, dict):
                raise invalid("Invalid hash.", f"currency_options[{code}]")
            amount = as_int(option, "unit_amount", minimum=0)
            if amount is None:
                raise required(f"currency_options[{code}][unit_amount]")
            options[code.lower()] = {
                "custom_unit_amount": None,
                "tax_behavior": "unspecified",
                "unit_amount": amount,
                "unit_amount_decimal": str(amount),
            }
        currency = currency.lower()
        options.setdefault(
            currency,
            {
                "custom_unit_amount": None,
                "tax_behavior": "unspecified",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            },
        )
        price = self._new(
            "price",
            {
                "active": as_bool(params, "active") is not False,
                "billing_scheme": "per_unit",
                "currency": currency,
                "currency_options": options,
                "custom_unit_amount": None,
                "lookup_key": as_str(params, "lookup_key"),
                "metadata": as_metadata(params) or {},
                "nickname": as_str(params, "nickname"),
                "product": product_id,
                "recurring": recurring,
                "tax_behavior": "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "recurring" if recurring else "one_time",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            },
        )
        self.emit("price.created", self.price_view(price))
        return price

    @staticmethod
    def price_view(price: JsonObject, expand: list[str] | None = None) -> JsonObject:
        """Return a price as the API shows it: ``currency_options`` only when expanded."""
        view = dict(price)
        if "currency_options" not in (expand or []):
            view.pop("currency_options", None)
        return view

    def create_customer(self, params: JsonObject) -> JsonObject:
        """Create a customer (email, name, metadata, all optional)."""
        customer = self._new(
            "customer",
            {
                "address": None,
                "balance": 0,
                "currency": None,
                "default_source": None,
                "delinquent": False,
                "description": as_str(params, "description"),
                "email": as_str(params, "email"),
                "invoice_prefix": new_id("", 8).upper(),
                "metadata": as_metadata(params) or {},
                "name": as_str(params, "name"),
                "phone": None,
                "preferred_locales": [],
                "shipping": None,
                "tax_exempt": "none",
            },
        )
        self.emit("customer.created", customer)
        return customer

    def update_customer(self, customer: JsonObject, params: JsonObject) -> JsonObject:
        """Change a customer's email, name, description or metadata."""
        changes: JsonObject = {}
        for name in ("email", "name", "description"):
            if name in params:
                changes[name] = as_str(params, name)
        metadata = as_metadata(params)
        if metadata is not None:
            changes["metadata"] = merge_metadata(customer["metadata"], metadata)
        return self.update("customer", customer, "customer.updated", changes)

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
        if customer_id is not None and customer_email is not None:
            raise invalid(
                "You may only specify one of these parameters: customer, customer_email.",
                "customer_email",
            )
        if customer_id is not None:
            self.get("customer", customer_id, "customer")
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
        return session

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

    def promotion_code_by_code(self, code: str) -> JsonObject | None:
        """Return the active promotion code a customer typed (case-insensitive), if any."""
        for promo in self.objects["promotion_code"].values():
            if promo["active"] and promo["code"].lower() == code.strip().lower():
                return promo
        return None

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

    # -- coupons and promotion codes ------------------------------------------------------

    def create_coupon(self, params: JsonObject) -> JsonObject:
        """Create a coupon: ``percent_off`` or ``amount_off`` with ``currency``."""
        coupon_id = as_str(params, "id")
        if coupon_id is not None and coupon_id in self.objects["coupon"]:
            raise StripeError(
                400,
                "Coupon already exists.",
                code="resource_already_exists",
                param="id",
                saved=False,
            )
        raw_percent = as_str(params, "percent_off")
        amount_off = as_int(params, "amount_off", minimum=1)
        if (raw_percent is None) == (amount_off is None):
            raise invalid("You must pass exactly one of amount_off or percent_off.", "percent_off")
        percent: float | None = None
        if raw_percent is not None:
            try:
                percent = float(raw_percent)
            except ValueError:
                raise invalid(f"Invalid decimal: {raw_percent}", "percent_off") from None
            if not 0 < percent <= 100:
                raise invalid("percent_off must be greater than 0 and at most 100.", "percent_off")
        currency = as_str(params, "currency")
        if amount_off is not None and currency is None:
            raise required("currency")
        duration = as_str(params, "duration") or "once"
        if duration not in ("once", "forever", "repeating"):
            raise invalid(
                "Invalid duration: must be one of forever, once, or repeating.", "duration"
            )
        months = as_int(params, "duration_in_months", minimum=1)
        if duration == "repeating" and months is None:
            raise required("duration_in_months")
        coupon = self._new(
            "coupon",
            {
                "amount_off": amount_off,
                "applies_to": None,
                "currency": currency.lower() if currency and amount_off is not None else None,
                "duration": duration,
                "duration_in_months": months if duration == "repeating" else None,
                "max_redemptions": as_int(params, "max_redemptions", minimum=1),
                "metadata": as_metadata(params) or {},
                "name": as_str(params, "name"),
                "percent_off": percent,
                "redeem_by": as_int(params, "redeem_by"),
                "times_redeemed": 0,
                "valid": True,
            },
            coupon_id,
        )
        self.emit("coupon.created", coupon)
        return coupon

    def create_promotion_code(self, params: JsonObject) -> JsonObject:
        """Create a customer-facing code for a coupon (``promotion[coupon]``)."""
        promotion = params.get("promotion")
        if not isinstance(promotion, dict):
            raise required("promotion")
        if as_str(promotion, "type") != "coupon":
            raise invalid("Invalid promotion[type]: must be coupon.", "promotion[type]")
        coupon_id = as_str(promotion, "coupon")
        if coupon_id is None:
            raise required("promotion[coupon]")
        self.get("coupon", coupon_id, "promotion[coupon]")
        code = as_str(params, "code") or new_id("", 8).upper()
        if self.promotion_code_by_code(code) is not None:
            raise invalid(f"An active promotion code with `code: {code}` already exists.", "code")
        promo = self._new(
            "promotion_code",
            {
                "active": as_bool(params, "active") is not False,
                "code": code,
                "customer": as_str(params, "customer"),
                "expires_at": as_int(params, "expires_at"),
                "max_redemptions": as_int(params, "max_redemptions", minimum=1),
                "metadata": as_metadata(params) or {},
                "promotion": {"coupon": coupon_id, "type": "coupon"},
                "restrictions": {
                    "currency_options": {},
                    "first_time_transaction": False,
                    "minimum_amount": None,
                    "minimum_amount_currency": None,
                },
                "times_redeemed": 0,
            },
        )
        self.emit("promotion_code.created", promo)
        return promo

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
    ) -> JsonObject:
        """Pay a session as a customer would and emit the events Stripe emits, in its order.

        ``promotion_code`` is a code the customer types on the pay page (the session must
        allow promotion codes).
        """
        if session["status"] != "open":
            raise StripeError(
                400, f"This Checkout Session is {session['status']} and can no longer be paid."
            )
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
        if session["customer"] is None:
            customer = self.create_customer(
                {"email": session["customer_email"] or email, **({"name": name} if name else {})}
            )
        else:
            customer = self.get("customer", session["customer"])
        items = session["line_items"]["data"]
        total = session["amount_total"]
        changes: JsonObject = {
            "customer": customer["id"],
            "customer_details": {
                "address": None,
                "email": customer["email"] or email,
                "name": customer["name"] or name,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
            "payment_status": "paid",
            "status": "complete",
            "url": None,
        }
        intent = self._pay(customer, total, session["currency"], session["metadata"])
        if session["mode"] == "payment":
            changes["payment_intent"] = intent["id"]
        else:
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
                    "metadata": dict(session["metadata"]),
                    "start_date": now,
                    "status": "active",
                    "trial_end": None,
                    "trial_start": None,
                },
            )
            subscription["items"]["url"] = (
                f"/v1/subscription_items?subscription={subscription['id']}"
            )
            for item in items:
                price = item["price"]
                period = (
                    INTERVALS[price["recurring"]["interval"]] * price["recurring"]["interval_count"]
                    if price["recurring"]
                    else 0
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

    def _pay(
        self, customer: JsonObject, amount: int, currency: str, metadata: dict[str, str]
    ) -> JsonObject:
        """Create a succeeded payment intent and its charge; emit their events."""
        intent = self._new(
            "payment_intent",
            {
                "amount": amount,
                "amount_received": amount,
                "currency": currency,
                "customer": customer["id"],
                "latest_charge": None,
                "metadata": dict(metadata),
                "status": "succeeded",
            },
        )
        charge = self._new(
            "charge",
            {
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "billing_details": {"email": customer["email"], "name": customer["name"]},
                "captured": True,
                "currency": currency,
                "customer": customer["id"],
                "disputed": False,
                "metadata": dict(metadata),
                "paid": True,
                "payment_intent": intent["id"],
                "refunded": False,
                "refunds": {"object": "list", "data": [], "has_more": False},
                "status": "succeeded",
            },
        )
        intent["latest_charge"] = charge["id"]
        self.emit("charge.succeeded", charge)
        self.emit("payment_intent.succeeded", intent)
        return intent

    def _invoice(
        self,
        subscription: JsonObject,
        reason: str,
        *,
        paid: bool,
        discount: int = 0,
    ) -> JsonObject:
        """Create a subscription's invoice, paid or with its first payment attempt failed."""
        now = self.now()
        lines = [
            {
                "id": new_id("il_"),
                "object": "line_item",
                "amount": item["price"]["unit_amount"] * item["quantity"],
                "currency": subscription["currency"],
                "period": {
                    "end": item["current_period_end"],
                    "start": item["current_period_start"],
                },
                "pricing": {
                    "price_details": {
                        "price": item["price"]["id"],
                        "product": item["price"]["product"],
                    },
                    "type": "price_details",
                },
                "quantity": item["quantity"],
            }
            for item in subscription["items"]["data"]
        ]
        subtotal = sum(line["amount"] for line in lines)
        amount = subtotal - discount
        return self._new(
            "invoice",
            {
                "amount_due": amount,
                "amount_paid": amount if paid else 0,
                "amount_remaining": 0 if paid else amount,
                "attempt_count": 1,
                "attempted": True,
                "billing_reason": reason,
                "collection_method": "charge_automatically",
                "currency": subscription["currency"],
                "customer": subscription["customer"],
                "customer_email": self.objects["customer"][subscription["customer"]]["email"],
                "lines": {"object": "list", "data": lines, "has_more": False},
                "metadata": {},
                "next_payment_attempt": None if paid else now + 3 * 86400,
                "parent": {
                    "quote_details": None,
                    "subscription_details": {
                        "metadata": dict(subscription["metadata"]),
                        "subscription": subscription["id"],
                    },
                    "type": "subscription_details",
                },
                "period_end": now,
                "period_start": now,
                "status": "paid" if paid else "open",
                "subtotal": subtotal,
                "total_discount_amounts": [{"amount": discount}] if discount else [],
                "status_transitions": {
                    "finalized_at": now,
                    "marked_uncollectible_at": None,
                    "paid_at": now if paid else None,
                    "voided_at": None,
                },
                "total": amount,
            },
        )

    # -- subscriptions ----------------------------------------------------------------------

    def cancel_subscription(
        self, subscription: JsonObject, reason: str = "cancellation_requested"
    ) -> JsonObject:
        """End a subscription now and emit ``customer.subscription.deleted``."""
        if subscription["status"] == "canceled":
            raise StripeError(
                400,
                f"A canceled subscription can only update its cancellation_details and "
                f"metadata. (subscription {subscription['id']})",
            )
        now = self.now()
        subscription.update(
            {
                "status": "canceled",
                "canceled_at": now,
                "ended_at": now,
                "cancellation_details": {"comment": None, "feedback": None, "reason": reason},
            }
        )
        self.emit("customer.subscription.deleted", subscription)
        return subscription

    def update_subscription(self, subscription: JsonObject, params: JsonObject) -> JsonObject:
        """Change ``cancel_at_period_end`` or metadata; emit ``customer.subscription.updated``."""
        changes: JsonObject = {}
        at_end = as_bool(params, "cancel_at_period_end")
        if at_end is not None:
            if subscription["status"] == "canceled":
                raise invalid(
                    "A canceled subscription can only update its cancellation_details and metadata.",
                    "cancel_at_period_end",
                )
            changes["cancel_at_period_end"] = at_end
            end = max(item["current_period_end"] for item in subscription["items"]["data"])
            changes["cancel_at"] = end if at_end else None
            changes["canceled_at"] = self.now() if at_end else None
        metadata = as_metadata(params)
        if metadata is not None:
            changes["metadata"] = merge_metadata(subscription["metadata"], metadata)
        return self.update("subscription", subscription, "customer.subscription.updated", changes)

    def fail_renewal(self, subscription: JsonObject) -> JsonObject:
        """Make the next renewal's payment fail: an open invoice, and the subscription past due."""
        if subscription["status"] not in ("active", "past_due"):
            raise StripeError(
                400, f"Subscription {subscription['id']} is {subscription['status']}."
            )
        self._advance_period(subscription)
        invoice = self._invoice(subscription, "subscription_cycle", paid=False)
        self.emit("invoice.created", invoice)
        self.emit("invoice.finalized", invoice)
        self.emit("invoice.payment_failed", invoice)
        self.update(
            "subscription",
            subscription,
            "customer.subscription.updated",
            {"status": "past_due", "latest_invoice": invoice["id"]},
        )
        return invoice

    def renew(self, subscription: JsonObject) -> JsonObject:
        """Renew a subscription with a paid invoice (and recover it from past due)."""
        if subscription["status"] not in ("active", "past_due"):
            raise StripeError(
                400, f"Subscription {subscription['id']} is {subscription['status']}."
            )
        if subscription["cancel_at_period_end"]:
            raise StripeError(
                400, f"Subscription {subscription['id']} ends at its period end; it does not renew."
            )
        self._advance_period(subscription)
        customer = self.get("customer", subscription["customer"])
        amount = sum(
            i["price"]["unit_amount"] * i["quantity"] for i in subscription["items"]["data"]
        )
        self._pay(customer, amount, subscription["currency"], subscription["metadata"])
        invoice = self._invoice(subscription, "subscription_cycle", paid=True)
        self.emit("invoice.created", invoice)
        self.emit("invoice.finalized", invoice)
        self.emit("invoice.paid", invoice)
        self.emit("invoice.payment_succeeded", invoice)
        self.update(
            "subscription",
            subscription,
            "customer.subscription.updated",
            {"status": "active", "latest_invoice": invoice["id"]},
        )
        return invoice

    def end_period(self, subscription: JsonObject) -> JsonObject:
        """End the current period: cancel if set to cancel at period end, else renew (paid)."""
        if subscription["cancel_at_period_end"]:
            return self.cancel_subscription(subscription)
        self.renew(subscription)
        return subscription

    def _advance_period(self, subscription: JsonObject) -> None:
        for item in subscription["items"]["data"]:
            length = item["current_period_end"] - item["current_period_start"]
            item["current_period_start"] = item["current_period_end"]
            item["current_period_end"] = item["current_period_start"] + length

    # -- refunds and the billing portal -----------------------------------------------------

    def create_refund(self, params: JsonObject) -> JsonObject:
        """Refund a charge (or a payment intent's charge), in full or in part."""
        charge_id = as_str(params, "charge")
        intent_id = as_str(params, "payment_intent")
        if charge_id is None and intent_id is None:
            raise required("charge")
        if charge_id is None:
            assert intent_id is not None
            intent = self.get("payment_intent", intent_id, "payment_intent")
            charge_id = intent["latest_charge"]
        charge = self.get("charge", str(charge_id), "charge")
        left = charge["amount"] - charge["amount_refunded"]
        amount = as_int(params, "amount", minimum=1)
        amount = left if amount is None else amount
        if left <= 0:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount > left:
            raise invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                "amount",
            )
        refund = self._new(
            "refund",
            {
                "amount": amount,
                "charge": charge["id"],
                "currency": charge["currency"],
                "metadata": as_metadata(params) or {},
                "payment_intent": charge["payment_intent"],
                "reason": as_str(params, "reason"),
                "status": "succeeded",
            },
        )
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, refund)
        self.emit("refund.created", refund)
        self.emit("charge.refunded", charge, previous)
        return refund

    def open_dispute(self, charge: JsonObject, reason: str = "fraudulent") -> JsonObject:
        """Open a dispute on a charge (the cardholder's bank): ``charge.dispute.created``."""
        if charge["disputed"]:
            raise StripeError(400, f"Charge {charge['id']} is already disputed.")
        dispute = self._new(
            "dispute",
            {
                "amount": charge["amount"] - charge["amount_refunded"],
                "charge": charge["id"],
                "currency": charge["currency"],
                "evidence_details": {"due_by": self.now() + 7 * 86400, "has_evidence": False},
                "is_charge_refundable": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "needs_response",
            },
        )
        charge["disputed"] = True
        self.emit("charge.dispute.created", dispute)
        return dispute

    def close_dispute(self, dispute: JsonObject, *, won: bool) -> JsonObject:
        """Close a dispute, won or lost: ``charge.dispute.closed``."""
        if dispute["status"] in ("won", "lost"):
            raise StripeError(
                400, f"Dispute {dispute['id']} is already closed ({dispute['status']})."
            )
        previous = {"status": dispute["status"]}
        dispute["status"] = "won" if won else "lost"
        self.emit("charge.dispute.closed", dispute, previous)
        return dispute

    def create_portal_session(self, params: JsonObject) -> JsonObject:
        """Open a billing-portal session for a customer; its ``url`` is a local page."""
        customer_id = as_str(params, "customer")
        if customer_id is None:
            raise required("customer")
        self.get("customer", customer_id, "customer")
        portal = self._new(
            "billing_portal.session",
            {
                "configuration": "bpc_sandbox",
                "customer": customer_id,
                "flow": None,
                "locale": None,
                "on_behalf_of": None,
                "return_url": as_str(params, "return_url"),
                "url": None,
            },
        )
        portal["url"] = f"{self.base_url()}/portal/{portal['id']}"
        return portal

    def subscriptions_of(self, customer_id: str) -> list[JsonObject]:
        """Return a customer's subscriptions in creation order."""
        return [s for s in self.objects["subscription"].values() if s["customer"] == customer_id]

    def find(self, kind: str, **fields: Any) -> list[JsonObject]:
        """Return the objects of a kind whose fields equal these values, in creation order."""
        return [
            obj
            for obj in self.objects[kind].values()
            if all(obj.get(name) == value for name, value in fields.items())
        ]
