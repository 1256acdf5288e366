"""Ritual specs and changes: typed refusals, one channel per editor's platform, audited edits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.destinations import ChannelRef
from bot.errors import Invalid
from bot.models import AuditEntry
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from tests.conftest import make_spaces

SPEC = rituals.RitualSpec(
    name="Feedback Friday",
    schedule="weekly fri 10:00",
    timezone="UTC",
    prompt="Share your work!",
    channel_id="500",
)


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


async def moderator(session, clock, community_id, platform="discord"):
    space = "111" if platform == "discord" else "T0001"
    caller = Caller(platform, space, f"mod-{platform}", "Mod", Role.MODERATOR)
    return await resolve_actor(session, clock, community_id=community_id, caller=caller)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"name": " "}, "name", "name.length"),
        ({"kind": "party"}, "kind", "kind.unknown"),
        ({"timezone": "Mars/Base"}, "timezone", "timezone.unknown"),
        ({"schedule": "sometimes"}, "schedule", "schedule.unparsable"),
        ({"schedule": "weekly fri 25:00"}, "schedule", "schedule.unparsable"),
        ({"prompt": ""}, "prompt", "prompt.length"),
        ({"channel_id": None}, "channel_id", "channel_id.missing"),
        ({"reminder_minutes": (1,)}, "reminder_minutes", "reminder_minutes.range"),
        ({"checkin_window_minutes": 1}, "checkin_window_minutes", "checkin_window_minutes.range"),
        ({"checkin_points": -1}, "checkin_points", "checkin_points.range"),
        ({"grace_minutes": 2000}, "grace_minutes", "grace_minutes.range"),
    ],
)
async def test_a_bad_spec_is_refused_about_its_field_with_a_stable_code(
    sessions, clock, changes, field, code
):
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        mod = await moderator(session, clock, discord.community_id)
        with pytest.raises(Invalid) as refused:
            await rituals.create_ritual(session, clock, mod, replace(SPEC, **changes))
    assert (refused.value.field, refused.value.code) == (field, code)
    assert refused.value.message  # still a sentence a moderator can read


async def test_a_taken_name_and_a_bad_edit_are_refused_about_their_fields(sessions, clock):
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        mod = await moderator(session, clock, discord.community_id)
        await rituals.create_ritual(session, clock, mod, SPEC)
        with pytest.raises(Invalid) as taken:
            await rituals.create_ritual(session, clock, mod, replace(SPEC, name="feedback FRIDAY"))
        with pytest.raises(Invalid) as unparsable:
            await rituals.edit_ritual(
                session, clock, mod, SPEC.name, rituals.RitualChanges(schedule="daily")
            )
    assert (taken.value.field, taken.value.code) == ("name", "name.taken")
    assert (unparsable.value.field, unparsable.value.code) == ("schedule", "schedule.unparsable")


def test_lead_times_and_templates_are_refused_about_their_fields():
    with pytest.raises(Invalid) as leads:
        rituals.parse_minutes("24h, soon")
    with pytest.raises(Invalid) as template:
        rituals.spec_from_template("party", timezone="UTC", channel_id="1")
    assert (leads.value.field, leads.value.code) == (
        "reminder_minutes",
        "reminder_minutes.unparsable",
    )
    assert (template.value.field, template.value.code) == ("kind", "kind.unknown")
    assert rituals.parse_minutes("24h, 1h") == (1440, 60)


async def test_a_channel_belongs_to_the_platform_of_whoever_sets_it(sessions, clock):
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        community_id = discord.community_id
        on_discord = await moderator(session, clock, community_id)
        on_slack = await moderator(session, clock, community_id, platform="slack")
        created = await rituals.create_ritual(session, clock, on_discord, SPEC)
        # A Slack moderator who leaves the channel blank keeps the Discord channel: still valid.
        renamed = await rituals.edit_ritual(
            session, clock, on_slack, SPEC.name, rituals.RitualChanges(name="Show and Tell")
        )
        both = await rituals.edit_ritual(
            session, clock, on_slack, "Show and Tell", rituals.RitualChanges(channel_id="C1")
        )
        for_slack = await rituals.ritual_spec(
            session, community_id, "show and tell", platform="slack"
        )
        for_discord = await rituals.ritual_spec(
            session, community_id, "show and tell", platform="discord"
        )
    assert created.channels == (ChannelRef("discord", "500"),)
    assert renamed.channels == created.channels and renamed.channel_on("slack") is None
    assert both.channels == (ChannelRef("discord", "500"), ChannelRef("slack", "C1"))
    assert (both.channel_on("discord"), both.channel_on("slack")) == ("500", "C1")
    assert (for_discord.channel_id, for_slack.channel_id) == ("500", "C1")
    assert for_slack.name == "Show and Tell" and for_slack.schedule == "weekly fri 10:00"


async def test_an_edit_is_audited_with_the_names_of_the_fields_it_changed(sessions, clock):
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        mod = await moderator(session, clock, discord.community_id)
        await rituals.create_ritual(session, clock, mod, SPEC)
        changes = rituals.RitualChanges(
            schedule="weekly fri 12:00", prompt=SPEC.prompt, checkin_points=25
        )
        view = await rituals.edit_ritual(session, clock, mod, SPEC.name, changes)
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "ritual.edit"))
    assert view.checkin_points == 25 and view.schedule == "weekly on Fri at 12:00"
    assert entry is not None
    assert entry.detail == {"fields": ["checkin_points", "schedule"]}  # the prompt stayed the same
