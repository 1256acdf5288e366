"""Stripe webhooks through the bot's real web app, delivered signed by the Stripe sandbox."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select

from bot import events as events_module
from bot.db.driver import run_core
from bot.models import EventRecord, Order, OutboxMessage, StripeEvent, Subscription
from bot.payments.signature import sign
from bot.sandbox.stripe import sign_payload
from bot.services.payments.webhook import HANDLERS
from tests.fuzz.snapshot import changed_tables, snapshot
from tests.services.payments_webhook_kit import SECRET, Shop, shop, stripe_events

__all__ = ["shop"]  # the fixture, used by name

pytestmark = [
    # stripe-python's httpx client warns about its own use of httpx's `data=`.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


async def test_a_paid_subscription_delivered_five_times_over_is_processed_once(shop: Shop) -> None:
    member_id, uid = await shop.member("ada")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    shop.sandbox.webhooks.copies = 5
    checkout = await shop.checkout("supporters", uid)
    start = shop.clock.now()

    shop.sandbox.complete_session(checkout.id)
    await shop.settle()

    deliveries = shop.sandbox.deliveries
    # Each taken at its first attempt: copies delivered side by side wait for each other.
    assert deliveries and all([a.status for a in d.attempts] == [200] for d in deliveries)
    distinct = {d.event_id for d in deliveries}
    assert len(deliveries) == 5 * len(distinct)
    assert await stripe_events(shop) == len(distinct)
    state = await shop.state(member_id, start)
    assert state["orders"] == [("supporters", "complete", "paid", 500, True, 0.0, True)]
    assert [s[:3] for s in state["subscriptions"]] == [("supporters", "active", False)]
    assert state["access"] == [("supporters", "supporters", True)]
    assert state["roles"] == [True]  # one RoleChange: grant
    assert state["recorded"] == 1
    async with shop.runtime.sessions() as session:
        member_customer = await session.scalar(
            select(Order.customer_id).where(Order.member_id == member_id)
        )
        recorded = await session.scalar(
            select(EventRecord.payload).where(EventRecord.name == "payment.recorded")
        )
    assert member_customer and member_customer.startswith("cus_")
    assert recorded["metadata"]["flywheel_offer"] == "supporters"


async def test_forged_stale_and_malformed_requests_are_refused_and_write_nothing(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    _member_id, uid = await shop.member("ada")
    before = await snapshot(shop.runtime.engine)
    shop.sandbox.webhooks.max_attempts = 1
    forged = shop.sandbox.add_webhook_endpoint(shop.url, secret="whsec_not_ours")
    checkout = await shop.checkout("guide", uid)
    shop.sandbox.complete_session(checkout.id)
    await shop.settle()
    forged_deliveries = [d for d in shop.sandbox.deliveries if d.endpoint is forged]

    # The right secret, signed 301 s before our clock (the tolerance is 300 s).
    shop.sandbox.webhooks.endpoints.remove(forged)
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    shop.skew[0] = -301.0
    shop.sandbox.expire_session((await shop.checkout("guide", uid)).id)
    await shop.settle()
    stale = [d for d in shop.sandbox.deliveries if d.endpoint is not forged]

    payload = forged_deliveries[0].payload.encode()
    now = int(shop.clock.now().timestamp())
    malformed = {
        "no header": (payload, {}),
        "bad header": (payload, {"Stripe-Signature": "t=abc,v1=zz"}),
        "arabic digits": (payload, {"Stripe-Signature": "t=\u0661\u0667,v1=" + "0" * 64}),
        "not json": (b"{not json", {"Stripe-Signature": sign(b"{not json", SECRET, now)}),
        "not utf-8": (b"\xff\xfe", {"Stripe-Signature": sign(b"\xff\xfe", SECRET, now)}),
        "no object": (b'{"id": "evt_1", "type": "x", "created": 1, "data": {}}', {}),
        "a list": (b"[1, 2]", {}),
    }
    answers = {}
    with caplog.at_level(logging.INFO, logger="bot.refusals"):
        for name, (body, headers) in malformed.items():
            if name in ("no object", "a list"):
                headers = {"Stripe-Signature": sign_payload(body.decode(), SECRET, now)}
            answers[name] = await shop.post(body, headers)

    assert forged_deliveries and all(
        d.attempts[-1].status == 400 and not d.delivered for d in forged_deliveries
    )
    assert stale and all(d.attempts[-1].status == 400 for d in stale)
    assert {name: status for name, (status, _) in answers.items()} == dict.fromkeys(malformed, 400)
    assert "not JSON" in answers["not json"][1] and SECRET not in answers["bad header"][1]
    refusals = [r.getMessage() for r in caplog.records if r.name == "bot.refusals"]
    assert len(refusals) == len(malformed)
    after = await snapshot(shop.runtime.engine)
    changed = changed_tables(before, after)
    assert changed == {}, changed
    assert await stripe_events(shop) == 0


async def test_a_rotated_secret_signs_twice_and_either_signature_is_accepted(shop: Shop) -> None:
    member_id, uid = await shop.member("ada")
    endpoint = shop.sandbox.add_webhook_endpoint(shop.url, secret="whsec_old_one")
    shop.sandbox.roll_secret(endpoint, SECRET)  # the new secret is ours; the old still signs
    checkout = await shop.checkout("guide", uid)
    start = shop.clock.now()

    shop.sandbox.complete_session(checkout.id)
    await shop.settle()

    assert all(d.delivered for d in shop.sandbox.deliveries)
    assert (await shop.state(member_id, start))["access"] == [("guide", "guide", True)]


async def test_a_handler_failure_answers_500_and_stripes_retry_records_it_once(
    shop: Shop, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id, uid = await shop.member("ada")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    checkout = await shop.checkout("guide", uid)
    start = shop.clock.now()
    tripped: list[str] = []

    # The first payment.recorded row fails to insert: by then the event and the order are
    # written in the transaction, so the rollback must take them back. (Events are inserted
    # through run_core, straight to SQLite's driver: the failure is injected there.)
    async def fail_the_first_payment_event(session, statement, params):  # type: ignore[no-untyped-def]
        if statement is events_module._PUBLISH and not tripped:
            tripped.append(params["name"])
            raise RuntimeError("the disk is full (injected)")
        return await run_core(session, statement, params)

    monkeypatch.setattr(events_module, "run_core", fail_the_first_payment_event)
    with caplog.at_level(logging.ERROR, logger="bot.web.stripe_webhook"):
        shop.sandbox.complete_session(checkout.id)
        await shop.settle()
    monkeypatch.undo()

    completed = next(
        d for d in shop.sandbox.deliveries if d.event_type == "checkout.session.completed"
    )
    assert [a.status for a in completed.attempts] == [500, 200]
    failure = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert "error id" in failure.getMessage() and failure.exc_info is not None
    assert tripped and await stripe_events(shop) == len(
        {d.event_id for d in shop.sandbox.deliveries}
    )
    state = await shop.state(member_id, start)
    assert state["orders"] == [("guide", "complete", "paid", 2500, True, 0.0, False)]
    assert state["roles"] == [True] and state["recorded"] == 1


async def test_a_full_refund_reverses_the_payment_once_and_takes_the_access_back(
    shop: Shop,
) -> None:
    member_id, uid = await shop.member("ada")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    checkout = await shop.checkout("guide", uid)
    shop.sandbox.complete_session(checkout.id)
    await shop.settle()
    intent = shop.sandbox.get("checkout.session", checkout.id)["payment_intent"]

    shop.sandbox.refund(intent, amount=1000)
    await shop.settle()
    partly = await shop.state(member_id, shop.clock.now())
    shop.sandbox.refund(intent)
    await shop.settle()
    await shop.sandbox.webhooks.redeliver(shop.sandbox.deliveries[-1])  # the full refund again

    state = await shop.state(member_id, shop.clock.now())
    assert partly["access"] == [("guide", "guide", True)]
    assert state["access"] == [("guide", "guide", False)] and state["roles"] == [True, False]
    async with shop.runtime.sessions() as session:
        reversed_ = (
            await session.scalars(
                select(EventRecord.payload).where(EventRecord.name == "payment.reversed")
            )
        ).all()
        refunded = await session.scalar(select(Order.amount_refunded))
    assert [r["why"] for r in reversed_] == ["refunded"] and refunded == 2500


async def test_a_paid_session_naming_no_known_member_or_offer_is_kept_unmatched(shop: Shop) -> None:
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    checkout = await shop.client.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "line_items": [{"price": shop.prices["guide"], "quantity": 1}],
            "success_url": "https://acme.example/thanks",
            "metadata": {"flywheel_offer": "gone-offer", "flywheel_member": "nobody"},
        }
    )
    shop.sandbox.complete_session(checkout.id, email="stranger@example.org")
    await shop.settle()

    async with shop.runtime.sessions() as session:
        order = await session.scalar(select(Order))
        recorded = await session.scalar(
            select(func.count()).where(EventRecord.name == "payment.recorded")
        )
        roles = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert order is not None and (order.matched, order.member_id, order.offer_slug) == (
        False,
        None,
        None,
    )
    assert order.payment_status == "paid" and order.customer_email == "stranger@example.org"
    assert recorded == 1 and roles == 0


async def test_a_failed_renewal_starts_the_grace_period_and_the_paid_retry_ends_it(
    shop: Shop,
) -> None:
    member_id, uid = await shop.member("ada")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    checkout = await shop.checkout("supporters", uid)
    shop.sandbox.complete_session(checkout.id)
    sub = shop.sandbox.get("checkout.session", checkout.id)["subscription"]
    shop.clock.advance(3600)
    failed_at = shop.clock.now()

    shop.sandbox.fail_renewal(sub)
    await shop.settle()
    async with shop.runtime.sessions() as session:
        row = await session.scalar(select(Subscription))
    assert row is not None and (row.status, row.past_due_since) == ("past_due", failed_at)
    shop.clock.advance(3600)
    shop.sandbox.renew(sub)
    await shop.settle()

    async with shop.runtime.sessions() as session:
        row = await session.scalar(select(Subscription))
    assert row is not None and (row.status, row.past_due_since) == ("active", None)
    state = await shop.state(member_id, failed_at)
    assert state["access"] == [("supporters", "supporters", True)] and state["roles"] == [True]


async def test_an_event_of_an_unused_type_is_recorded_and_answered_200(shop: Shop) -> None:
    body = json.dumps(
        {
            "id": "evt_unused_1",
            "object": "event",
            "type": "customer.created",
            "created": int(shop.clock.now().timestamp()),
            "data": {"object": {"id": "cus_1", "object": "customer"}},
        }
    ).encode()
    now = int(shop.clock.now().timestamp())

    first = await shop.post(body, {"Stripe-Signature": sign(body, SECRET, now)})
    again = await shop.post(body, {"Stripe-Signature": sign(body, SECRET, now + 5)})

    assert first == (200, "processed\n") and again == (200, "already processed\n")
    async with shop.runtime.sessions() as session:
        rows = (await session.execute(select(StripeEvent.type, StripeEvent.via))).all()
    assert rows == [("customer.created", "webhook")]


async def test_a_lost_dispute_delivered_before_its_opening_still_ends_lost_and_reversed_once(
    shop: Shop,
) -> None:
    member_id, uid = await shop.member("ada")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    checkout = await shop.checkout("guide", uid)
    shop.sandbox.complete_session(checkout.id)
    await shop.settle()
    intent = shop.sandbox.get("checkout.session", checkout.id)["payment_intent"]
    shop.sandbox.webhooks.hold()
    dispute = shop.sandbox.open_dispute(intent)
    shop.clock.advance(86400)
    shop.sandbox.close_dispute(dispute["id"], won=False)
    closed = next(
        d for d in shop.sandbox.webhooks.held() if d.event_type == "charge.dispute.closed"
    )

    await shop.sandbox.webhooks.release([closed])  # closed (lost) first, then created

    async with shop.runtime.sessions() as session:
        order = await session.scalar(select(Order))
        reversed_ = (
            await session.scalars(
                select(EventRecord.payload).where(EventRecord.name == "payment.reversed")
            )
        ).all()
    assert order is not None and order.dispute_status == "lost"
    assert [r["why"] for r in reversed_] == ["dispute_lost"]
    state = await shop.state(member_id, shop.clock.now())
    assert state["access"] == [("guide", "guide", False)] and state["roles"] == [True, False]


async def test_a_delayed_payment_is_recorded_when_it_settles_and_a_failed_one_never(
    shop: Shop,
) -> None:
    member_id, uid = await shop.member("ada")
    other_id, other_uid = await shop.member("bob")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    paid = await shop.checkout("guide", uid)
    failed = await shop.checkout("guide", other_uid)
    shop.sandbox.complete_session(paid.id, delayed=True)
    shop.sandbox.complete_session(failed.id, delayed=True)
    await shop.settle()
    waiting = await shop.state(member_id, shop.clock.now())

    shop.sandbox.settle_payment(paid.id, succeeded=True)
    shop.sandbox.settle_payment(failed.id, succeeded=False)
    await shop.settle()

    assert waiting["orders"][0][1:3] == ("complete", "unpaid") and waiting["recorded"] == 0
    settled = await shop.state(member_id, shop.clock.now())
    refused = await shop.state(other_id, shop.clock.now())
    assert settled["orders"][0][1:3] == ("complete", "paid") and settled["recorded"] == 1
    assert settled["access"] == [("guide", "guide", True)]
    assert refused["orders"][0][1:3] == ("complete", "failed") and refused["recorded"] == 0
    assert refused["access"] == [] and refused["roles"] == []


async def test_an_expired_session_is_kept_as_an_expired_unpaid_order(shop: Shop) -> None:
    member_id, uid = await shop.member("ada")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    checkout = await shop.checkout("guide", uid)

    shop.sandbox.expire_session(checkout.id)
    await shop.settle()

    state = await shop.state(member_id, shop.clock.now())
    assert state["orders"] == [("guide", "expired", "unpaid", 2500, True, None, False)]
    assert state["recorded"] == 0 and state["roles"] == []


async def test_without_the_webhook_secret_every_delivery_is_refused_503_and_logged(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    settings = shop.runtime.settings
    shop.runtime.settings = settings.model_copy(
        update={"secrets": settings.secrets.model_copy(update={"STRIPE_WEBHOOK_SECRET": None})}
    )
    body = b'{"id": "evt_1"}'
    now = int(shop.clock.now().timestamp())
    try:
        with caplog.at_level(logging.WARNING, logger="bot.web.stripe_webhook"):
            status, text = await shop.post(body, {"Stripe-Signature": sign(body, SECRET, now)})
    finally:
        shop.runtime.settings = settings

    assert status == 503 and "not configured" in text
    assert any("STRIPE_WEBHOOK_SECRET is not set" in r.getMessage() for r in caplog.records)
    assert await stripe_events(shop) == 0


async def test_a_refund_delivered_before_its_session_is_applied_when_the_session_arrives(
    shop: Shop,
) -> None:
    member_id, uid = await shop.member("ada")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    checkout = await shop.checkout("guide", uid)
    shop.sandbox.webhooks.hold()
    shop.sandbox.complete_session(checkout.id)
    intent = shop.sandbox.get("checkout.session", checkout.id)["payment_intent"]
    shop.clock.advance(3600)
    shop.sandbox.refund(intent)
    refunded = next(d for d in shop.sandbox.webhooks.held() if d.event_type == "charge.refunded")

    await shop.sandbox.webhooks.release([refunded])  # the refund first, the session after

    async with shop.runtime.sessions() as session:
        orders = (await session.scalars(select(Order))).all()
        names = (
            await session.scalars(
                select(EventRecord.name).where(EventRecord.name.like("payment.%"))
            )
        ).all()
    assert [(o.session_id, o.payment_status, o.amount_refunded) for o in orders] == [
        (checkout.id, "paid", 2500)
    ]
    assert sorted(names) == ["payment.recorded", "payment.reversed"]
    state = await shop.state(member_id, shop.clock.now())
    assert state["access"] == [] and state["roles"] == []  # never paying: nothing granted


async def test_signed_events_holding_odd_values_are_answered_without_a_server_error(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    odd: dict[str, object] = {
        "created": 10**30,
        "amount_total": 10**30,
        "amount_refunded": "all of it",
        "currency": 5,
        "customer": "cus_" + "x" * 400,
        "customer_email": "e" * 400,
        "customer_details": [],
        "metadata": {"flywheel_member": 5, "flywheel_offer": ["guide"]},
        "client_reference_id": "x" * 5000,
        "payment_intent": {"id": "pi_odd"},
        "charge": "ch_odd",
        "status": "s" * 100,
        "payment_status": None,
        "mode": "x" * 100,
        "subscription": ["sub_1"],
        "items": {"data": [{"current_period_end": -(10**30)}, "x", {"price": 3}]},
        "canceled_at": 2**62,
        "cancel_at_period_end": "yes",
        "parent": {"subscription_details": {"subscription": "sub_" + "y" * 300, "metadata": []}},
        "status_transitions": {"paid_at": 10**40},
        "billing_reason": 1,
    }
    now = int(shop.clock.now().timestamp())
    answers = {}
    with caplog.at_level(logging.ERROR):
        for index, kind in enumerate(sorted(HANDLERS)):
            body = json.dumps(
                {
                    "id": f"evt_odd_{index}",
                    "type": kind,
                    "created": now,
                    "data": {"object": {"id": f"obj_odd_{index}", **odd}},
                }
            ).encode()
            answers[kind] = (await shop.post(body, {"Stripe-Signature": sign(body, SECRET, now)}))[
                0
            ]

    assert set(answers.values()) == {200}, answers
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
