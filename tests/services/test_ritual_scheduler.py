"""The scheduler wakes only what is due: stored next fire and reminder times, and CHECKed statuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from bot.clock import FakeClock
from bot.models import Ritual, RitualOccurrence
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.rituals import scheduler
from tests.conftest import make_spaces
from tests.effects import occurrence_uid


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def moderator(session, clock):
    discord, _ = await make_spaces(session, clock)
    caller = Caller("discord", "111", "mod", "Mod", Role.MODERATOR)
    return await resolve_actor(session, clock, community_id=discord.community_id, caller=caller)


def spec(name: str, schedule: str, reminders: tuple[int, ...] = ()) -> rituals.RitualSpec:
    return rituals.RitualSpec(
        name=name,
        schedule=schedule,
        timezone="UTC",
        prompt="Show us",
        channel_id="500",
        reminder_minutes=reminders,
    )


async def stored(sessions, name: str) -> Ritual:
    async with sessions() as session:
        ritual = await session.scalar(select(Ritual).where(Ritual.name == name))
    assert ritual is not None
    return ritual


async def test_the_tick_computes_fire_times_only_for_the_rituals_that_are_due(
    sessions, monkeypatch
):
    clock = FakeClock(utc(2026, 3, 2, 9, 0))  # a Monday
    async with sessions() as session, session.begin():
        mod = await moderator(session, clock)
        due = [
            (
                await rituals.create_ritual(
                    session, clock, mod, spec(f"Due {i}", "weekly mon 10:00")
                )
            ).id
            for i in range(3)
        ]
        for i in range(20):
            await rituals.create_ritual(session, clock, mod, spec(f"Later {i}", "weekly wed 10:00"))
        await rituals.create_ritual(
            session, clock, mod, spec("Reminded", "weekly tue 10:00", reminders=(1440,))
        )
    calls = []
    counted = scheduler.fire_times

    def counting(*args, **kwargs):
        calls.append(args)
        return counted(*args, **kwargs)

    monkeypatch.setattr(scheduler, "fire_times", counting)
    clock.set(utc(2026, 3, 2, 10, 0, 5))
    async with sessions() as session:
        selected = await scheduler.due_rituals(session, clock.now())
        reminded = await stored(sessions, "Reminded")
    report = await rituals.tick(sessions, clock)

    assert selected == sorted([*due, reminded.id])  # the reminder of Tuesday's is due at 10:00
    assert len(report.posted) == 3 and report.reminders == 1
    assert len(calls) == 4  # one expansion per selected ritual, none for the twenty others
    calls.clear()
    assert (await rituals.tick(sessions, clock)).posted == []
    assert calls == []  # nothing is due any more: nothing is computed


async def test_next_fire_at_moves_on_create_edit_fire_pause_and_resume(sessions):
    clock = FakeClock(utc(2026, 3, 2, 9, 0))  # Monday
    async with sessions() as session, session.begin():
        mod = await moderator(session, clock)
        await rituals.create_ritual(session, clock, mod, spec("Wins", "weekly fri 10:00"))
    created = await stored(sessions, "Wins")
    assert created.next_fire_at == utc(2026, 3, 6, 10, 0)
    assert created.active_since == created.created_at == utc(2026, 3, 2, 9, 0)

    async with sessions() as session, session.begin():
        changes = rituals.RitualChanges(schedule="weekly thu 12:00")
        await rituals.edit_ritual(session, clock, mod, "Wins", changes)
    assert (await stored(sessions, "Wins")).next_fire_at == utc(2026, 3, 5, 12, 0)

    clock.set(utc(2026, 3, 5, 12, 0, 5))
    assert len((await rituals.tick(sessions, clock)).posted) == 1
    assert (await stored(sessions, "Wins")).next_fire_at == utc(2026, 3, 12, 12, 0)

    async with sessions() as session, session.begin():
        await rituals.set_paused(session, clock, mod, "Wins", True)
    paused = await stored(sessions, "Wins")
    assert (paused.next_fire_at, paused.next_remind_at) == (None, None)

    clock.set(utc(2026, 3, 20, 8, 0))  # two Thursdays fell due during the pause
    async with sessions() as session, session.begin():
        view = await rituals.set_paused(session, clock, mod, "Wins", False)
    resumed = await stored(sessions, "Wins")
    assert resumed.next_fire_at == view.next_fire == utc(2026, 3, 26, 12, 0)
    assert resumed.created_at == utc(2026, 3, 2, 9, 0)  # resuming keeps when it was created
    assert resumed.active_since == utc(2026, 3, 20, 8, 0)
    report = await rituals.tick(sessions, clock)
    assert (report.posted, report.late, report.missed) == ([], [], [])  # nothing replayed


async def test_an_edit_that_keeps_the_schedule_keeps_a_fire_time_not_handled_yet(sessions):
    clock = FakeClock(utc(2026, 3, 2, 9, 0))
    async with sessions() as session, session.begin():
        mod = await moderator(session, clock)
        await rituals.create_ritual(session, clock, mod, spec("Wins", "weekly mon 10:00"))
    clock.set(utc(2026, 3, 2, 10, 0, 3))  # due, but the tick has not run yet
    async with sessions() as session, session.begin():
        changes = rituals.RitualChanges(prompt="Share one win")
        await rituals.edit_ritual(session, clock, mod, "Wins", changes)
    assert len((await rituals.tick(sessions, clock)).posted) == 1


async def test_a_once_ritual_fires_once_and_is_then_never_selected(sessions):
    clock = FakeClock(utc(2026, 3, 2, 9, 0))
    async with sessions() as session, session.begin():
        mod = await moderator(session, clock)
        await rituals.create_ritual(session, clock, mod, spec("Launch", "once 2026-03-03 18:00"))
    clock.set(utc(2026, 3, 3, 18, 0, 10))
    assert len((await rituals.tick(sessions, clock)).posted) == 1
    assert (await stored(sessions, "Launch")).next_fire_at is None
    clock.set(utc(2026, 3, 3, 18, 30))
    async with sessions() as session:
        assert await scheduler.due_rituals(session, clock.now()) == []
    assert (await rituals.tick(sessions, clock)).posted == []


async def test_next_remind_at_is_the_earliest_reminder_and_moves_after_it(sessions):
    clock = FakeClock(utc(2026, 3, 2, 9, 0))  # Monday
    async with sessions() as session, session.begin():
        mod = await moderator(session, clock)
        weekly = spec("Office Hours", "weekly mon,thu 18:00", reminders=(4320, 60))
        await rituals.create_ritual(session, clock, mod, weekly)
    # Due next: Monday's one-hour reminder (17:00), then Thursday's three-day one (Mon 18:00).
    assert (await stored(sessions, "Office Hours")).next_remind_at == utc(2026, 3, 2, 17, 0)
    clock.set(utc(2026, 3, 2, 16, 59))
    assert (await rituals.tick(sessions, clock)).reminders == 0
    clock.set(utc(2026, 3, 2, 17, 0, 5))
    assert (await rituals.tick(sessions, clock)).reminders == 1
    assert (await stored(sessions, "Office Hours")).next_remind_at == utc(2026, 3, 2, 18, 0)
    assert (await rituals.tick(sessions, clock)).reminders == 0  # not twice


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("UPDATE ritual_occurrences SET status = 'bogus'", "ritual_occurrences"),
        ("UPDATE ritual_checkins SET method = 'telepathy'", "ritual_checkins"),
        ("UPDATE outbox SET status = 'lost'", "outbox"),
    ],
)
async def test_a_check_constraint_refuses_a_status_it_does_not_know(sessions, statement, table):
    clock = FakeClock(utc(2026, 3, 2, 9, 0))
    async with sessions() as session, session.begin():
        mod = await moderator(session, clock)
        await rituals.create_ritual(session, clock, mod, spec("Wins", "weekly mon 09:30"))
    clock.set(utc(2026, 3, 2, 9, 30, 5))
    (occurrence_id,) = (await rituals.tick(sessions, clock)).posted
    async with sessions() as session, session.begin():
        uid = await occurrence_uid(session, occurrence_id)
        await rituals.checkin(
            session, clock, occurrence_uid=uid, member_id=mod.member_id, method="button"
        )
    with pytest.raises(IntegrityError, match=f"(?i)ck_{table}|check"):
        async with sessions() as session, session.begin():
            await session.execute(text(statement))
    async with sessions() as session:
        occurrence = await session.get(RitualOccurrence, occurrence_id)
    assert occurrence is not None and occurrence.status == "posted"
