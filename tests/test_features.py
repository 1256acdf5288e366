"""Feature declarations: the runtime, the bus, privacy and export read them; nothing else lists
features."""

from __future__ import annotations

import pytest

from bot import runtime as runtime_module
from bot.events import MemberCreated
from bot.features import Feature, Job, Subscription, discover, front_end_modules
from bot.runtime import build_runtime
from bot.services.export import tables
from bot.services.identities import resolve_member
from tests.conftest import default_settings, make_spaces


def test_the_declared_features_are_found_in_the_services():
    names = [feature.name for feature in discover()]
    assert names == [
        "access",
        "channels",
        "members",
        "payments",
        "recognition",
        "rituals",
        "ugc",
        "upkeep",
    ]
    assert front_end_modules("cogs") == [
        "cogs.channels",
        "cogs.members",
        "cogs.payments",
        "cogs.recognition",
        "cogs.rituals",
        "cogs.ugc",
    ]


def test_flywheel_export_covers_every_ritual_table():
    names = {table.name for table in tables()}
    assert {
        "rituals",
        "ritual_occurrences",
        "ritual_checkins",
        "ritual_hosts",
        "ritual_reminder_optins",
        "ritual_links",
        "destinations",
    } <= names


def test_the_runtime_schedules_every_declared_job(database_url):
    runtime = build_runtime(default_settings(database_url))
    assert set(runtime.scheduler.jobs) >= {"rituals", "outbox-prune"}


async def test_a_declared_subscription_is_delivered_through_the_bus(
    database_url, committed, clock, monkeypatch: pytest.MonkeyPatch
):
    seen: list[int] = []

    async def on_created(context, session, event: MemberCreated) -> None:
        assert context.clock is clock
        seen.append(event.member_id)

    async def nothing(context) -> None:
        return None

    feature = Feature(
        name="greeter",
        summary="test",
        jobs=(Job("greet", 5.0, nothing),),
        subscriptions=(Subscription("greeter.on-created", MemberCreated, on_created),),
        has_front_ends=False,
    )
    monkeypatch.setattr(runtime_module, "discover", lambda: (feature,))
    runtime = build_runtime(default_settings(database_url), clock)
    assert runtime.scheduler.jobs == ["greet"]
    async with committed() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        ada = await resolve_member(session, clock, space=discord, user_id="1")
    assert await runtime.bus.process_pending() == 1
    assert seen == [ada.member_id]
    await runtime.close()
