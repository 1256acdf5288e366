"""The REST API under ``/v1``: one route table from (verb, path pattern) to a handler.

Handlers take the decoded parameters and the path's ids, change the state through
`StripeState` and return the JSON body Stripe would; errors are raised as `StripeError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.sandbox.stripe.state import StripeState
from bot.sandbox.stripe.webhooks import WebhookDispatcher
from bot.sandbox.stripe.wire import (
    JsonObject,
    StripeError,
    as_bool,
    as_int,
    as_metadata,
    as_str,
    expansions,
    invalid,
    list_page,
    merge_metadata,
    required,
)

Handler = Callable[["Api", JsonObject, tuple[str, ...]], JsonObject]

# Fields that hold another object's id, and the kind `expand[]` replaces them with.
EXPANDABLE = {
    "customer": "customer",
    "subscription": "subscription",
    "payment_intent": "payment_intent",
    "invoice": "invoice",
    "latest_invoice": "invoice",
    "latest_charge": "charge",
    "charge": "charge",
    "product": "product",
    "default_price": "price",
}


@dataclass(frozen=True)
class Route:
    """One endpoint: its HTTP verb, its path pattern and its handler."""

    verb: str
    pattern: re.Pattern[str]
    handler: Handler


class Api:
    """The Stripe REST API over one account's state."""

    def __init__(self, state: StripeState, webhooks: WebhookDispatcher) -> None:
        self.state = state
        self.webhooks = webhooks

    def route(self, verb: str, path: str) -> tuple[Handler, tuple[str, ...]]:
        """Return the handler and path ids for a request, or raise Stripe's unrecognized URL."""
        for route in ROUTES:
            if route.verb == verb:
                matched = route.pattern.fullmatch(path)
                if matched:
                    return route.handler, matched.groups()
        raise StripeError(
            404,
            f"Unrecognized request URL ({verb}: {path}). Please see https://stripe.com/docs or "
            "we can help at https://support.stripe.com/.",
        )

    # -- shaping answers ------------------------------------------------------------------

    def expand(self, obj: JsonObject, paths: list[str]) -> JsonObject:
        """Replace the id fields named in ``expand`` with the objects they name."""
        view = dict(obj)
        for path in paths:
            head, _, rest = path.partition(".")
            kind = EXPANDABLE.get(head)
            value = view.get(head)
            if kind is None:
                if head in ("currency_options", "line_items"):
                    continue  # includable fields, shown by the views
                raise invalid(
                    f"This property cannot be expanded ({path}).", "expand", "parameter_unknown"
                )
            if isinstance(value, str):
                target = self.show(kind, self.state.get(kind, value), [rest] if rest else [])
                view[head] = target
        return view

    def show(self, kind: str, obj: JsonObject, expand: list[str]) -> JsonObject:
        """Return an object as the API shows it with these expansions."""
        if kind == "price":
            view = self.state.price_view(obj, expand)
        elif kind == "checkout.session":
            view = self.state.session_view(obj, expand)
        else:
            view = dict(obj)
        return self.expand(view, expand)

    def page(
        self, kind: str, objects: list[JsonObject], params: JsonObject, url: str
    ) -> JsonObject:
        """Return one list page with each object shown with ``expand[]=data.…``."""
        expand = [p.removeprefix("data.") for p in expansions(params) if p.startswith("data.")]
        listing = list_page(objects, params, url, kind)
        listing["data"] = [self.show(kind, obj, expand) for obj in listing["data"]]
        return listing

    def one(self, kind: str, object_id: str, params: JsonObject) -> JsonObject:
        """Return one object by id with the request's expansions."""
        return self.show(kind, self.state.get(kind, object_id), expansions(params))


def _filtered(
    objects: list[JsonObject], params: JsonObject, fields: tuple[str, ...]
) -> list[JsonObject]:
    """Keep the objects whose fields equal the string parameters given for them."""
    kept = objects
    for name in fields:
        wanted = as_str(params, name)
        if wanted is not None:
            kept = [obj for obj in kept if obj.get(name) == wanted]
    return kept


def _created_filter(objects: list[JsonObject], params: JsonObject) -> list[JsonObject]:
    """Apply ``created`` (an integer, or a hash of gt/gte/lt/lte) to a list."""
    created = params.get("created")
    if created is None:
        return objects
    if isinstance(created, str):
        exact = as_int(params, "created")
        return [obj for obj in objects if obj["created"] == exact]
    if not isinstance(created, dict):
        raise invalid("Invalid hash: created.", "created")
    tests: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    kept = objects
    for op in created:
        if op not in tests:
            raise invalid(
                f"Received unknown parameter: created[{op}].", f"created[{op}]", "parameter_unknown"
            )
        limit = as_int(created, op)
        assert limit is not None
        kept = [obj for obj in kept if tests[op](obj["created"], limit)]
    return kept


def _all(api: Api, kind: str) -> list[JsonObject]:
    return list(api.state.objects[kind].values())


# -- products, prices, customers ------------------------------------------------------------


def create_product(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.show("product", api.state.create_product(params), expansions(params))


def list_products(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    objects = _created_filter(_all(api, "product"), params)
    return api.page("product", objects, params, "/v1/products")


def get_product(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("product", ids[0], params)


def create_price(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.show("price", api.state.create_price(params), expansions(params))


def list_prices(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    objects = _filtered(_all(api, "price"), params, ("product", "currency", "type"))
    objects = _created_filter(objects, params)
    return api.page("price", objects, params, "/v1/prices")


def get_price(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("price", ids[0], params)


def create_customer(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.show("customer", api.state.create_customer(params), expansions(params))


def list_customers(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    objects = _created_filter(_filtered(_all(api, "customer"), params, ("email",)), params)
    return api.page("customer", objects, params, "/v1/customers")


def get_customer(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("customer", ids[0], params)


def update_customer(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    customer = api.state.get("customer", ids[0])
    return api.show("customer", api.state.update_customer(customer, params), expansions(params))


# -- coupons and promotion codes -------------------------------------------------------------


def create_coupon(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.show("coupon", api.state.create_coupon(params), expansions(params))


def list_coupons(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.page("coupon", _created_filter(_all(api, "coupon"), params), params, "/v1/coupons")


def get_coupon(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("coupon", ids[0], params)


def create_promotion_code(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    promo = api.state.create_promotion_code(params)
    return api.show("promotion_code", promo, expansions(params))


def list_promotion_codes(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    objects = _filtered(_all(api, "promotion_code"), params, ("code", "customer"))
    active = as_bool(params, "active")
    if active is not None:
        objects = [p for p in objects if p["active"] == active]
    coupon = as_str(params, "coupon")
    if coupon is not None:
        objects = [p for p in objects if p["promotion"]["coupon"] == coupon]
    objects = _created_filter(objects, params)
    return api.page("promotion_code", objects, params, "/v1/promotion_codes")


def get_promotion_code(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("promotion_code", ids[0], params)


# -- checkout sessions ------------------------------------------------------------------------


def create_session(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    session = api.state.create_session(params)
    return api.show("checkout.session", session, expansions(params))


def list_sessions(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    fields = ("customer", "payment_intent", "subscription", "status", "client_reference_id")
    objects = _created_filter(_filtered(_all(api, "checkout.session"), params, fields), params)
    details = params.get("customer_details")
    if isinstance(details, dict) and as_str(details, "email") is not None:
        # Matched exactly: the sandbox does not assume Stripe folds case here.
        email = details["email"]
        objects = [
            s for s in objects if s["customer_details"] and s["customer_details"]["email"] == email
        ]
    return api.page("checkout.session", objects, params, "/v1/checkout/sessions")


def get_session(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("checkout.session", ids[0], params)


def expire_session(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    session = api.state.expire_session(api.state.get("checkout.session", ids[0]))
    return api.show("checkout.session", session, expansions(params))


def session_line_items(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    session = api.state.get("checkout.session", ids[0])
    items = list(reversed(session["line_items"]["data"]))  # list_page shows newest first
    return list_page(items, params, session["line_items"]["url"], "line_item")


# -- subscriptions, invoices, payments --------------------------------------------------------


def list_subscriptions(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    objects = _filtered(_all(api, "subscription"), params, ("customer",))
    status = as_str(params, "status")
    if status is None:
        # Stripe lists the subscriptions that are not canceled unless asked.
        objects = [s for s in objects if s["status"] != "canceled"]
    elif status != "all":
        objects = [s for s in objects if s["status"] == status]
    objects = _created_filter(objects, params)
    return api.page("subscription", objects, params, "/v1/subscriptions")


def get_subscription(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("subscription", ids[0], params)


def update_subscription(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    subscription = api.state.get("subscription", ids[0])
    updated = api.state.update_subscription(subscription, params)
    return api.show("subscription", updated, expansions(params))


def cancel_subscription(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    subscription = api.state.get("subscription", ids[0])
    canceled = api.state.cancel_subscription(subscription)
    return api.show("subscription", canceled, expansions(params))


def list_invoices(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    objects = _filtered(_all(api, "invoice"), params, ("customer", "status"))
    subscription = as_str(params, "subscription")
    if subscription is not None:
        objects = [
            i
            for i in objects
            if i["parent"]["subscription_details"]["subscription"] == subscription
        ]
    objects = _created_filter(objects, params)
    return api.page("invoice", objects, params, "/v1/invoices")


def get_invoice(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("invoice", ids[0], params)


def get_payment_intent(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("payment_intent", ids[0], params)


def get_charge(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("charge", ids[0], params)


def create_refund(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.show("refund", api.state.create_refund(params), expansions(params))


def get_refund(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("refund", ids[0], params)


def get_dispute(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("dispute", ids[0], params)


def list_disputes(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    objects = _filtered(_all(api, "dispute"), params, ("charge", "payment_intent"))
    return api.page("dispute", _created_filter(objects, params), params, "/v1/disputes")


def create_portal_session(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    portal = api.state.create_portal_session(params)
    return api.show("billing_portal.session", portal, expansions(params))


# -- events and webhook endpoints -------------------------------------------------------------


def list_events(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    objects = _all(api, "event")
    type_ = as_str(params, "type")
    if type_ is not None:
        # "checkout.session.*" names a family of types, as on Stripe.
        if type_.endswith(".*"):
            objects = [e for e in objects if e["type"].startswith(type_[:-1])]
        else:
            objects = [e for e in objects if e["type"] == type_]
    types = params.get("types")
    if types is not None:
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise invalid("Invalid array: types.", "types")
        if as_str(params, "type") is not None:
            raise invalid("You may only specify one of these parameters: type, types.", "types")
        objects = [e for e in objects if e["type"] in types]
    objects = _created_filter(objects, params)
    return api.page("event", objects, params, "/v1/events")


def get_event(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    return api.one("event", ids[0], params)


def create_webhook_endpoint(api: Api, params: JsonObject, ids: tuple[str, ...]) -> JsonObject:
    url = as_str(params, "url")
    if url is None:
        raise required("url")
    events = params.get("enabled_events")
    if not isinstance(events, list) or not events:
        raise required("enabled_events")
    endpoint = api.webhooks.add_endpoint(url, events=[str(e) for e in events])
    return {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "api_version": None,
        "application": None,
        "created": api.state.now(),
        "description": as_str(params, "description"),
        "enabled_events": list(endpoint.enabled_events),
        "livemode": False,
        "metadata": merge_metadata({}, as_metadata(params) or {}),
        "secret": endpoint.secret,
        "status": "enabled",
        "url": endpoint.url,
    }


_ID = r"([A-Za-z0-9_]+)"


def _routes(*table: tuple[str, str, Any]) -> tuple[Route, ...]:
    return tuple(
        Route(verb, re.compile(path.replace("{id}", _ID)), handler) for verb, path, handler in table
    )


ROUTES = _routes(
    ("POST", "/v1/products", create_product),
    ("GET", "/v1/products", list_products),
    ("GET", "/v1/products/{id}", get_product),
    ("POST", "/v1/prices", create_price),
    ("GET", "/v1/prices", list_prices),
    ("GET", "/v1/prices/{id}", get_price),
    ("POST", "/v1/customers", create_customer),
    ("GET", "/v1/customers", list_customers),
    ("GET", "/v1/customers/{id}", get_customer),
    ("POST", "/v1/customers/{id}", update_customer),
    ("POST", "/v1/coupons", create_coupon),
    ("GET", "/v1/coupons", list_coupons),
    ("GET", "/v1/coupons/{id}", get_coupon),
    ("POST", "/v1/promotion_codes", create_promotion_code),
    ("GET", "/v1/promotion_codes", list_promotion_codes),
    ("GET", "/v1/promotion_codes/{id}", get_promotion_code),
    ("POST", "/v1/checkout/sessions", create_session),
    ("GET", "/v1/checkout/sessions", list_sessions),
    ("GET", "/v1/checkout/sessions/{id}", get_session),
    ("POST", "/v1/checkout/sessions/{id}/expire", expire_session),
    ("GET", "/v1/checkout/sessions/{id}/line_items", session_line_items),
    ("GET", "/v1/subscriptions", list_subscriptions),
    ("GET", "/v1/subscriptions/{id}", get_subscription),
    ("POST", "/v1/subscriptions/{id}", update_subscription),
    ("DELETE", "/v1/subscriptions/{id}", cancel_subscription),
    ("GET", "/v1/invoices", list_invoices),
    ("GET", "/v1/invoices/{id}", get_invoice),
    ("GET", "/v1/payment_intents/{id}", get_payment_intent),
    ("GET", "/v1/charges/{id}", get_charge),
    ("POST", "/v1/refunds", create_refund),
    ("GET", "/v1/refunds/{id}", get_refund),
    ("GET", "/v1/disputes", list_disputes),
    ("GET", "/v1/disputes/{id}", get_dispute),
    ("POST", "/v1/billing_portal/sessions", create_portal_session),
    ("GET", "/v1/events", list_events),
    ("GET", "/v1/events/{id}", get_event),
    ("POST", "/v1/webhook_endpoints", create_webhook_endpoint),
)
