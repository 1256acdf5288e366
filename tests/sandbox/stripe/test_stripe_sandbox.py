"""The Stripe sandbox drives the real stripe-python client (async) and delivers signed webhooks."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import stripe
from aiohttp import web

from bot.sandbox.stripe import StripeError, StripeSandbox, parse_form, sign_payload

pytestmark = [
    pytest.mark.e2e,
    # stripe-python's HTTPXClient hands httpx raw bytes as `data`; the warning is the library's.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture
async def sandbox() -> AsyncIterator[StripeSandbox]:
    sandbox = StripeSandbox(webhook_backoff=0.01)
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


def make_client(
    sandbox: StripeSandbox, key: str | None = None, retries: int = 0
) -> stripe.StripeClient:
    return stripe.StripeClient(
        key or sandbox.api_key,
        base_addresses={"api": sandbox.api_base},
        http_client=stripe.HTTPXClient(),
        max_network_retries=retries,
    )


@pytest.fixture
async def client(sandbox: StripeSandbox) -> AsyncIterator[stripe.StripeClient]:
    client = make_client(sandbox)
    yield client
    await client._requestor._client.close_async()


@dataclass
class Receiver:
    """A webhook endpoint that verifies each delivery with stripe-python, as a bot would."""

    url: str = ""
    events: list[stripe.Event] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    # Statuses to answer, in order, before answering 200.
    failures: list[int] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.text()
        try:
            event = stripe.Webhook.construct_event(
                payload, request.headers.get("Stripe-Signature"), WEBHOOK_SECRET
            )
        except stripe.SignatureVerificationError as error:
            self.rejected.append(str(error))
            return web.Response(status=400)
        if self.failures:
            return web.Response(status=self.failures.pop(0))
        self.events.append(event)
        return web.Response(status=200)


@pytest.fixture
async def receiver(sandbox: StripeSandbox) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/stripe/webhook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/stripe/webhook"
    sandbox.add_webhook_endpoint(receiver.url, secret=WEBHOOK_SECRET)
    yield receiver
    await sandbox.webhooks.close()
    await runner.cleanup()


async def monthly_price(client: stripe.StripeClient) -> stripe.Price:
    product = await client.v1.products.create_async(
        {"name": "Supporters", "metadata": {"tier": "1"}}
    )
    return await client.v1.prices.create_async(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 500,
            "recurring": {"interval": "month"},
            "currency_options": {"eur": {"unit_amount": 460}},
        }
    )


async def subscription_session(
    client: stripe.StripeClient, price: stripe.Price
) -> stripe.checkout.Session:
    return await client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://example.org/thanks?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://example.org/cancel",
            "client_reference_id": "member-42",
            "customer_email": "ada@example.org",
            "metadata": {"offer": "supporters", "member": "42"},
        }
    )


def test_form_bodies_decode_nested_hashes_indexed_lists_and_appended_arrays() -> None:
    params = parse_form(
        "metadata[offer]=gold&line_items[0][price]=price_1&line_items[0][quantity]=2"
        "&line_items[1][price]=price_2&expand[]=customer&expand[]=subscription&metadata[gone]="
    )
    assert params == {
        "metadata": {"offer": "gold", "gone": ""},
        "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
        "expand": ["customer", "subscription"],
    }


async def test_a_price_and_a_checkout_session_are_made_and_read_back_through_the_real_client(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    price = await monthly_price(client)
    assert price.id.startswith("price_") and price.object == "price" and price.livemode is False
    assert (price.type, price.unit_amount, price.recurring.interval) == ("recurring", 500, "month")
    assert "currency_options" not in price  # includable: only when expanded, as on Stripe
    expanded = await client.v1.prices.retrieve_async(price.id, {"expand": ["currency_options"]})
    assert expanded.currency_options["eur"].unit_amount == 460
    assert expanded.currency_options["usd"].unit_amount == 500

    session = await subscription_session(client, price)
    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert (session.status, session.payment_status, session.mode) == (
        "open",
        "unpaid",
        "subscription",
    )
    assert session.url == f"{sandbox.base_url}/pay/{session.id}"
    assert session.metadata.to_dict() == {"offer": "supporters", "member": "42"}
    assert (session.client_reference_id, session.customer_email) == ("member-42", "ada@example.org")
    assert session.amount_total == 500 and isinstance(session.created, int)

    # The wire form stripe-python sent, as the sandbox decoded it.
    call = next(c for c in sandbox.calls if c.path == "/v1/checkout/sessions")
    assert call.params["line_items"] == [{"price": price.id, "quantity": "1"}]
    assert call.params["metadata"] == {"offer": "supporters", "member": "42"}
    assert call.idempotency_key  # stripe-python sends one on every POST

    again = await client.v1.checkout.sessions.retrieve_async(session.id, {"expand": ["line_items"]})
    assert again.line_items.data[0].price.id == price.id
    listed = await client.v1.checkout.sessions.list_async({"limit": 5})
    assert [s.id for s in listed.data] == [session.id] and listed.url == "/v1/checkout/sessions"

    expired = await client.v1.checkout.sessions.expire_async(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await client.v1.checkout.sessions.expire_async(session.id)
    assert refused.value.http_status == 400
    events = await client.v1.events.list_async({"type": "checkout.session.expired"})
    assert [e.data.object.id for e in events.data] == [session.id]


async def test_lists_page_newest_first_with_limit_starting_after_and_ending_before(
    client: stripe.StripeClient,
) -> None:
    created = [
        (await client.v1.customers.create_async({"email": f"m{n}@example.org"})).id
        for n in range(5)
    ]
    newest_first = created[::-1]

    first = await client.v1.customers.list_async({"limit": 2})
    assert [c.id for c in first.data] == newest_first[:2] and first.has_more is True
    assert first.object == "list" and first.url == "/v1/customers"
    after = await client.v1.customers.list_async({"limit": 2, "starting_after": newest_first[1]})
    assert [c.id for c in after.data] == newest_first[2:4] and after.has_more is True
    last = await client.v1.customers.list_async({"limit": 2, "starting_after": newest_first[3]})
    assert [c.id for c in last.data] == newest_first[4:] and last.has_more is False
    before = await client.v1.customers.list_async({"limit": 2, "ending_before": newest_first[4]})
    assert [c.id for c in before.data] == newest_first[2:4] and before.has_more is True

    every = [c.id async for c in first.auto_paging_iter()]
    assert every == newest_first
    only = await client.v1.customers.list_async({"email": "m3@example.org"})
    assert [c.id for c in only.data] == [created[3]]


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    first = await client.v1.customers.create_async(
        {"email": "ada@example.org"}, {"idempotency_key": "buy-42"}
    )
    replay = await client.v1.customers.create_async(
        {"email": "ada@example.org"}, {"idempotency_key": "buy-42"}
    )
    assert replay.id == first.id and len(sandbox.objects("customer")) == 1
    assert [c.replayed for c in sandbox.calls] == [False, True]

    with pytest.raises(stripe.IdempotencyError) as refused:
        await client.v1.customers.create_async(
            {"email": "grace@example.org"}, {"idempotency_key": "buy-42"}
        )
    assert refused.value.http_status == 400
    assert refused.value.error.type == "idempotency_error"
    assert len(sandbox.objects("customer")) == 1


async def test_a_server_error_is_retried_by_the_client_with_the_same_key_and_creates_once(
    sandbox: StripeSandbox,
) -> None:
    client = make_client(sandbox, retries=2)
    sandbox.fail_next(500, path="/v1/customers", verb="POST")
    try:
        customer = await client.v1.customers.create_async({"email": "ada@example.org"})
    finally:
        await client._requestor._client.close_async()
    statuses = [c.status for c in sandbox.calls]
    assert statuses == [500, 200]
    assert sandbox.calls[0].idempotency_key == sandbox.calls[1].idempotency_key
    assert [c["id"] for c in sandbox.objects("customer")] == [customer.id]


async def test_a_wrong_api_key_is_refused_with_stripes_401_and_the_key_masked(
    sandbox: StripeSandbox,
) -> None:
    wrong = make_client(sandbox, key="sk_test_wrongkey1234")
    try:
        with pytest.raises(stripe.AuthenticationError) as refused:
            await wrong.v1.products.create_async({"name": "Nope"})
    finally:
        await wrong._requestor._client.close_async()
    assert refused.value.http_status == 401
    body = refused.value.json_body["error"]
    assert body["type"] == "invalid_request_error"
    assert body["message"].startswith("Invalid API Key provided: sk_test_")
    assert "wrongkey" not in body["message"] and body["message"].endswith("1234")
    assert sandbox.objects("product") == []

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sandbox.base_url}/v1/products") as response,
    ):
        assert response.status == 401
        assert "You did not provide an API key" in (await response.json())["error"]["message"]


async def test_an_unknown_id_is_404_resource_missing_naming_the_param(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await client.v1.prices.retrieve_async("price_nothere")
    assert missing.value.http_status == 404
    assert (missing.value.code, missing.value.param) == ("resource_missing", "price")
    assert missing.value.user_message == "No such price: 'price_nothere'"

    with pytest.raises(stripe.InvalidRequestError) as bad_item:
        await client.v1.checkout.sessions.create_async(
            {"mode": "payment", "line_items": [{"price": "price_nothere", "quantity": 1}]}
        )
    assert bad_item.value.http_status == 400
    assert (bad_item.value.code, bad_item.value.param) == (
        "resource_missing",
        "line_items[0][price]",
    )

    with pytest.raises(stripe.InvalidRequestError) as no_session:
        await client.v1.checkout.sessions.retrieve_async("cs_test_nothere")
    assert (no_session.value.http_status, no_session.value.param) == (404, "session")


async def test_a_paid_subscription_session_emits_stripes_events_delivered_signed(
    sandbox: StripeSandbox, client: stripe.StripeClient, receiver: Receiver
) -> None:
    price = await monthly_price(client)
    session = await subscription_session(client, price)
    before = len(sandbox.deliveries)

    sandbox.complete_session(session.id, email="ignored@example.org")
    paid = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    assert paid.customer.startswith("cus_") and paid.subscription.startswith("sub_")
    assert paid.customer_details.email == "ada@example.org"  # the session's customer_email

    types = sandbox.event_types()
    purchase = types[types.index("customer.created") :]
    assert purchase == [
        "customer.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    count = len(sandbox.deliveries) - before
    await sandbox.wait_for_deliveries(lambda d: d.delivered, count=len(types))
    assert count == len(purchase) and receiver.rejected == []
    by_type = {event.type: event for event in receiver.events}
    completed = by_type["checkout.session.completed"]
    assert completed.data.object.id == session.id
    assert completed.data.object.subscription == paid.subscription
    assert completed.data.object.metadata["member"] == "42"
    invoice = by_type["invoice.paid"].data.object
    assert invoice.parent.subscription_details.subscription == paid.subscription
    assert invoice.status == "paid" and invoice.amount_paid == 500

    # The signature really binds secret and payload: another secret fails on the same bytes.
    delivery = next(d for d in sandbox.deliveries if d.event_type == "checkout.session.completed")
    header = sign_payload(delivery.payload, WEBHOOK_SECRET, int(sandbox.now()))
    stripe.Webhook.construct_event(delivery.payload, header, WEBHOOK_SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.payload, header, "whsec_other")

    listed = await client.v1.events.list_async({"type": "checkout.session.completed"})
    assert [e.id for e in listed.data] == [completed.id]
    one = await client.v1.events.retrieve_async(completed.id)
    assert one.type == "checkout.session.completed" and isinstance(one.created, int)
    assert one.data.object.payment_status == "paid"


async def test_a_delivery_answered_500_is_retried_with_backoff_until_it_succeeds(
    sandbox: StripeSandbox, client: stripe.StripeClient, receiver: Receiver
) -> None:
    receiver.failures = [500, 503]
    customer = await client.v1.customers.create_async({"email": "ada@example.org"})

    [delivery] = await sandbox.wait_for_deliveries(lambda d: d.done)
    assert [a.status for a in delivery.attempts] == [500, 503, 200]
    assert delivery.state == "delivered"
    assert [e.data.object.id for e in receiver.events] == [customer.id]


async def test_a_delivery_that_never_succeeds_is_given_up_after_its_attempts(
    sandbox: StripeSandbox, client: stripe.StripeClient, receiver: Receiver
) -> None:
    sandbox.webhooks.max_attempts = 3
    receiver.failures = [500] * 10
    await client.v1.customers.create_async({"email": "ada@example.org"})

    [delivery] = await sandbox.wait_for_deliveries(lambda d: d.done)
    assert delivery.state == "failed" and [a.status for a in delivery.attempts] == [500] * 3
    assert receiver.events == []


async def test_an_event_can_be_delivered_several_times(
    sandbox: StripeSandbox, client: stripe.StripeClient, receiver: Receiver
) -> None:
    sandbox.webhooks.copies = 3
    customer = await client.v1.customers.create_async({"email": "ada@example.org"})

    await sandbox.wait_for_deliveries(lambda d: d.delivered, count=3)
    assert [e.type for e in receiver.events] == ["customer.created"] * 3
    assert {e.id for e in receiver.events} == {sandbox.events[-1]["id"]}
    assert {e.data.object.id for e in receiver.events} == {customer.id}


async def test_held_deliveries_are_released_in_the_order_a_test_asks(
    sandbox: StripeSandbox, client: stripe.StripeClient, receiver: Receiver
) -> None:
    price = await monthly_price(client)
    session = await subscription_session(client, price)
    await sandbox.wait_for_deliveries(lambda d: d.done, count=len(sandbox.deliveries))
    receiver.events.clear()

    sandbox.webhooks.hold()
    sandbox.complete_session(session.id)
    held = sandbox.webhooks.held()
    assert held and receiver.events == []
    order = held[::-1]
    await sandbox.webhooks.release(order)

    assert [e.id for e in receiver.events] == [d.event_id for d in order]
    assert receiver.events[0].type == "checkout.session.completed"
    assert all(d.delivered for d in held)


async def test_the_pay_page_completes_the_session_and_redirects_to_the_success_url(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    product = await client.v1.products.create_async({"name": "Ticket <VIP>"})
    price = await client.v1.prices.create_async(
        {"product": product.id, "currency": "eur", "unit_amount": 1500}
    )
    session = await client.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "line_items": [{"price": price.id, "quantity": 2}],
            "success_url": "https://example.org/thanks?session={CHECKOUT_SESSION_ID}",
        }
    )
    async with aiohttp.ClientSession() as http:
        async with http.get(session.url) as page:
            text = await page.text()
            assert page.status == 200
            assert "<button" in text and ">Pay<" in text and "30.00 EUR" in text
            assert "Ticket &lt;VIP&gt;" in text and "<VIP>" not in text
        async with http.post(
            session.url, data={"email": "grace@example.org"}, allow_redirects=False
        ) as paid:
            assert paid.status == 303
            assert paid.headers["Location"] == f"https://example.org/thanks?session={session.id}"
        async with http.get(session.url) as gone:
            assert gone.status == 410

    done = await client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent"]}
    )
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.payment_intent.status == "succeeded" and done.subscription is None
    # A payment-mode session makes no Customer by default: the email is in customer_details.
    assert done.customer is None and done.customer_details.email == "grace@example.org"
    assert sandbox.objects("customer") == []
    by_email = await client.v1.checkout.sessions.list_async(
        {"customer_details": {"email": "grace@example.org"}}
    )
    assert [s.id for s in by_email.data] == [session.id]


async def test_subscriptions_cancel_fail_renewal_refund_and_the_billing_portal(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    price = await monthly_price(client)
    session = await subscription_session(client, price)
    paid = sandbox.complete_session(session.id)
    sub_id = paid["subscription"]

    invoice = sandbox.fail_renewal(sub_id)
    assert invoice["status"] == "open" and invoice["billing_reason"] == "subscription_cycle"
    sub = await client.v1.subscriptions.retrieve_async(sub_id)
    assert sub.status == "past_due" and sub.latest_invoice == invoice["id"]
    updated = sandbox.events[-1]
    assert updated["type"] == "customer.subscription.updated"
    assert updated["data"]["previous_attributes"]["status"] == "active"
    assert "invoice.payment_failed" in sandbox.event_types()

    retried = sandbox.fail_renewal(sub_id)  # Stripe retries the same invoice, and it fails
    assert (retried["id"], retried["attempt_count"]) == (invoice["id"], 2)
    recovered = sandbox.end_period(sub_id)  # the retry is paid: same invoice, active again
    assert recovered["status"] == "active" and recovered["latest_invoice"] == invoice["id"]
    assert sandbox.get("invoice", invoice["id"])["status"] == "paid"
    assert sandbox.event_types()[-3:] == [
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    tagged = await client.v1.subscriptions.update_async(sub_id, {"metadata": {"note": "vip"}})
    assert tagged.metadata.to_dict() == {"offer": "supporters", "member": "42", "note": "vip"}

    portal = await client.v1.billing_portal.sessions.create_async(
        {"customer": paid["customer"], "return_url": "https://example.org/account"}
    )
    assert portal.url == f"{sandbox.base_url}/portal/{portal.id}"
    async with aiohttp.ClientSession() as http:
        async with http.get(portal.url) as page:
            assert "Cancel subscription" in await page.text()
        async with http.post(f"{portal.url}/cancel/{sub_id}", allow_redirects=False) as cancel:
            assert cancel.status == 303
        async with http.get(portal.url) as page:
            assert "cancels at the end of the period" in await page.text()
    # Stripe's default portal cancels at the period end: still active until then.
    later = await client.v1.subscriptions.retrieve_async(sub_id)
    assert later.status == "active" and later.cancel_at_period_end is True
    assert sandbox.event_types()[-1] == "customer.subscription.updated"
    with pytest.raises(StripeError, match="does not renew"):
        sandbox.renew(sub_id)

    sandbox.end_period(sub_id)
    assert sandbox.event_types()[-1] == "customer.subscription.deleted"
    canceled = await client.v1.subscriptions.retrieve_async(sub_id)
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    assert (await client.v1.subscriptions.list_async({"customer": paid["customer"]})).data == []
    listed = await client.v1.subscriptions.list_async({"status": "all"})
    assert [s.id for s in listed.data] == [sub_id]

    invoices = await client.v1.invoices.list_async({"subscription": sub_id})
    assert [i.status for i in invoices.data] == ["paid", "paid"]

    one_time = await client.v1.prices.create_async(
        {"product": price.product, "currency": "usd", "unit_amount": 900}
    )
    order = await client.v1.checkout.sessions.create_async(
        {"mode": "payment", "line_items": [{"price": one_time.id, "quantity": 1}]}
    )
    intent = sandbox.complete_session(order.id)["payment_intent"]
    refund = await client.v1.refunds.create_async({"payment_intent": intent})
    assert refund.amount == 900 and refund.status == "succeeded"
    refunded = sandbox.events[-1]
    assert refunded["type"] == "charge.refunded"
    assert refunded["data"]["object"]["refunded"] is True
    assert refunded["data"]["previous_attributes"] == {"amount_refunded": 0, "refunded": False}


async def test_an_event_snapshot_does_not_change_when_the_object_does(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    customer = await client.v1.customers.create_async({"email": "ada@example.org"})
    await client.v1.customers.update_async(customer.id, {"email": "ada@new.example.org"})
    created, updated = sandbox.events[-2:]
    assert created["data"]["object"]["email"] == "ada@example.org"
    assert updated["data"]["object"]["email"] == "ada@new.example.org"
    assert updated["data"]["previous_attributes"] == {"email": "ada@example.org"}
    assert json.loads(json.dumps(updated))["type"] == "customer.updated"


async def test_a_release_sends_the_listed_deliveries_first_then_the_rest_in_event_order(
    sandbox: StripeSandbox, client: stripe.StripeClient, receiver: Receiver
) -> None:
    sandbox.webhooks.hold()
    first = await client.v1.customers.create_async({"email": "a@example.org"})
    second = await client.v1.customers.create_async({"email": "b@example.org"})
    held = sandbox.webhooks.held()
    await sandbox.webhooks.release([held[1]])
    assert [e.data.object.id for e in receiver.events] == [second.id, first.id]
    assert all(d.delivered for d in held)


async def test_a_delayed_delivery_waits_before_its_first_attempt(
    sandbox: StripeSandbox, client: stripe.StripeClient, receiver: Receiver
) -> None:
    sandbox.webhooks.delay = 0.2
    await client.v1.customers.create_async({"email": "ada@example.org"})

    [delivery] = await sandbox.wait_for_deliveries(lambda d: d.delivered)
    # A lower bound the sandbox guarantees by construction, not a speed measurement.
    assert delivery.attempts[0].at - delivery.queued_at >= 0.19
    assert [e.type for e in receiver.events] == ["customer.created"]


async def test_during_a_secret_rotation_deliveries_verify_with_the_old_and_the_new_secret(
    sandbox: StripeSandbox, client: stripe.StripeClient, receiver: Receiver
) -> None:
    [endpoint] = sandbox.webhooks.endpoints
    new_secret = sandbox.roll_secret(endpoint)
    await client.v1.customers.create_async({"email": "ada@example.org"})

    [delivery] = await sandbox.wait_for_deliveries(lambda d: d.delivered)
    assert [e.type for e in receiver.events] == ["customer.created"]  # the old secret verifies
    header = sign_payload(delivery.payload, [new_secret, WEBHOOK_SECRET], int(sandbox.now()))
    assert header.count("v1=") == 2
    stripe.Webhook.construct_event(delivery.payload, header, new_secret)

    sandbox.webhooks.expire_old_secrets(endpoint)
    sandbox.webhooks.max_attempts = 2
    await client.v1.customers.create_async({"email": "grace@example.org"})
    [refused] = await sandbox.wait_for_deliveries(lambda d: d.state == "failed")
    assert [a.status for a in refused.attempts] == [400, 400]
    assert len(receiver.events) == 1 and "No signatures found" in receiver.rejected[0]


async def test_events_name_the_request_that_caused_them_and_filter_by_a_type_family(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    customer = await client.v1.customers.create_async(
        {"email": "ada@example.org"}, {"idempotency_key": "signup-1"}
    )
    [created] = (await client.v1.events.list_async({"type": "customer.*"})).data
    assert created.data.object.id == customer.id
    assert created.request.idempotency_key == "signup-1"
    assert created.request.id.startswith("req_")
    assert (await client.v1.events.list_async({"type": "charge.*"})).data == []


async def test_an_open_session_expires_by_itself_when_its_time_is_up() -> None:
    now = [1_800_000_000.0]
    async with StripeSandbox(clock=lambda: now[0]) as sandbox:
        client = make_client(sandbox)
        try:
            product = await client.v1.products.create_async({"name": "Ticket"})
            price = await client.v1.prices.create_async(
                {"product": product.id, "currency": "usd", "unit_amount": 100}
            )
            session = await client.v1.checkout.sessions.create_async(
                {"mode": "payment", "line_items": [{"price": price.id, "quantity": 1}]}
            )
            assert session.expires_at == 1_800_000_000 + 24 * 3600
            now[0] = session.expires_at - 1
            assert (await client.v1.checkout.sessions.retrieve_async(session.id)).status == "open"
            now[0] = session.expires_at
            later = await client.v1.checkout.sessions.retrieve_async(session.id)
        finally:
            await client._requestor._client.close_async()
    assert later.status == "expired"
    assert sandbox.event_types()[-1] == "checkout.session.expired"


async def test_a_dispute_opens_and_closes_with_stripes_events(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    product = await client.v1.products.create_async({"name": "Ticket"})
    price = await client.v1.prices.create_async(
        {"product": product.id, "currency": "usd", "unit_amount": 700}
    )
    session = await client.v1.checkout.sessions.create_async(
        {"mode": "payment", "line_items": [{"price": price.id, "quantity": 1}]}
    )
    intent = sandbox.complete_session(session.id)["payment_intent"]

    dispute = sandbox.open_dispute(intent)
    assert sandbox.event_types()[-1] == "charge.dispute.created"
    assert (dispute["amount"], dispute["status"], dispute["payment_intent"]) == (
        700,
        "needs_response",
        intent,
    )
    sandbox.close_dispute(dispute["id"], won=False)
    closed = sandbox.events[-1]
    assert closed["type"] == "charge.dispute.closed"
    assert closed["data"]["object"]["status"] == "lost"
    assert closed["data"]["previous_attributes"] == {"status": "needs_response"}
    fetched = await client.v1.disputes.retrieve_async(dispute["id"])
    assert fetched.status == "lost" and fetched.charge.startswith("ch_")


async def test_the_events_of_one_purchase_can_be_redelivered_in_every_order(
    sandbox: StripeSandbox, client: stripe.StripeClient, receiver: Receiver
) -> None:
    price = await monthly_price(client)
    session = await subscription_session(client, price)
    await sandbox.wait_for_deliveries(lambda d: d.done, count=len(sandbox.deliveries))
    sandbox.webhooks.hold()
    sandbox.complete_session(session.id)
    wanted = (
        "customer.created",
        "customer.subscription.created",
        "invoice.paid",
        "checkout.session.completed",
    )
    four = [d for d in sandbox.webhooks.held() if d.event_type in wanted]
    assert [d.event_type for d in four] == list(wanted)

    orders = list(itertools.permutations(four))
    for order in orders:
        receiver.events.clear()
        for delivery in order:
            await sandbox.webhooks.redeliver(delivery)
        assert [e.id for e in receiver.events] == [d.event_id for d in order]
    assert len(orders) == 24 and receiver.rejected == []


async def test_a_coupon_and_promotion_code_discount_a_session_and_its_first_invoice(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    price = await monthly_price(client)
    coupon = await client.v1.coupons.create_async(
        {"id": "LAUNCH20", "percent_off": 20, "duration": "once", "max_redemptions": 1}
    )
    assert (coupon.id, coupon.object, coupon.valid, coupon.percent_off) == (
        "LAUNCH20",
        "coupon",
        True,
        20,
    )
    promo = await client.v1.promotion_codes.create_async(
        {"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "LAUNCH"}
    )
    assert promo.id.startswith("promo_") and promo.promotion.coupon == "LAUNCH20"
    with pytest.raises(stripe.InvalidRequestError) as taken:
        await client.v1.coupons.create_async({"id": "LAUNCH20", "percent_off": 5})
    assert (taken.value.code, taken.value.param) == ("resource_already_exists", "id")

    session = await client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "line_items": [{"price": price.id, "quantity": 1}],
            "discounts": [{"promotion_code": promo.id}],
        }
    )
    assert (session.amount_subtotal, session.amount_total) == (500, 400)
    assert session.total_details.amount_discount == 100
    assert session.discounts[0].coupon == "LAUNCH20"
    with pytest.raises(stripe.InvalidRequestError) as both:
        await client.v1.checkout.sessions.create_async(
            {
                "mode": "subscription",
                "line_items": [{"price": price.id, "quantity": 1}],
                "discounts": [{"coupon": coupon.id}],
                "allow_promotion_codes": True,
            }
        )
    assert both.value.param == "discounts"

    paid = sandbox.complete_session(session.id)
    invoice = await client.v1.invoices.retrieve_async(
        sandbox.get("subscription", paid["subscription"])["latest_invoice"]
    )
    assert (invoice.subtotal, invoice.amount_paid) == (500, 400)
    spent = await client.v1.coupons.retrieve_async("LAUNCH20")
    assert (spent.times_redeemed, spent.valid) == (1, False)  # max_redemptions reached


async def test_a_customer_types_a_promotion_code_on_the_pay_page(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    product = await client.v1.products.create_async({"name": "Ticket"})
    price = await client.v1.prices.create_async(
        {"product": product.id, "currency": "usd", "unit_amount": 2000}
    )
    coupon = await client.v1.coupons.create_async({"amount_off": 500, "currency": "usd"})
    await client.v1.promotion_codes.create_async(
        {"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "FRIENDS"}
    )
    session = await client.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "line_items": [{"price": price.id, "quantity": 1}],
            "allow_promotion_codes": True,
        }
    )
    async with aiohttp.ClientSession() as http:
        async with http.get(session.url) as page:
            assert 'name="promotion_code"' in await page.text()
        async with http.post(
            session.url, data={"email": "ada@example.org", "promotion_code": "nope"}
        ) as refused:
            assert refused.status == 400 and "This code is invalid" in await refused.text()
        async with http.post(
            session.url, data={"email": "ada@example.org", "promotion_code": "friends"}
        ) as paid:
            assert paid.status == 200 and "Thank you" in await paid.text()

    done = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert (done.status, done.amount_total, done.total_details.amount_discount) == (
        "complete",
        1500,
        500,
    )
    intent = await client.v1.payment_intents.retrieve_async(done.payment_intent)
    assert intent.amount == 1500 and intent.status == "succeeded"


async def test_a_delayed_payment_completes_unpaid_then_settles_or_fails(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    product = await client.v1.products.create_async({"name": "Ticket"})
    price = await client.v1.prices.create_async(
        {"product": product.id, "currency": "eur", "unit_amount": 1200}
    )

    async def session_paid_later(succeeded: bool) -> stripe.checkout.Session:
        session = await client.v1.checkout.sessions.create_async(
            {
                "mode": "payment",
                "line_items": [{"price": price.id, "quantity": 1}],
                "customer_creation": "always",
            }
        )
        completed = sandbox.complete_session(session.id, email="ada@example.org", delayed=True)
        assert (completed["status"], completed["payment_status"]) == ("complete", "unpaid")
        assert sandbox.event_types()[-1] == "checkout.session.completed"
        sandbox.settle_payment(session.id, succeeded=succeeded)
        return await client.v1.checkout.sessions.retrieve_async(
            session.id, {"expand": ["payment_intent", "customer"]}
        )

    settled = await session_paid_later(True)
    assert sandbox.event_types()[-1] == "checkout.session.async_payment_succeeded"
    assert settled.payment_status == "paid" and settled.payment_intent.status == "succeeded"
    assert settled.customer.email == "ada@example.org"  # customer_creation=always

    failed = await session_paid_later(False)
    assert sandbox.event_types()[-2:] == [
        "payment_intent.payment_failed",
        "checkout.session.async_payment_failed",
    ]
    assert failed.payment_status == "unpaid"
    assert failed.payment_intent.status == "requires_payment_method"
    with pytest.raises(StripeError, match="no payment processing"):
        sandbox.settle_payment(failed.id)


async def test_the_portal_can_be_set_to_cancel_at_once_and_metadata_limits_are_stripes(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    price = await monthly_price(client)
    sub_id = sandbox.complete_session((await subscription_session(client, price)).id)[
        "subscription"
    ]
    customer = sandbox.get("subscription", sub_id)["customer"]
    sandbox.portal_cancel_mode = "immediately"
    portal = await client.v1.billing_portal.sessions.create_async({"customer": customer})
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{portal.url}/cancel/{sub_id}", allow_redirects=False) as cancel,
    ):
        assert cancel.status == 303
    assert sandbox.get("subscription", sub_id)["status"] == "canceled"
    assert sandbox.event_types()[-1] == "customer.subscription.deleted"

    with pytest.raises(stripe.InvalidRequestError) as too_long:
        await client.v1.customers.create_async({"metadata": {"k" * 41: "v"}})
    assert too_long.value.param == f"metadata[{'k' * 41}]"


async def test_seeded_products_and_prices_read_back_through_the_client(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    product = sandbox.add_product("Members", metadata={"offer": "members"})
    price = sandbox.add_price(
        product["id"], 900, "eur", recurring={"interval": "year"}, lookup_key="members-yearly"
    )
    read = await client.v1.prices.retrieve_async(price["id"], {"expand": ["product"]})
    assert (read.unit_amount, read.currency, read.recurring.interval) == (900, "eur", "year")
    assert read.product.name == "Members" and read.product.metadata.to_dict() == {
        "offer": "members"
    }
    assert read.lookup_key == "members-yearly"
    listed = await client.v1.prices.list_async({"product": product["id"], "type": "recurring"})
    assert [p.id for p in listed.data] == [price["id"]]


async def test_the_dashboard_hooks_cancel_and_refund_and_a_rate_limit_is_stripes_429(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    price = await monthly_price(client)
    paid = sandbox.complete_session((await subscription_session(client, price)).id)
    canceled = sandbox.cancel_subscription(paid["subscription"])
    assert (canceled["status"], canceled["cancellation_details"]["reason"]) == (
        "canceled",
        "cancellation_requested",
    )
    assert sandbox.event_types()[-1] == "customer.subscription.deleted"
    with pytest.raises(StripeError):
        sandbox.cancel_subscription(paid["subscription"])

    first_invoice = sandbox.get("invoice", canceled["latest_invoice"])
    assert first_invoice["status"] == "paid"
    charge = next(c for c in sandbox.objects("charge") if c["customer"] == paid["customer"])
    sandbox.refund(charge["payment_intent"], amount=200)
    assert sandbox.get("charge", charge["id"])["refunded"] is False  # a partial refund
    sandbox.refund(charge["payment_intent"])
    assert sandbox.get("charge", charge["id"])["amount_refunded"] == 500
    assert sandbox.event_types()[-2:] == ["refund.created", "charge.refunded"]
    with pytest.raises(stripe.InvalidRequestError) as again:
        await client.v1.refunds.create_async({"charge": charge["id"]})
    assert again.value.code == "charge_already_refunded"

    sandbox.fail_next(429, path="/v1/customers")
    with pytest.raises(stripe.RateLimitError) as limited:
        await client.v1.customers.list_async()
    assert limited.value.http_status == 429
    assert (await client.v1.customers.list_async()).object == "list"


async def test_a_one_time_price_in_a_subscription_checkout_is_billed_once(
    sandbox: StripeSandbox, client: stripe.StripeClient
) -> None:
    monthly = await monthly_price(client)
    setup = await client.v1.prices.create_async(
        {"product": monthly.product, "currency": "usd", "unit_amount": 1000}
    )
    session = await client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "line_items": [
                {"price": monthly.id, "quantity": 1},
                {"price": setup.id, "quantity": 1},
            ],
        }
    )
    assert session.amount_total == 1500
    sub_id = sandbox.complete_session(session.id)["subscription"]
    sub = await client.v1.subscriptions.retrieve_async(sub_id)
    assert [i.price.id for i in sub["items"].data] == [monthly.id]
    first = await client.v1.invoices.retrieve_async(sub.latest_invoice)
    assert first.amount_paid == 1500 and len(first.lines.data) == 2
    second = sandbox.renew(sub_id)
    assert second["amount_paid"] == 500
