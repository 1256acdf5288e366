"""Access on Discord, end to end: role changes the sandbox refuses as Discord does, the owner
told once with the fix, the grant going through by itself once fixed, and rejoining."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.discord.sender import DiscordSender
from bot.ids import new_uid
from bot.messages import RoleChange
from bot.models import EventRecord, OutboxMessage, PaidAccess
from bot.outbox import send
from bot.outbox.access import BLOCKED_RETRY_MAX
from bot.runtime import Runtime
from bot.sandbox.discord import DiscordSandbox
from bot.services.access import access_state
from bot.services.access.state import Outcome
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.privacy import delete_member
from bot.settings import Settings, load_settings
from tests.discord.conftest import (
    ALICE_ID,
    CONFIGURED_OWNER_ID,
    GUILD_ID,
    MODERATOR_ROLE_ID,
)
from tests.log_waiter import LogWaiter

PAID_ROLE_ID = 910_000_000_000_000_300
STRANGER_ID = 910_000_000_000_000_301
ROBOT_ID = 910_000_000_000_000_302
ROLE_PATH = f"/guilds/{GUILD_ID}/members/{ALICE_ID}/roles/{PAID_ROLE_ID}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with [discord.access] paid = the sandbox's "Paid member" role."""
    config = tmp_path / "bot.toml"
    config.write_text(
        '[community]\nname = "Acme"\n\n[discord]\n'
        f"guild_ids = [{GUILD_ID}]\nowner_user_ids = [{CONFIGURED_OWNER_ID}]\n"
        f"moderator_role_ids = [{MODERATOR_ROLE_ID}]\n\n"
        f"[discord.access]\npaid = {PAID_ROLE_ID}\n\n"
        f"[media]\ndir = {str(tmp_path / 'media')!r}\n",
        encoding="utf-8",
    )
    return load_settings(
        config, environ={"FLYWHEEL_DATABASE_URL": database_url, "DISCORD_TOKEN": "sandbox-token"}
    )


@pytest.fixture
def joins(log_waiter: Callable[[str], LogWaiter]) -> LogWaiter:
    """Collect what the front end logs about joins (the listener answers nobody)."""
    return log_waiter("cogs.members")


@pytest.fixture
async def outbox(runtime: Runtime, sandbox: DiscordSandbox):
    """The outbox sending to the sandbox, with the configured access roles."""
    sandbox.add_role(GUILD_ID, PAID_ROLE_ID, "Paid member")
    sender = DiscordSender(
        "sandbox-token",
        api_base=sandbox.api_base,
        limiter=runtime.dispatcher.limiter,
        access=runtime.settings.discord.access,
    )
    runtime.dispatcher.register(sender)
    yield runtime.dispatcher
    await sender.close()


async def _member(runtime: Runtime, user_id: int, name: str) -> int:
    caller = Caller("discord", str(GUILD_ID), str(user_id), name, Role.MEMBER)
    async with runtime.sessions() as session, session.begin():
        actor = await resolve_actor(
            session, runtime.clock, community_id=runtime.community_id, caller=caller
        )
    return actor.member_id


async def _change(runtime: Runtime, member_id: int, *, grant: bool, key: str) -> None:
    async with runtime.sessions() as session, session.begin():
        await send(
            session,
            runtime.clock,
            RoleChange(member_id=member_id, access="paid", grant=grant, reason="test"),
            key=key,
            community_id=runtime.community_id,
        )


async def _settle(runtime: Runtime) -> None:
    """Send what is due, hand the events to subscribers, and send what they queued."""
    await runtime.dispatcher.dispatch_due()
    await runtime.bus.process_pending()
    await runtime.dispatcher.dispatch_due()


async def _role_rows(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.action == "role").order_by(OutboxMessage.id)
        )
        return list(rows.all())


async def _blocked_events(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(EventRecord.name == "access.blocked")
        )
    return int(count or 0)


def _owner_dms(sandbox: DiscordSandbox) -> list[str]:
    return [m["content"] for m in sandbox.messages[sandbox.open_dm(CONFIGURED_OWNER_ID)]]


async def test_a_grant_blocked_by_the_role_order_waits_tells_the_owner_once_and_goes_through_once_fixed(
    runtime, sandbox, outbox, clock
):
    await sandbox.place_above_bot(GUILD_ID, PAID_ROLE_ID)
    alice = await _member(runtime, ALICE_ID, "alice")
    await _change(runtime, alice, grant=True, key="test-paid:1")

    await _settle(runtime)

    (row,) = await _role_rows(runtime)
    reason = (
        "Flywheel's role 'Flywheel' is below 'Paid member' in Server Settings → Roles: "
        "drag 'Flywheel' above it"
    )
    assert (row.status, row.last_error, row.attempts) == ("pending", reason, 0)
    assert row.not_before == clock.now() + timedelta(minutes=1)
    assert PAID_ROLE_ID not in sandbox.member_roles(GUILD_ID, ALICE_ID)
    (dm,) = _owner_dms(sandbox)
    assert "Flywheel could not give alice the access **paid** on Discord" in dm
    assert reason in dm and "keeps trying" in dm
    async with runtime.sessions() as session:
        (state,) = await access_state(session, alice)
    assert (state.access, state.platform, state.grant) == ("paid", "discord", True)
    assert (state.outcome, state.reason, state.space) == (Outcome.BLOCKED, reason, str(GUILD_ID))

    for minutes in (1, 1, 2, 4):  # still blocked: retried more slowly, never dead, told once
        clock.advance(minutes * 60)
        await _settle(runtime)
    (row,) = await _role_rows(runtime)
    assert row.status == "pending" and row.not_before == clock.now() + timedelta(minutes=8)
    assert await _blocked_events(runtime) == 1
    assert len(_owner_dms(sandbox)) == 1

    await sandbox.move_role(GUILD_ID, PAID_ROLE_ID, 1)
    clock.advance(BLOCKED_RETRY_MAX.total_seconds())
    await _settle(runtime)

    assert PAID_ROLE_ID in sandbox.member_roles(GUILD_ID, ALICE_ID)
    (row,) = await _role_rows(runtime)
    assert (row.status, row.last_error, row.blocked_at) == ("sent", None, None)
    async with runtime.sessions() as session:
        (state,) = await access_state(session, alice)
    assert (state.outcome, state.reason) == (Outcome.APPLIED, None)


async def test_a_bot_without_manage_roles_is_told_to_get_it(runtime, sandbox, outbox):
    await sandbox.take_manage_roles(GUILD_ID)
    alice = await _member(runtime, ALICE_ID, "alice")
    await _change(runtime, alice, grant=True, key="test-paid:1")

    await _settle(runtime)

    (row,) = await _role_rows(runtime)
    assert row.status == "pending"
    assert row.last_error == (
        "Flywheel lacks Manage Roles: give its role 'Flywheel' that permission in "
        "Server Settings → Roles"
    )
    (refused,) = sandbox.calls_matching("PUT", ROLE_PATH)
    assert refused.status == 403
    assert "lacks Manage Roles" in _owner_dms(sandbox)[0]


async def test_a_deleted_role_is_named_with_the_setting_to_change(runtime, sandbox, outbox):
    await sandbox.delete_role(GUILD_ID, PAID_ROLE_ID)
    alice = await _member(runtime, ALICE_ID, "alice")
    await _change(runtime, alice, grant=True, key="test-paid:1")

    # drain() stops at a blocked row instead of sleeping through its retries.
    assert await runtime.dispatcher.drain() == 0
    await runtime.bus.process_pending()
    assert await runtime.dispatcher.drain() == 1  # the owner's DM

    (row,) = await _role_rows(runtime)
    assert row.status == "pending"
    assert row.last_error == (
        f"the role {PAID_ROLE_ID} for access 'paid' was deleted: set [discord.access] paid "
        "to an existing role in bot.toml and restart Flywheel"
    )
    assert len(_owner_dms(sandbox)) == 1


async def test_a_block_for_a_new_reason_tells_the_owner_again(runtime, sandbox, outbox, clock):
    await sandbox.place_above_bot(GUILD_ID, PAID_ROLE_ID)
    alice = await _member(runtime, ALICE_ID, "alice")
    await _change(runtime, alice, grant=True, key="test-paid:1")
    await _settle(runtime)

    await sandbox.move_role(GUILD_ID, PAID_ROLE_ID, 1)  # the owner fixed the order ...
    await sandbox.take_manage_roles(GUILD_ID)  # ... and took Manage Roles away
    clock.advance(60)
    await _settle(runtime)

    assert await _blocked_events(runtime) == 2
    first, second = _owner_dms(sandbox)
    assert "is below 'Paid member'" in first and "lacks Manage Roles" in second
    (row,) = await _role_rows(runtime)
    assert row.blocked_at == clock.now() and row.not_before == clock.now() + timedelta(minutes=1)


async def test_a_member_who_left_has_nothing_to_revoke_and_cannot_be_granted(
    runtime, sandbox, outbox
):
    alice = await _member(runtime, ALICE_ID, "alice")
    await sandbox.send_member_remove(GUILD_ID, ALICE_ID)
    await _change(runtime, alice, grant=False, key="test-paid:revoke")
    await _settle(runtime)
    await _change(runtime, alice, grant=True, key="test-paid:grant")
    await _settle(runtime)

    revoke, grant = await _role_rows(runtime)
    assert revoke.status == "sent"  # their roles left with them
    assert grant.status == "dead" and "the member has left the server" in (grant.last_error or "")
    assert _owner_dms(sandbox) == []  # nothing an owner can fix: a rejoin re-grants
    async with runtime.sessions() as session:
        (state,) = await access_state(session, alice)  # the latest change: the grant
    assert (state.grant, state.outcome) == (True, Outcome.FAILED)
    assert state.reason is not None and "left the server" in state.reason


async def test_a_revoke_queued_while_the_grant_is_blocked_wins_whichever_retries_first(
    runtime, sandbox, outbox, clock
):
    await sandbox.place_above_bot(GUILD_ID, PAID_ROLE_ID)
    alice = await _member(runtime, ALICE_ID, "alice")
    await _change(runtime, alice, grant=True, key="test-paid:grant")
    await _settle(runtime)
    await _change(runtime, alice, grant=False, key="test-paid:revoke")
    await _settle(runtime)  # the revoke is blocked too (for the same reason: no new DM)

    await sandbox.move_role(GUILD_ID, PAID_ROLE_ID, 1)
    clock.advance(BLOCKED_RETRY_MAX.total_seconds())
    await _settle(runtime)

    assert PAID_ROLE_ID not in sandbox.member_roles(GUILD_ID, ALICE_ID)
    assert sandbox.calls_matching("PUT", ROLE_PATH)[-1].status == 403
    (row,) = await _role_rows(runtime)  # the grant was superseded and dropped
    assert (row.key.split(":")[1], row.status) == ("revoke", "sent")
    assert len(_owner_dms(sandbox)) == 1


async def test_a_known_member_rejoining_publishes_member_joined_and_a_stranger_does_not(
    runtime, sandbox, bot, joins
):
    alice = await _member(runtime, ALICE_ID, "alice")
    await sandbox.send_member_remove(GUILD_ID, ALICE_ID)
    assert ALICE_ID not in sandbox.state.guild(GUILD_ID).members

    await sandbox.send_member_add(GUILD_ID, STRANGER_ID, "stranger")
    await sandbox.send_member_add(GUILD_ID, ROBOT_ID, "a-bot", bot=True)
    await sandbox.send_member_add(GUILD_ID, ALICE_ID, "alice")
    await joins.wait_for(f"user {ALICE_ID} joined guild {GUILD_ID}: member {alice}")
    await joins.wait_for(f"user {STRANGER_ID} joined guild {GUILD_ID}: not a known member")

    async with runtime.sessions() as session:
        events = (
            await session.scalars(select(EventRecord).where(EventRecord.name == "member.joined"))
        ).all()
    payloads = [dict(event.payload) for event in events]
    assert [len(payload.pop("join_uid")) for payload in payloads] == [16]
    assert payloads == [
        {
            "community_id": runtime.community_id,
            "member_id": alice,
            "platform": "discord",
            "space": str(GUILD_ID),
            "user_id": str(ALICE_ID),
        }
    ]
    assert not any(str(ROBOT_ID) in line for line in joins.messages)


async def test_erasing_a_paying_member_takes_their_paid_role_away_on_discord(
    runtime, sandbox, outbox, clock
):
    alice = await _member(runtime, ALICE_ID, "alice")
    async with runtime.sessions() as session, session.begin():
        # What payments' refresh records beside the grant it queues.
        session.add(
            PaidAccess(
                uid=new_uid(),
                community_id=runtime.community_id,
                member_id=alice,
                offer_slug="pro",
                access="paid",
                granted=True,
                reason="order cs_1 is paid",
                changes=1,
                changed_at=clock.now(),
            )
        )
    await _change(runtime, alice, grant=True, key="paid-access:granted:1")
    await _settle(runtime)
    assert PAID_ROLE_ID in sandbox.member_roles(GUILD_ID, ALICE_ID)

    async with runtime.sessions() as session, session.begin():
        await delete_member(session, clock, member_id=alice)
    await _settle(runtime)

    assert PAID_ROLE_ID not in sandbox.member_roles(GUILD_ID, ALICE_ID)
    assert sandbox.calls_matching("DELETE", ROLE_PATH)[-1].status == 204
