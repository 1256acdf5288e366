"""Webhook delivery: signed POSTs of each event to the registered endpoints, retried on failure.

As Stripe does, the sandbox POSTs the event's JSON with ``Stripe-Signature: t=…,v1=…`` (signed
afresh at each attempt) and retries any answer that is not 2xx, or no answer, with exponential
backoff: attempt n waits ``backoff_base * 2 ** (n - 1)`` seconds (Stripe's base is hours; tests
set it small). Stripe does not promise order; for tests that need a given order the dispatcher
can hold deliveries and release them in any order, duplicate each event, or delay it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import aiohttp

from bot.sandbox.base import Clock
from bot.sandbox.stripe.wire import JsonObject, new_id, new_webhook_secret, sign_payload

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclass
class Endpoint:
    """A registered webhook endpoint: where events go, its signing secret, which types.

    After `WebhookDispatcher.roll_secret` the old secrets still sign (one ``v1`` each after the
    current one) until `WebhookDispatcher.expire_old_secrets`, as during Stripe's rotation.
    """

    id: str
    url: str
    secret: str
    enabled_events: tuple[str, ...] = ("*",)
    old_secrets: list[str] = field(default_factory=list)

    def wants(self, event_type: str) -> bool:
        """Tell whether this endpoint subscribed to an event type."""
        return "*" in self.enabled_events or event_type in self.enabled_events


@dataclass(frozen=True)
class Attempt:
    """One POST of a delivery: the receiver's HTTP status, or the error when none came."""

    at: float
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Delivery:
    """One event on its way to one endpoint (one of several when duplicated)."""

    number: int
    event_id: str
    event_type: str
    endpoint: Endpoint
    payload: str
    queued_at: float
    state: str = "pending"  # held, pending, retrying, delivered, failed
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        """Tell whether an attempt got a 2xx."""
        return self.state == "delivered"

    @property
    def done(self) -> bool:
        """Tell whether the delivery is over, delivered or given up."""
        return self.state in ("delivered", "failed")


class WebhookDispatcher:
    """Deliver events to endpoints; the knobs are plain attributes tests set."""

    def __init__(self, *, clock: Clock, changed: Callable[[], Awaitable[None]]) -> None:
        self.clock = clock
        self._changed = changed
        self.endpoints: list[Endpoint] = []
        self.deliveries: list[Delivery] = []
        # Attempt n (from 1) that failed waits backoff_base * 2 ** (n - 1) s before the next.
        self.backoff_base = 60.0
        self.max_attempts = 8
        # Each event is delivered this many times (separate deliveries, same event id).
        self.copies = 1
        # Seconds before a delivery's first attempt.
        self.delay = 0.0
        # How long a receiver may take to answer before the attempt counts as failed.
        self.timeout = 10.0
        self.holding = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    # -- endpoints ------------------------------------------------------------------------

    def add_endpoint(
        self, url: str, *, secret: str | None = None, events: Iterable[str] = ("*",)
    ) -> Endpoint:
        """Register a webhook endpoint; its secret is made unless given."""
        endpoint = Endpoint(
            id=new_id("we_"),
            url=url,
            secret=secret or new_webhook_secret(),
            enabled_events=tuple(events),
        )
        self.endpoints.append(endpoint)
        return endpoint

    def roll_secret(self, endpoint: Endpoint, secret: str | None = None) -> str:
        """Give an endpoint a new signing secret; the old one keeps signing until expired."""
        endpoint.old_secrets.insert(0, endpoint.secret)
        endpoint.secret = secret or new_webhook_secret()
        return endpoint.secret

    def expire_old_secrets(self, endpoint: Endpoint) -> None:
        """Stop signing with an endpoint's previous secrets."""
        endpoint.old_secrets.clear()

    # -- queueing -------------------------------------------------------------------------

    def on_event(self, event: JsonObject) -> None:
        """Queue an event for every endpoint that wants it (the state's event listener)."""
        targets = [e for e in self.endpoints if e.wants(event["type"])]
        if not targets:
            return
        event["pending_webhooks"] = len(targets)
        # Stripe sends pretty-printed JSON; the signature covers these exact bytes.
        payload = json.dumps(event, indent=2)
        for endpoint in targets:
            for _copy in range(max(self.copies, 1)):
                delivery = Delivery(
                    number=len(self.deliveries) + 1,
                    event_id=event["id"],
                    event_type=event["type"],
                    endpoint=endpoint,
                    payload=payload,
                    queued_at=self.clock(),
                    state="held" if self.holding else "pending",
                )
                self.deliveries.append(delivery)
                if not self.holding:
                    self._spawn(self._deliver(delivery, self.delay))

    def hold(self) -> None:
        """Keep new deliveries back until `release`."""
        self.holding = True

    def held(self) -> list[Delivery]:
        """Return the deliveries held back, in the order their events happened."""
        return [d for d in self.deliveries if d.state == "held"]

    async def release(self, order: Iterable[Delivery] | None = None) -> None:
        """Stop holding and deliver the held deliveries one after another, and wait for them.

        Those listed in ``order`` go first, in that order, then the others in event order;
        each is finished (delivered, or failed after its retries) before the next starts.
        """
        self.holding = False
        first = list(order or [])
        queue = first + [d for d in self.held() if d not in first]
        stray = [d.number for d in queue if d.state != "held"]
        if stray:
            raise ValueError(f"deliveries {stray} are not held")
        for delivery in queue:
            delivery.state = "pending"
        for delivery in queue:
            await self._deliver(delivery, 0.0)

    async def redeliver(self, delivery: Delivery) -> Delivery:
        """Send an event again to the same endpoint, as a new delivery, and wait for it."""
        again = Delivery(
            number=len(self.deliveries) + 1,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            endpoint=delivery.endpoint,
            payload=delivery.payload,
            queued_at=self.clock(),
        )
        self.deliveries.append(again)
        await self._deliver(again, 0.0)
        return again

    # -- sending --------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        while True:
            attempt = await self._post(delivery)
            delivery.attempts.append(attempt)
            if attempt.ok:
                delivery.state = "delivered"
            elif len(delivery.attempts) >= self.max_attempts:
                delivery.state = "failed"
            else:
                delivery.state = "retrying"
            await self._changed()
            if delivery.done:
                return
            await asyncio.sleep(self.backoff_base * 2 ** (len(delivery.attempts) - 1))

    async def _post(self, delivery: Delivery) -> Attempt:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        at = self.clock()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            # During a rotation the old secrets sign too, after the current one.
            "Stripe-Signature": sign_payload(
                delivery.payload,
                [delivery.endpoint.secret, *delivery.endpoint.old_secrets],
                int(at),
            ),
        }
        try:
            async with self._http.post(
                delivery.endpoint.url,
                data=delivery.payload.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                await response.read()
                return Attempt(at, response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            return Attempt(at, None, f"{type(error).__name__}: {error}")

    async def close(self) -> None:
        """Cancel deliveries in flight and close the HTTP session."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None
