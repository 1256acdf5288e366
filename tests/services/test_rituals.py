"""Rituals: on time, once, with outage policy, reminders, check-ins, recaps and attendance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.commands import CommandNames
from bot.errors import Forbidden, Invalid
from bot.models import Member, OutboxMessage, RitualOccurrence
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.engagement import record_activity
from tests.conftest import make_spaces
from tests.effects import message_of, occurrence_uid, pretend_sent, text_of


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def actor(
    session, clock, community_id, user_id="mod", role=Role.MODERATOR, platform="discord", name=None
):
    caller = Caller(
        platform, "111" if platform == "discord" else "T0001", user_id, name or user_id, role, "c1"
    )
    return await resolve_actor(session, clock, community_id=community_id, caller=caller)


async def setup(
    sessions,
    clock,
    schedule="weekly fri 10:00",
    tz="Europe/Berlin",
    slack_channel_id=None,
    **extra,
):
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        mod = await actor(session, clock, discord.community_id)
        spec = rituals.RitualSpec(
            name=extra.pop("name", "Feedback Friday"),
            schedule=schedule,
            timezone=tz,
            prompt="Share your work!",
            channel_id="500",
            **extra,
        )
        view = await rituals.create_ritual(session, clock, mod, spec)
        if slack_channel_id:  # a ritual's channel is on its editor's platform
            slack_mod = await actor(session, clock, discord.community_id, platform="slack")
            view = await rituals.edit_ritual(
                session,
                clock,
                slack_mod,
                spec.name,
                rituals.RitualChanges(channel_id=slack_channel_id),
            )
    return discord.community_id, view


async def posts(sessions, kind="ritual-post:"):
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.key.startswith(kind))
                .order_by(OutboxMessage.id)
            )
        ).all()
    return rows


async def occurrences(sessions):
    async with sessions() as session:
        return (
            await session.scalars(select(RitualOccurrence).order_by(RitualOccurrence.scheduled_at))
        ).all()


async def run_until(sessions, clock, until: datetime, step=timedelta(minutes=1)):
    reports = []
    while clock.now() < until:
        clock.advance(step.total_seconds())
        reports.append(await rituals.tick(sessions, clock))
    return reports


async def test_a_weekly_berlin_ritual_posts_at_local_ten_in_winter_and_summer(sessions):
    clock = FakeClock(utc(2026, 3, 19, 12))
    await setup(sessions, clock, reminder_minutes=())
    for day in (utc(2026, 3, 27), utc(2026, 4, 3), utc(2026, 10, 23), utc(2026, 10, 30)):
        clock.set(day + timedelta(hours=7))
        await run_until(sessions, clock, day + timedelta(hours=10), step=timedelta(minutes=5))
    fired = [o.scheduled_at for o in await occurrences(sessions) if o.status == "posted"]
    assert utc(2026, 3, 27, 9) in fired and utc(2026, 4, 3, 8) in fired
    assert utc(2026, 10, 23, 8) in fired and utc(2026, 10, 30, 9) in fired
    statuses = {o.scheduled_at: o.status for o in await occurrences(sessions)}
    assert statuses[utc(2026, 3, 27, 9)] == "posted"
    # Each occurrence posted when the clock reached it (within a tick), not before.
    for o in await occurrences(sessions):
        if o.status == "posted":
            assert timedelta(0) <= o.fired_at - o.scheduled_at <= timedelta(minutes=5)


async def test_a_0230_ritual_on_the_spring_forward_day_fires_once(sessions):
    clock = FakeClock(utc(2026, 3, 28, 12))
    await setup(sessions, clock, schedule="weekly sun 02:30", reminder_minutes=())
    await run_until(sessions, clock, utc(2026, 3, 29, 6), step=timedelta(minutes=10))
    fired = await occurrences(sessions)
    assert [(o.scheduled_at, o.status) for o in fired] == [(utc(2026, 3, 29, 1), "posted")]
    assert len(await posts(sessions)) == 1


async def test_ticking_again_or_from_two_places_never_posts_twice(sessions):
    clock = FakeClock(utc(2026, 1, 2, 8))
    await setup(sessions, clock, tz="UTC", slack_channel_id="C1", reminder_minutes=())
    clock.set(utc(2026, 1, 2, 10, 0, 30))
    first = await rituals.tick(sessions, clock)
    second = await rituals.tick(sessions, clock)
    assert len(first.posted) == 1 and second.posted == []
    assert sorted(p.platform for p in await posts(sessions)) == ["discord", "slack"]


async def test_after_a_three_day_outage_one_late_post_and_the_rest_missed(sessions):
    clock = FakeClock(utc(2026, 1, 5, 8))
    await setup(
        sessions, clock, schedule="weekly mon,tue,wed,thu,fri 10:00", tz="UTC", reminder_minutes=()
    )
    await run_until(sessions, clock, utc(2026, 1, 5, 10, 5))  # Monday posts on time
    clock.set(utc(2026, 1, 8, 10, 20))  # down Tue, Wed; back 20 minutes into Thursday's
    report = await rituals.tick(sessions, clock)
    assert len(report.late) == 1 and report.posted == [] and len(report.missed) == 2
    statuses = [(o.scheduled_at.day, o.status) for o in await occurrences(sessions)]
    assert statuses == [(5, "posted"), (6, "missed"), (7, "missed"), (8, "late")]
    late_post = [p for p in await posts(sessions) if "posted late" in text_of(p)]
    assert len(late_post) == 1 and len(await posts(sessions)) == 2


async def test_an_outage_longer_than_the_grace_period_posts_nothing_stale(sessions):
    clock = FakeClock(utc(2026, 1, 5, 8))
    await setup(
        sessions, clock, schedule="weekly mon,tue,wed,thu,fri 10:00", tz="UTC", reminder_minutes=()
    )
    clock.set(utc(2026, 1, 8, 15))
    report = await rituals.tick(sessions, clock)
    assert report.posted == [] and report.late == [] and len(report.missed) == 4
    assert await posts(sessions) == []


async def test_reminders_go_to_the_channel_and_to_opted_in_members_once(sessions):
    clock = FakeClock(utc(2026, 1, 1, 8))
    community_id, view = await setup(sessions, clock, tz="UTC", reminder_minutes=(1440, 60))
    async with sessions() as session, session.begin():
        for index in range(3):
            member = await actor(
                session, clock, community_id, user_id=f"u{index}", role=Role.MEMBER
            )
            await rituals.set_reminder(session, member, view.name, on=index != 2)
    clock.set(utc(2026, 1, 1, 10, 0, 30))  # 24 h before Friday 10:00
    await rituals.tick(sessions, clock)
    await rituals.tick(sessions, clock)
    clock.set(utc(2026, 1, 2, 9, 0, 30))  # 1 h before
    await rituals.tick(sessions, clock)
    channel = await posts(sessions, "ritual-reminder:")
    dms = await posts(sessions, "ritual-remind-dm:")
    assert len(channel) == 2
    assert sorted(dm.target for dm in dms) == ["user:u0", "user:u0", "user:u1", "user:u1"]
    assert "tomorrow" in text_of(channel[0]) and "in 1 hour" in text_of(channel[1])
    assert all("`/ritual remind` turns it off" in text_of(dm) for dm in dms)


async def test_a_slack_reminder_dm_names_the_command_as_slack_members_type_it(sessions):
    clock = FakeClock(utc(2026, 1, 1, 8))
    community_id, view = await setup(
        sessions, clock, tz="UTC", reminder_minutes=(60,), slack_channel_id="C1"
    )
    async with sessions() as session, session.begin():
        member = await actor(
            session, clock, community_id, user_id="U1", role=Role.MEMBER, platform="slack"
        )
        await rituals.set_reminder(session, member, view.name, on=True)
    clock.set(utc(2026, 1, 2, 9, 0, 30))  # 1 h before Friday 10:00
    await rituals.tick(sessions, clock, CommandNames(slack_command="/acme"))
    (dm,) = await posts(sessions, "ritual-remind-dm:")
    assert dm.target == "user:U1"
    assert "`/acme ritual remind` turns it off" in text_of(dm)


async def test_check_in_counts_once_awards_points_once_and_closes_with_the_window(sessions):
    clock = FakeClock(utc(2026, 1, 2, 9))
    community_id, _view = await setup(
        sessions, clock, tz="UTC", reminder_minutes=(), checkin_points=15
    )
    clock.set(utc(2026, 1, 2, 10, 0, 10))
    report = await rituals.tick(sessions, clock)
    async with sessions() as session, session.begin():
        uid = await occurrence_uid(session, report.posted[0])
        ada = await actor(session, clock, community_id, user_id="ada", role=Role.MEMBER)
        first = await rituals.checkin(
            session, clock, occurrence_uid=uid, member_id=ada.member_id, method="button"
        )
        again = await rituals.checkin(
            session, clock, occurrence_uid=uid, member_id=ada.member_id, method="reaction"
        )
        member = await session.get(Member, ada.member_id)
    assert first.counted and first.points == 15 and not again.counted and again.points == 0
    assert member.points_total == 15
    clock.set(utc(2026, 1, 2, 12, 1))
    async with sessions() as session, session.begin():
        bob = await actor(session, clock, community_id, user_id="bob", role=Role.MEMBER)
        with pytest.raises(Invalid, match="closed"):
            await rituals.checkin(
                session,
                clock,
                occurrence_uid=uid,
                member_id=bob.member_id,
                method="button",
            )


async def test_the_recap_counts_attendance_welcomes_first_timers_and_lists_links(sessions):
    clock = FakeClock(utc(2026, 1, 2, 9))
    community_id, _view = await setup(
        sessions, clock, tz="UTC", reminder_minutes=(), slack_channel_id="C9"
    )
    clock.set(utc(2026, 1, 2, 10, 0, 10))
    occurrence_id = (await rituals.tick(sessions, clock)).posted[0]
    async with sessions() as session, session.begin():
        await pretend_sent(session, clock, (await session.scalars(select(OutboxMessage))).all())
        discord_post = next(
            p
            for p in (await session.scalars(select(OutboxMessage))).all()
            if p.platform == "discord"
        )
        for name in ("Ada <@everyone>", "Bob"):
            member = await actor(
                session, clock, community_id, user_id=name, role=Role.MEMBER, name=name
            )
            result = await rituals.checkin_by_reply(
                session,
                clock,
                platform="discord",
                parent_id=discord_post.external_id,
                member_id=member.member_id,
                text="made this https://example.com/a and https://example.com/b",
            )
            assert result is not None and result.counted
    clock.set(utc(2026, 1, 2, 12, 5))
    report = await rituals.tick(sessions, clock)
    assert report.recaps == [occurrence_id]
    recaps = {p.platform: p for p in await posts(sessions, "ritual-recap:")}
    # Each recap is a reply in the thread of its platform's post (the dispatcher finds it).
    for recap in recaps.values():
        assert message_of(recap).reply_to == rituals.occurrence_subject(
            message_of(discord_post).about.id
        )
    text = text_of(recaps["discord"])
    assert "2 checked in" in text and "first-timers" in text and "https://example.com/a" in text
    assert "<@everyone>" not in text  # a member's name cannot ping anyone
    assert "&lt;@everyone&gt;" in text_of(recaps["slack"])
    assert (await rituals.tick(sessions, clock)).recaps == []


async def test_only_moderators_create_rituals_and_bad_input_is_explained(sessions, clock):
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        member = await actor(session, clock, discord.community_id, user_id="m", role=Role.MEMBER)
        spec = rituals.spec_from_template("office_hours", timezone="UTC", channel_id="1")
        with pytest.raises(Forbidden, match="Only moderators"):
            await rituals.create_ritual(session, clock, member, spec)
        mod = await actor(session, clock, discord.community_id)
        view = await rituals.create_ritual(session, clock, mod, spec)
        assert view.name == "Office Hours" and view.schedule == "weekly on Thu at 17:00"
        with pytest.raises(Invalid, match="exists already"):
            await rituals.create_ritual(session, clock, mod, spec)
        with pytest.raises(Invalid, match="not a time zone"):
            await rituals.edit_ritual(
                session, clock, mod, "office hours", rituals.RitualChanges(timezone="Mars/Base")
            )
        times = await rituals.preview(session, clock, discord.community_id, "Office Hours")
        assert len(times) == 5 and all(t.local.hour == 17 for t in times)


async def test_a_ritual_cannot_be_renamed_to_another_rituals_name_in_any_case(sessions, clock):
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        mod = await actor(session, clock, discord.community_id)
        for template in ("office_hours", "monday_wins"):
            spec = rituals.spec_from_template(template, timezone="UTC", channel_id="1")
            await rituals.create_ritual(session, clock, mod, spec)
        with pytest.raises(Invalid, match="'OFFICE hours' exists already"):
            await rituals.edit_ritual(
                session, clock, mod, "Monday Wins", rituals.RitualChanges(name="OFFICE hours")
            )
        renamed = await rituals.edit_ritual(
            session, clock, mod, "Monday Wins", rituals.RitualChanges(name="MONDAY WINS")
        )
        assert renamed.name == "MONDAY WINS"  # its own name in other capitals is fine


async def test_attendance_is_distinct_check_ins_over_monthly_active_members(sessions):
    clock = FakeClock(utc(2026, 1, 1, 9))
    community_id, view = await setup(sessions, clock, tz="UTC", reminder_minutes=())
    async with sessions() as session, session.begin():
        members = [
            await actor(session, clock, community_id, user_id=f"a{i}", role=Role.MEMBER)
            for i in range(4)
        ]
        for index, member in enumerate(members):
            await record_activity(
                session,
                clock,
                member_id=member.member_id,
                kind="message",
                points=1,
                source_key=f"s{index}",
            )
    clock.set(utc(2026, 1, 2, 10, 0, 5))
    occurrence_id = (await rituals.tick(sessions, clock)).posted[0]
    async with sessions() as session, session.begin():
        uid = await occurrence_uid(session, occurrence_id)
        for member in members[:2]:
            await rituals.checkin(
                session,
                clock,
                occurrence_uid=uid,
                member_id=member.member_id,
                method="button",
            )
        result = await rituals.attendance(
            session, view.id, rituals.local_week_start(clock.now(), "UTC")
        )
        mod_count = await session.scalar(select(func.count()).select_from(Member))
    # 2 check-ins; active = the 4 who posted plus the 2 check-ins' own activity (same people) = 4.
    assert result.occurrences == 1 and result.checkins == 2 and result.rate == pytest.approx(2 / 4)
    assert mod_count == 5
