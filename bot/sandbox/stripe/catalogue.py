"""The catalogue: products, prices, customers, coupons and promotion codes."""

from __future__ import annotations

from bot.sandbox.stripe.account import INTERVALS, Account
from bot.sandbox.stripe.wire import (
    JsonObject,
    StripeError,
    as_bool,
    as_int,
    as_metadata,
    as_str,
    invalid,
    merge_metadata,
    new_id,
    required,
)


class Catalogue(Account):
    """What an account sells and to whom."""

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

    def promotion_code_by_code(self, code: str) -> JsonObject | None:
        """Return the active promotion code a customer typed (case-insensitive), if any."""
        for promo in self.objects["promotion_code"].values():
            if promo["active"] and promo["code"].lower() == code.strip().lower():
                return promo
        return None
