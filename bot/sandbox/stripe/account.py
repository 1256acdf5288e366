"""The account's storage: objects by kind, ids, and the events every change appends.

Every state change appends the events Stripe would emit, each carrying a snapshot of the object
as it was then (``data.object``) and, for updates, the fields it had before
(``data.previous_attributes``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from bot.sandbox.base import Clock
from bot.sandbox.stripe.wire import (
    API_VERSION,
    JsonObject,
    missing,
    new_id,
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


class Account:
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
