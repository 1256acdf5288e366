"""GET /buy/{offer}: the real stripe-python client against the Stripe sandbox, end to end.

A member's signed link opens a Checkout Session naming them and the offer, the sandbox's pay
page completes it and sends the buyer to our thank-you page; every refusal is a page.
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from bot.clock import FakeClock
from bot.models import Member
from bot.payments import build_gateway
from tests.payments_setup import INSIDERS_NAME, Store, shop, store

__all__ = ["shop", "store"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


def session_of(location: str) -> str:
    found = re.search(r"/pay/(cs_[A-Za-z0-9_]+)$", location)
    assert found, location
    return found.group(1)


async def test_a_members_link_opens_a_checkout_session_naming_the_member_and_the_offer(
    store: Store,
) -> None:
    link = await store.link("pro")

    status, _, response = await store.get(link)

    assert status == 303
    location = response.headers["Location"]
    assert location.startswith(store.shop.stripe.api_base + "/pay/")
    created = store.shop.stripe.get("checkout.session", session_of(location))
    uid = (await store.member()).uid
    assert created["client_reference_id"] == uid
    assert created["metadata"] == {
        "flywheel_offer": "pro",
        "flywheel_member": uid,
        "flywheel_community": "acme",
    }
    assert created["mode"] == "payment"
    assert created["allow_promotion_codes"] is True
    assert created["line_items"]["data"][0]["price"]["id"] == store.shop.prices["pro"]
    assert created["success_url"] == (
        f"{store.base}/buy/pro/thanks?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert created["cancel_url"] == f"{store.base}/buy/pro/canceled"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    [order] = await store.orders()
    assert (order.session_id, order.session_status, order.offer_slug) == (
        created["id"],
        "open",
        "pro",
    )
    assert order.member_id == (await store.member()).id
    assert order.amount_total == 2500


async def test_paying_on_the_sandbox_page_lands_on_the_thanks_page(store: Store) -> None:
    _, _, response = await store.get(await store.link("pro"))
    pay_page = response.headers["Location"]
    status, body, _ = await store.get(pay_page)
    assert status == 200 and "Pay" in body

    async with store.http.post(
        pay_page, data={"email": "ada@example.org"}, allow_redirects=True
    ) as paid:
        thanks = await paid.text()
        landed = str(paid.url)

    assert landed.startswith(f"{store.base}/buy/pro/thanks?session_id=cs_")
    assert "Thank you!" in thanks and "Pro Pack" in thanks
    assert store.shop.stripe.get("checkout.session", session_of(pay_page))["status"] == "complete"


async def test_a_double_click_within_a_minute_reuses_the_session(
    store: Store, clock: FakeClock
) -> None:
    link = await store.link("pro")
    _, _, first = await store.get(link)
    clock.advance(1)
    _, _, second = await store.get(link)

    assert first.headers["Location"] == second.headers["Location"]
    assert len(store.shop.stripe.objects("checkout.session")) == 1
    assert len(await store.orders()) == 1


async def test_a_subscription_names_the_member_on_the_subscription_too(store: Store) -> None:
    _, _, response = await store.get(await store.link("club"))
    session_id = session_of(response.headers["Location"])

    store.shop.stripe.complete_session(session_id, "ada@example.org")

    subscription = store.shop.stripe.objects("subscription")[0]
    uid = (await store.member()).uid
    assert subscription["metadata"] == {
        "flywheel_offer": "club",
        "flywheel_member": uid,
        "flywheel_community": "acme",
    }
    assert "subscription_data" not in store.shop.stripe.get("checkout.session", session_id)


async def test_a_member_with_a_stripe_customer_checks_out_as_that_customer(
    store: Store,
) -> None:
    link = await store.link("pro")
    customer = store.shop.stripe.state.create_customer({"email": "ada@example.org"})
    async with store.runtime.sessions() as session, session.begin():
        await session.execute(update(Member).values(stripe_customer_id=customer["id"]))

    _, _, response = await store.get(link)

    created = store.shop.stripe.get("checkout.session", session_of(response.headers["Location"]))
    assert created["customer"] == customer["id"]
    assert created["customer_email"] is None
    assert created["customer_creation"] == "if_required"  # Stripe's default: none asked for


async def test_a_member_with_a_known_email_gets_it_filled_in(store: Store) -> None:
    link = await store.link("pro")
    async with store.runtime.sessions() as session, session.begin():
        await session.execute(update(Member).values(email="ada@example.org"))

    _, _, response = await store.get(link)

    created = store.shop.stripe.get("checkout.session", session_of(response.headers["Location"]))
    assert created["customer_email"] == "ada@example.org"
    # A one-time payment makes a customer, so the buyer has a billing page afterwards.
    assert created["customer_creation"] == "always"


async def test_an_anonymous_buyer_of_an_open_offer_gets_a_session_naming_nobody(
    store: Store,
) -> None:
    status, _, response = await store.get(f"{store.base}/buy/pro")

    assert status == 303
    created = store.shop.stripe.get("checkout.session", session_of(response.headers["Location"]))
    assert created["client_reference_id"] is None
    assert "flywheel_member" not in created["metadata"]
    assert created["customer_creation"] == "always"  # a later /link purchase gets /billing
    [order] = await store.orders()
    assert order.member_id is None and order.matched is False


async def test_a_members_only_offer_refuses_a_plain_link_with_a_403_page(store: Store) -> None:
    status, body, response = await store.get(f"{store.base}/buy/insiders")

    assert status == 403
    assert "Members only" in body
    assert "/buy" in body and "/flywheel buy" in body
    # The offer's name is shown as text, never as markup.
    assert "Insiders &lt;b&gt;&amp; Co&lt;/b&gt;" in body and INSIDERS_NAME not in body
    assert store.shop.stripe.objects("checkout.session") == []
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_a_members_only_offer_opens_for_the_members_own_link(store: Store) -> None:
    status, _, _ = await store.get(await store.link("insiders"))

    assert status == 303


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda token: token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), id="sig"),
        pytest.param(lambda token: "x" + token, id="payload"),
        pytest.param(lambda token: token.split(".")[0], id="cut"),
        pytest.param(lambda token: "", id="empty"),
    ],
)
async def test_a_tampered_link_is_refused_with_a_400_page(store: Store, spoil: object) -> None:
    link = await store.link("pro")
    token = parse_qs(urlsplit(link).query)["m"][0]

    status, body, _ = await store.get(f"{store.base}/buy/pro?m={spoil(token)}")  # type: ignore[operator]

    assert status == 400
    assert "This link does not work" in body
    assert store.shop.stripe.objects("checkout.session") == []


async def test_an_expired_link_is_refused_with_a_400_page(store: Store, clock: FakeClock) -> None:
    link = await store.link("pro")
    clock.advance(8 * 24 * 3600)

    status, body, _ = await store.get(link)

    assert status == 400
    assert "expired" in body


async def test_a_link_for_another_offer_is_refused(store: Store) -> None:
    link = await store.link("pro")

    status, body, _ = await store.get(link.replace("/buy/pro?", "/buy/insiders?"))

    assert status == 400
    assert "another offer" in body


async def test_an_unknown_offer_is_a_404_page(store: Store) -> None:
    status, body, response = await store.get(f"{store.base}/buy/nothing-here")

    assert status == 404
    assert "No such offer" in body
    assert response.content_type == "text/html"


async def test_stripe_failing_is_a_502_page_with_an_error_id_that_is_in_the_log(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    link = await store.link("pro")
    # stripe-python tries three times (max_network_retries=2): fail them all.
    store.shop.stripe.fail_next(500, path="/v1/checkout/sessions", count=3)

    with caplog.at_level(logging.INFO):
        status, body, _ = await store.get(link)

    assert status == 502
    error_id = re.search(r"<code>([0-9a-f]{8})</code>", body)
    assert error_id, body
    logged = [r.getMessage() for r in caplog.records if error_id.group(1) in r.getMessage()]
    assert logged and "APIError" in logged[0]
    assert store.shop.stripe.api_key not in caplog.text
    assert await store.orders() == []


async def test_without_stripe_configured_checkout_is_a_503_page(store: Store) -> None:
    gateway = store.runtime.stripe
    store.runtime.stripe = None
    try:
        status, body, _ = await store.get(await store.link("pro"))
    finally:
        store.runtime.stripe = gateway

    assert status == 503
    assert "STRIPE_API_KEY" in body


async def test_the_canceled_page_and_the_stylesheet_are_served(store: Store) -> None:
    status, body, _ = await store.get(f"{store.base}/buy/club/canceled")
    assert status == 200 and "nothing was charged" in body
    assert 'href="/assets/site.css"' in body

    status, css, response = await store.get(f"{store.base}/assets/site.css")
    assert status == 200 and "body" in css
    assert response.content_type == "text/css"


async def test_a_head_request_opens_no_checkout_session(store: Store) -> None:
    async with store.http.head(await store.link("pro"), allow_redirects=False) as response:
        assert response.status == 405

    assert store.shop.stripe.objects("checkout.session") == []


async def test_a_click_after_the_members_email_is_learnt_opens_a_new_session(
    store: Store,
) -> None:
    link = await store.link("pro")
    _, _, first = await store.get(link)
    async with store.runtime.sessions() as session, session.begin():
        await session.execute(update(Member).values(email="ada@example.org"))

    status, _, second = await store.get(link)

    assert status == 303
    assert first.headers["Location"] != second.headers["Location"]
    assert len(await store.orders()) == 2


async def test_stripe_not_answering_in_time_is_a_502_page(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept the connection, read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = store.runtime.settings
    stripe_settings = settings.stripe.model_copy(
        update={"api_base": f"http://127.0.0.1:{port}", "timeout_seconds": 0.2}
    )
    slow = build_gateway(
        settings.model_copy(
            update={"file": settings.file.model_copy(update={"stripe": stripe_settings})}
        )
    )
    assert slow is not None
    gateway, store.runtime.stripe = store.runtime.stripe, slow
    try:
        with caplog.at_level(logging.INFO):
            status, body, _ = await store.get(await store.link("pro"))
    finally:
        store.runtime.stripe = gateway
        await slow.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()

    assert status == 502
    assert "couldn't reach the payment provider" in body.replace("&#39;", "'")
    assert "APIConnectionError" in caplog.text
