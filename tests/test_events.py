"""Domain events: handled after commit, once per subscriber, failures retried in isolation."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.events import ActivityRecorded, EventBus, MemberCreated
from bot.models import AuditEntry, EventDelivery, EventRecord
from bot.services.audit import record_audit
from bot.services.engagement import record_activity
from bot.services.identities import resolve_member
from tests.conftest import make_spaces


async def _seed_member(committed, clock):
    async with committed() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        member = await resolve_member(session, clock, space=discord, user_id="1")
    return discord, member


async def test_subscribers_see_events_only_after_the_publisher_commits(committed, clock):
    bus = EventBus(committed, clock)
    seen: list[int] = []

    async def on_created(session, event: MemberCreated) -> None:
        seen.append(event.member_id)

    bus.subscribe(MemberCreated, on_created)
    async with committed() as session:
        async with session.begin():
            discord, _ = await make_spaces(session, clock)
        async with session.begin():
            await resolve_member(session, clock, space=discord, user_id="rolled-back")
            await session.rollback()
    assert await bus.process_pending() == 0 and seen == []
    _, member = await _seed_member(committed, clock)
    assert await bus.process_pending() == 1
    assert seen == [member.member_id]
    assert await bus.process_pending() == 0  # delivered once


async def test_a_failing_subscriber_is_retried_and_does_not_block_the_others(committed, clock):
    bus = EventBus(committed, clock, backoff_seconds=1.0)
    good: list[str] = []
    failures = {"left": 2}

    async def flaky(session, event: ActivityRecorded) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("downstream unavailable")
        good.append("flaky")

    async def steady(session, event: ActivityRecorded) -> None:
        good.append("steady")

    bus.subscribe(ActivityRecorded, flaky, name="flaky")
    bus.subscribe(ActivityRecorded, steady, name="steady")
    _, member = await _seed_member(committed, clock)
    async with committed() as session, session.begin():
        result = await record_activity(
            session, clock, member_id=member.member_id, kind="message", points=1, source_key="m1"
        )
    assert result.counted  # the publisher never saw the subscriber fail
    await bus.process_pending()
    assert good == ["steady"]
    await bus.process_pending()  # backoff not elapsed: nothing retried yet
    assert good == ["steady"]
    for _ in range(2):
        clock.advance(10)
        await bus.process_pending()
    assert good == ["steady", "flaky"]
    async with committed() as session:
        deliveries = (
            await session.scalars(select(EventDelivery).order_by(EventDelivery.subscriber))
        ).all()
        flaky_row = next(d for d in deliveries if d.subscriber == "flaky")
        assert flaky_row.status == "done" and flaky_row.attempts == 3
        record = await session.scalar(
            select(EventRecord).where(EventRecord.name == ActivityRecorded.name)
        )
        assert record.done_at is not None


async def test_a_subscriber_that_keeps_failing_is_given_up_with_its_error_kept(committed, clock):
    bus = EventBus(committed, clock, max_attempts=3, backoff_seconds=1.0)

    async def broken(session, event: MemberCreated) -> None:
        raise ValueError("bad template")

    bus.subscribe(MemberCreated, broken, name="broken")
    await _seed_member(committed, clock)
    for _ in range(5):
        await bus.process_pending()
        clock.advance(3600)
    async with committed() as session:
        delivery = await session.scalar(select(EventDelivery))
        assert delivery.status == "dead" and delivery.attempts == 3
        assert "bad template" in delivery.last_error


async def test_two_buses_apply_a_subscribers_effect_once(committed, clock):
    async def audit(session, event: MemberCreated) -> None:
        await record_audit(
            session,
            clock,
            community_id=event.community_id,
            actor_member_id=None,
            action="welcome",
            target=f"member:{event.member_id}",
        )

    buses = [EventBus(committed, clock) for _ in range(2)]
    for bus in buses:
        bus.subscribe(MemberCreated, audit, name="audit")
    await _seed_member(committed, clock)
    await asyncio.gather(*(bus.process_pending() for bus in buses))
    async with committed() as session:
        deliveries = (await session.scalars(select(EventDelivery))).all()
        audits = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "welcome"))
        ).all()
    # Whichever bus lost the race had its handler's transaction rolled back with the delivery.
    assert len(deliveries) == 1 and len(audits) == 1


async def test_events_nobody_hears_are_finished_together_and_the_heard_delivered(committed, clock):
    bus = EventBus(committed, clock)
    seen: list[int] = []

    async def on_created(session, event: MemberCreated) -> None:
        seen.append(event.member_id)

    bus.subscribe(MemberCreated, on_created, name="test.on-created")
    _, member = await _seed_member(committed, clock)  # member.created: heard
    async with committed() as session, session.begin():
        for number in range(3):  # activity.recorded: nobody subscribes to it here
            await record_activity(
                session,
                clock,
                member_id=member.member_id,
                kind="message",
                points=1,
                source_key=f"m{number}",
            )

    assert await bus.process_pending() == 1 and seen == [member.member_id]
    async with committed() as session:
        records = (await session.scalars(select(EventRecord))).all()
        deliveries = (await session.scalars(select(EventDelivery))).all()
    assert {r.name for r in records} == {"member.created", "activity.recorded"}
    assert all(r.done_at is not None for r in records) and len(records) >= 4
    assert [d.subscriber for d in deliveries] == ["test.on-created"]
    assert await bus.process_pending() == 0
