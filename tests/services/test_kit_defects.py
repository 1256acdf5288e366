"""The four defects the feature kit fixes, each shown at the service level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.errors import NotFound
from bot.messages import Subject, load
from bot.models import (
    AuditEntry,
    Identity,
    Member,
    OutboxMessage,
    PostRecord,
    RitualCheckin,
    RitualLink,
    RitualReminderOptIn,
)
from bot.outbox import registry
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.channels import apply_configured, clear_channel, list_channels, set_channel
from bot.services.identities import ErasedPerson, resolve_member
from bot.services.linking import finish_link, start_link
from bot.services.privacy import delete_member, export_member
from tests.conftest import make_spaces
from tests.effects import pretend_sent


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _actor(session, clock, community_id, user_id, role=Role.MEMBER, name=None):
    caller = Caller("discord", "111", user_id, name or user_id, role, "c1")
    return await resolve_actor(session, clock, community_id=community_id, caller=caller)


async def _ritual(session, clock, mod, name="Office Hours"):
    spec = rituals.RitualSpec(
        name=name,
        schedule="weekly thu 17:00",
        timezone="UTC",
        prompt="Check in to office hours",
        channel_id="500",
        reminder_minutes=(),
    )
    return await rituals.create_ritual(session, clock, mod, spec)


async def _posts(session, prefix="ritual-post:"):
    return (
        await session.scalars(select(OutboxMessage).where(OutboxMessage.key.startswith(prefix)))
    ).all()


async def _posted_occurrence(sessions):
    """Create a ritual, fire it at 17:00 on 1 January and pretend its post went out."""
    clock = FakeClock(utc(2026, 1, 1, 16))
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        mod = await _actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
        await _ritual(session, clock, mod)
    clock.set(utc(2026, 1, 1, 17, 0, 5))
    await rituals.tick(sessions, clock)
    async with sessions() as session, session.begin():
        await pretend_sent(session, clock, await _posts(session))
        post = (await _posts(session))[0]
    return clock, discord, post


async def test_a_ritual_created_after_the_newest_was_deleted_still_posts_and_old_buttons_die(
    session,
):
    clock = FakeClock(utc(2026, 1, 5, 9))
    discord, _ = await make_spaces(session, clock)
    mod = await _actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
    await _ritual(session, clock, mod)
    first = await rituals.run_now(session, clock, mod, "Office Hours")
    await pretend_sent(session, clock, await _posts(session))
    old_post = (await _posts(session))[0]
    old_button = load(old_post.payload).buttons[0].id
    await rituals.delete_ritual(session, clock, mod, "Office Hours")
    clock.advance(60)
    await _ritual(session, clock, mod)
    second = await rituals.run_now(session, clock, mod, "Office Hours")
    pending = [row for row in await _posts(session) if row.status == "pending"]
    assert len(pending) == 1, "the new ritual's post is queued under a key of its own"
    assert pending[0].key != old_post.key
    assert load(pending[0].payload).buttons[0].id != old_button
    member = await _actor(session, clock, discord.community_id, "ada")
    uid = rituals.occurrence_of_button(old_button)
    assert uid is not None
    with pytest.raises(NotFound):
        await rituals.checkin(
            session, clock, occurrence_uid=uid, member_id=member.member_id, method="button"
        )
    # On SQLite the rowids really were reused; nothing outside the database saw them.
    assert isinstance(first, int) and isinstance(second, int)


async def test_erasing_a_member_whose_name_is_common_text_touches_nobody_elses_rows(session):
    clock = FakeClock(utc(2026, 1, 5, 9))
    discord, _ = await make_spaces(session, clock)
    mod = await _actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
    await _ritual(session, clock, mod)
    await rituals.run_now(session, clock, mod, "Office Hours")
    await pretend_sent(session, clock, await _posts(session))
    for name in ("in", "ritual", "Office"):
        victim = await _actor(session, clock, discord.community_id, f"id-{name}", name=name)
        await delete_member(session, clock, member_id=victim.member_id)
    assert len(await _posts(session)) == 1, "the ritual post (it says 'Check in') is kept"
    audit = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "ritual.create"))
    ).all()
    assert [entry.detail for entry in audit] == [{"name": "Office Hours"}]
    subject = await registry.subject_of(
        session, platform="discord", message_id=f"m{(await _posts(session))[0].id}"
    )
    assert subject is not None and subject.kind == "occurrence"


async def test_erasure_removes_every_copy_and_a_passive_signal_does_not_bring_them_back(
    sessions,
):
    clock, discord, post = await _posted_occurrence(sessions)
    community_id = discord.community_id
    async with sessions() as session, session.begin():
        zoe = await _actor(session, clock, community_id, "999", name="Zoë Secret")
        await rituals.checkin_by_reply(
            session,
            clock,
            platform="discord",
            parent_id=post.external_id,
            member_id=zoe.member_id,
            text="see https://zoe.example/portfolio",
        )
    clock.set(utc(2026, 1, 1, 19, 5))
    assert (await rituals.tick(sessions, clock)).recaps
    async with sessions() as session, session.begin():
        (recap,) = await _posts(session, "ritual-recap:")
        assert "Zoë Secret" in load(recap.payload).body.plain()
        await pretend_sent(session, clock, [recap])
        await delete_member(session, clock, member_id=zoe.member_id)
    async with sessions() as session:
        assert await _posts(session, "ritual-recap:") == [], "the sent recap naming her is gone"
        links = await session.scalar(select(func.count()).select_from(RitualLink))
        assert links == 0, "her shared link is gone"
        # The recap's registry entry carries no member data and may stay.
        assert await session.scalar(select(func.count()).select_from(PostRecord)) >= 1
    async with sessions() as session, session.begin():
        with pytest.raises(ErasedPerson):
            await resolve_actor(
                session,
                clock,
                community_id=community_id,
                caller=Caller("discord", "111", "999", "Zoë Secret", Role.MEMBER),
                explicit=False,
            )
    async with sessions() as session:
        identities = await session.scalar(
            select(func.count()).select_from(Identity).where(Identity.user_id == "999")
        )
        assert identities == 0, "a reaction does not recreate her"
    async with sessions() as session, session.begin():
        again = await resolve_member(
            session, clock, space=discord, user_id="999", display_name="Zoë Secret"
        )
        assert again.created and again.returning, "a click of hers starts afresh, and says so"
        fresh = await session.get(Member, again.member_id)
        assert fresh is not None and fresh.points_total == 0


async def test_deleting_or_pausing_a_ritual_cancels_what_is_queued_for_it(session):
    clock = FakeClock(utc(2026, 1, 5, 9))
    discord, _ = await make_spaces(session, clock)
    mod = await _actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
    await _ritual(session, clock, mod)
    await rituals.run_now(session, clock, mod, "Office Hours")
    assert len(await _posts(session)) == 1
    await rituals.set_paused(session, clock, mod, "Office Hours", paused=True)
    assert await _posts(session) == [], "pausing cancels the queued post"
    await rituals.set_paused(session, clock, mod, "Office Hours", paused=False)
    clock.advance(timedelta(minutes=1).total_seconds())
    await rituals.run_now(session, clock, mod, "Office Hours")
    assert len(await _posts(session)) == 1
    await rituals.delete_ritual(session, clock, mod, "Office Hours")
    assert await _posts(session) == [], "deleting cancels the queued post"
    assert await registry.cancel_about(session, [Subject(kind="ritual", id="none")]) == 0


async def test_an_occurrence_whose_post_a_pause_cancelled_gets_no_recap(sessions):
    clock = FakeClock(utc(2026, 1, 5, 9))
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        mod = await _actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
        await _ritual(session, clock, mod)
        await rituals.run_now(session, clock, mod, "Office Hours")
        await rituals.set_paused(session, clock, mod, "Office Hours", paused=True)
    clock.advance(timedelta(hours=3).total_seconds())
    assert (await rituals.tick(sessions, clock)).recaps == []
    async with sessions() as session:
        assert await _posts(session, "ritual-recap:") == []


async def test_erasing_a_member_takes_theirs_out_of_a_recap_still_to_go_and_keeps_it_for_others(
    sessions,
):
    clock, discord, post = await _posted_occurrence(sessions)
    community_id = discord.community_id
    async with sessions() as session, session.begin():
        people = {}
        for user_id, name, url in (
            ("998", "Ada Keeps", "https://ada.example/ok"),
            ("999", "Zoë Secret", "https://zoe.example/private-portfolio"),
        ):
            people[name] = await _actor(session, clock, community_id, user_id, name=name)
            await rituals.checkin_by_reply(
                session,
                clock,
                platform="discord",
                parent_id=post.external_id,
                member_id=people[name].member_id,
                text=f"see {url}",
            )
    clock.set(utc(2026, 1, 1, 19, 5))
    assert (await rituals.tick(sessions, clock)).recaps
    async with sessions() as session, session.begin():
        await delete_member(session, clock, member_id=people["Zoë Secret"].member_id)
    async with sessions() as session:
        (recap,) = await _posts(session, "ritual-recap:")
        text = load(recap.payload).body.plain()
    assert recap.status == "pending", "the recap still goes out for everyone else"
    assert "Ada Keeps" in text and "https://ada.example/ok" in text
    assert "Zoë" not in text and "zoe.example" not in text
    assert "Zoë" not in recap.payload and "zoe.example" not in recap.payload


async def test_linking_moves_ritual_data_so_export_and_erasure_of_the_kept_member_cover_it(
    session,
):
    clock = FakeClock(utc(2026, 1, 5, 9))
    discord, slack = await make_spaces(session, clock)
    mod = await _actor(session, clock, discord.community_id, "mod", Role.MODERATOR)
    await _ritual(session, clock, mod)
    await rituals.run_now(session, clock, mod, "Office Hours")
    on_discord = await resolve_member(
        session, clock, space=discord, user_id="42", display_name="Ada"
    )
    on_slack = await resolve_member(session, clock, space=slack, user_id="U42", display_name="Ada")
    slack_actor = await resolve_actor(
        session,
        clock,
        community_id=discord.community_id,
        caller=Caller("slack", "T0001", "U42", "Ada", Role.MEMBER),
    )
    await rituals.set_reminder(session, slack_actor, "Office Hours", on=True)
    await rituals.checkin_current(session, clock, slack_actor)
    issued = await start_link(session, clock, member_id=on_discord.member_id, platform="discord")
    await finish_link(
        session, clock, member_id=on_slack.member_id, platform="slack", code=issued.code
    )
    kept = min(on_discord.member_id, on_slack.member_id)
    exported = await export_member(session, kept)
    assert len(exported["rituals"]["checkins"]) == 1
    assert exported["rituals"]["reminders"] == [{"ritual": "Office Hours", "platform": "slack"}]
    await delete_member(session, clock, member_id=kept)
    for model in (RitualCheckin, RitualReminderOptIn):
        assert await session.scalar(select(func.count()).select_from(model)) == 0


async def test_a_channel_a_moderator_cleared_is_not_put_back_by_bot_toml(session):
    clock = FakeClock(utc(2026, 1, 5, 9))
    discord, _ = await make_spaces(session, clock)
    community_id = discord.community_id
    mod = await _actor(session, clock, community_id, "mod", Role.MODERATOR)
    configured = {"rituals": "500"}
    assert await apply_configured(session, clock, community_id, "discord", configured) == 1
    assert await clear_channel(session, clock, mod, "rituals")
    assert await apply_configured(session, clock, community_id, "discord", configured) == 0
    (rituals_view,) = [
        v for v in await list_channels(session, community_id) if v.purpose == "rituals"
    ]
    assert rituals_view.channels == ()
    await set_channel(session, clock, mod, "rituals", "600")
    (rituals_view,) = [
        v for v in await list_channels(session, community_id) if v.purpose == "rituals"
    ]
    assert rituals_view.channel_on("discord") == "600"
