"""``stripe_webhook``: verified, idempotent ``checkout.session.completed`` events per second.

Each event is a paid Checkout Session naming a member and an offer that grants access, as
Stripe would send it (pretty-printed JSON, signed ``t=…,v1=…``), POSTed one after another over
a kept-alive loopback connection to a real ``flywheel web`` process (started by the bench, as
an operator would, so the sender is not on the server's event loop). The requests are raw
HTTP/1.1 written before timing starts, and each answer is read and checked before the next
request goes, so the figure is the server's, not an HTTP client's. The handler verifies
the signature against the process clock, records the event id, stores the order, publishes
``payment.recorded``, grants the access (a ``RoleChange`` outbox row) and commits before it
answers 200. The second figure sends every event again: each is verified and answered
"already processed" without a change. The baseline is signature verification alone
(:func:`bot.payments.signature.verify`) of the same bodies, in the same run. SQLite.
The issue's goal: at least 300 events/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import Result
from bot.clock import FakeClock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "whsec_bench"
PRICE = "price_bench_guide"


def _event(index: int, member_uid: str, created: int) -> bytes:
    """Return a checkout.session.completed event for a paid one-time purchase."""
    session_id = f"cs_test_bench{index:08d}"
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": 2500,
        "amount_total": 2500,
        "client_reference_id": member_uid,
        "created": created,
        "currency": "usd",
        "customer": None,
        "customer_details": {"email": f"buyer{index}@example.org", "name": None},
        "customer_email": None,
        "livemode": False,
        "metadata": {
            "flywheel_community": "bench",
            "flywheel_member": member_uid,
            "flywheel_offer": "guide",
        },
        "mode": "payment",
        "payment_intent": f"pi_bench{index:08d}",
        "payment_status": "paid",
        "status": "complete",
        "subscription": None,
        "success_url": "https://bench.example/thanks",
        "url": None,
    }
    event = {
        "id": f"evt_bench{index:08d}",
        "object": "event",
        "api_version": "2026-10-28",
        "created": created,
        "data": {"object": session},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
    }
    return json.dumps(event, indent=2).encode()


async def _members(url: str, community_id: int, count: int) -> list[str]:
    """Bulk-insert members on Discord (each with an identity), with public ids; return the ids."""
    from sqlalchemy import insert, select

    from bot.db import create_engine, create_sessionmaker
    from bot.models import Identity, Member
    from bot.services.communities import ensure_space

    uids = [f"benchmember{index:08d}" for index in range(count)]
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as session, session.begin():
        space = await ensure_space(
            session,
            FakeClock(START),
            community_id=community_id,
            platform="discord",
            external_id="1",
        )
        await session.execute(
            insert(Member),
            [
                {
                    "uid": uid,
                    "community_id": community_id,
                    "display_name": f"Buyer {index}",
                    "points_total": 0,
                    "activity_count": 0,
                    "joined_at": START,
                }
                for index, uid in enumerate(uids)
            ],
        )
        ids = await session.scalars(select(Member.id).where(Member.uid.in_(uids)))
        await session.execute(
            insert(Identity),
            [
                {
                    "member_id": member_id,
                    "space_id": space.space_id,
                    "platform": "discord",
                    "user_id": str(900_000 + member_id),
                    "created_at": START,
                }
                for member_id in ids
            ],
        )
    await engine.dispose()
    return uids


def _verify_all(bodies: list[tuple[bytes, str]], now: float) -> float:
    """Verify every body's signature; return verifications per second."""
    from bot.payments.signature import verify

    started = time.perf_counter()
    for body, header in bodies:
        verify(body, header, SECRET, now=now, tolerance=300)
    return len(bodies) / (time.perf_counter() - started)


async def stripe_webhook(scratch: Path, quick: bool) -> list[Result]:
    """Time signed checkout.session.completed events through `flywheel web` against verify()."""
    from bench.workloads import _database
    from bot.payments.signature import sign
    from bot.runtime import bootstrap_community, build_runtime
    from bot.settings import load_settings

    count = 500 if quick else 3_000
    url = await _database(scratch, "webhook")
    config = scratch / "bot.toml"
    config.write_text(
        '[community]\nname = "Bench"\nslug = "bench"\n'
        "[web]\nport = 0\n"
        f'[media]\ndir = "{scratch / "media"}"\n'
        "[discord.access]\nguide = 502\n"
        f'[offers.guide]\nname = "The guide"\nprice = "{PRICE}"\naccess = "guide"\n',
        encoding="utf-8",
    )
    environ = {"FLYWHEEL_DATABASE_URL": url, "STRIPE_WEBHOOK_SECRET": SECRET}
    runtime = build_runtime(load_settings(config, environ=environ), clock=FakeClock(START))
    try:
        community_id = await bootstrap_community(runtime)
    finally:
        await runtime.close()
    uids = await _members(url, community_id, count)
    # `flywheel web` checks signatures against its own (real) clock: sign with the time now.
    now = int(time.time())
    bodies = [
        (body, sign(body, SECRET, now)) for body in (_event(i, uids[i], now) for i in range(count))
    ]
    requests = [_request(body, header) for body, header in bodies]
    server, port = await _serve(config, environ)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:

            async def deliver(expected: str) -> float:
                started = time.perf_counter()
                for request in requests:
                    writer.write(request)
                    status, answer = await _answer(reader)
                    if status != 200 or answer.strip() != expected:
                        raise RuntimeError(f"stripe_webhook: answered {status} {answer!r}")
                return count / (time.perf_counter() - started)

            fresh = await deliver("processed")
            again = await deliver("already processed")
        finally:
            writer.close()
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=30)
    runtime = build_runtime(load_settings(config, environ=environ), clock=FakeClock(START))
    try:
        await _check(runtime, count)
    finally:
        await runtime.close()
    baseline = _verify_all(bodies, float(now))
    name = "signature verification alone"
    return [
        Result("stripe_webhook", "events_per_s", fresh, "events/s", name, baseline),
        Result("stripe_webhook", "repeats_per_s", again, "events/s", name, baseline),
    ]


def _request(body: bytes, signature: str) -> bytes:
    """Return a signed delivery as Stripe POSTs it, as raw HTTP/1.1 on a kept-alive connection.

    Written before the clock starts: an HTTP client's own Python per request (headers,
    cookies, response objects) would be most of what a one-at-a-time sender measured.
    """
    head = (
        "POST /stripe/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json; charset=utf-8\r\nUser-Agent: Stripe/1.0\r\n"
        f"Stripe-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, str]:
    """Read one HTTP/1.1 response (the app answers with a Content-Length); return it."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status = int(head.split(" ", 2)[1])
    length = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
    if length is None:
        raise RuntimeError(f"stripe_webhook: an answer without Content-Length: {head!r}")
    return status, (await reader.readexactly(int(length.group(1)))).decode()


async def _serve(config: Path, environ: dict[str, str]) -> tuple[asyncio.subprocess.Process, int]:
    """Start `flywheel web` on a free port (a process of its own, as in production)."""
    env = {**os.environ, **environ}
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "web",
        "--config",
        str(config),
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert server.stderr is not None
    seen: list[str] = []
    while True:
        line = (await asyncio.wait_for(server.stderr.readline(), timeout=60)).decode()
        if not line:
            raise RuntimeError(f"flywheel web stopped before serving: {''.join(seen)[-2000:]}")
        seen.append(line)
        found = re.search(r"web server on http://127\.0\.0\.1:(\d+)", line)
        if found:
            # Keep reading its log, so a full pipe never stalls the server.
            _DRAINS.add(asyncio.get_running_loop().create_task(_drain(server.stderr)))
            return server, int(found.group(1))


_DRAINS: set[asyncio.Task[None]] = set()  # the tasks reading servers' logs, kept referenced


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def _check(runtime: Any, count: int) -> None:
    """Make sure each event left one order and one access grant, not more."""
    from sqlalchemy import func, select

    from bot.models import Order, OutboxMessage, PaidAccess, StripeEvent

    async with runtime.sessions() as session:
        found = [
            await session.scalar(select(func.count()).select_from(model))
            for model in (StripeEvent, Order, PaidAccess, OutboxMessage)
        ]
    if found != [count] * 4:
        raise RuntimeError(
            f"stripe_webhook: {found} events, orders, grants, role changes for {count} events"
        )
