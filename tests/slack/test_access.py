"""Access on Slack, end to end: user groups and private channels the sandbox refuses as Slack
does, the owner told with the fix, the change going through once fixed, and team_join."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select

from bot.messages import RoleChange
from bot.models import EventRecord, OutboxMessage
from bot.outbox import send
from bot.outbox.access import BLOCKED_RETRY_MAX
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from bot.services.access import access_state
from bot.services.access.state import Outcome
from bot.services.callers import Caller, Role, resolve_actor
from bot.slack.app import SlackPlatform
from bot.slack.sender import SlackSender
from bot.web.app import create_app, start_site
from tests.log_waiter import LogWaiter
from tests.slack.conftest import MEMBER, Served

OWNER = "U0OWNER"
STRANGER = "U0NEW"
GROUP = "S0CHAMPS"
PRIVATE = "G0INNER"
ACCESS = {"champs": GROUP, "inner": PRIVATE, "gone": "G0GONE"}


@pytest.fixture
def extra_config(sandbox: SlackSandbox) -> tuple[str, dict[str, str]]:
    """An owner and [slack.access]."""
    sandbox.add_user(OWNER, "olga", real_name="Olga Owner")
    sandbox.add_usergroup(GROUP, "champions", users=[OWNER])
    sandbox.add_channel(PRIVATE, "inner-circle", is_private=True, bot_is_member=False)
    access = "".join(f'{key} = "{value}"\n' for key, value in ACCESS.items())
    return f'owner_user_ids = ["{OWNER}"]\n[slack.access]\n{access}', {}


@pytest.fixture
def runtime(runtime: Runtime, sandbox: SlackSandbox) -> Runtime:
    """The conftest's runtime, its outbox sending to the sandbox."""
    sender = SlackSender(sandbox.bot_token, api_base=sandbox.api_base, access=ACCESS)
    runtime.dispatcher.register(sender)
    return runtime


@pytest.fixture
async def served(runtime: Runtime, sandbox: SlackSandbox) -> AsyncIterator[Served]:
    """Serve the Slack app at /slack/events on port 0 (this module's runtime)."""
    platform = SlackPlatform(runtime, api_base=sandbox.api_base)
    web_app = create_app(runtime)
    assert platform.mount(web_app)
    runner, port = await start_site(web_app, "127.0.0.1", 0)
    yield Served(runtime, platform, sandbox.sender(f"http://127.0.0.1:{port}/slack/events"))
    await runner.cleanup()


@pytest.fixture
def joins(log_waiter: Callable[[str], LogWaiter]) -> LogWaiter:
    """Collect what the front end logs about joins (the listener answers nobody)."""
    return log_waiter("bot.slack.members")


async def _member(runtime: Runtime, sandbox: SlackSandbox, user_id: str) -> int:
    caller = Caller("slack", sandbox.team_id, user_id, "ada", Role.MEMBER)
    async with runtime.sessions() as session, session.begin():
        actor = await resolve_actor(
            session, runtime.clock, community_id=runtime.community_id, caller=caller
        )
    return actor.member_id


async def _change(runtime: Runtime, member_id: int, access: str, *, grant: bool = True) -> None:
    async with runtime.sessions() as session, session.begin():
        await send(
            session,
            runtime.clock,
            RoleChange(member_id=member_id, access=access, grant=grant),
            key=f"test-{access}:{'grant' if grant else 'revoke'}",
            community_id=runtime.community_id,
        )


async def _settle(runtime: Runtime) -> None:
    await runtime.dispatcher.dispatch_due()
    await runtime.bus.process_pending()
    await runtime.dispatcher.dispatch_due()


async def _row(runtime: Runtime) -> OutboxMessage:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.action == "role"))
        (row,) = rows.all()
    return row


def _owner_dms(sandbox: SlackSandbox) -> list[str]:
    return [m["text"] for m in sandbox.messages_in(sandbox.dm_channel_id(OWNER))]


async def test_a_missing_usergroups_scope_waits_tells_the_owner_and_goes_through_once_added(
    runtime, sandbox, clock
):
    full = sandbox.scopes
    sandbox.scopes = ",".join(s for s in full.split(",") if s != "usergroups:write")
    ada = await _member(runtime, sandbox, MEMBER)
    await _change(runtime, ada, "champs")

    await _settle(runtime)

    row = await _row(runtime)
    reason = (
        "Slack refused: the app lacks the usergroups:write scope: add it in the app's OAuth "
        "settings (or update the app from `flywheel commands slack`) and reinstall it"
    )
    assert (row.status, row.last_error) == ("pending", reason)
    (dm,) = _owner_dms(sandbox)
    assert "Flywheel could not give ada the access *champs* on Slack" in dm
    assert "usergroups:write" in dm and "keeps trying" in dm
    clock.advance(60)
    await _settle(runtime)
    assert len(_owner_dms(sandbox)) == 1

    sandbox.scopes = full
    clock.advance(BLOCKED_RETRY_MAX.total_seconds())
    await _settle(runtime)

    assert sandbox.usergroups[GROUP]["users"] == [OWNER, MEMBER]
    async with runtime.sessions() as session:
        (state,) = await access_state(session, ada)
    assert (state.access, state.platform, state.outcome) == ("champs", "slack", Outcome.APPLIED)


async def test_a_free_workspace_is_told_user_groups_need_a_paid_plan(runtime, sandbox):
    sandbox.state.paid_plan = False
    ada = await _member(runtime, sandbox, MEMBER)
    await _change(runtime, ada, "champs")

    await _settle(runtime)

    row = await _row(runtime)
    assert row.status == "pending"
    assert row.last_error == (
        f"Slack user groups such as {GROUP} need a paid Slack plan: set [slack.access] champs "
        "to a private channel (G…) instead, or upgrade the workspace"
    )
    assert sandbox.calls_to("usergroups.users.list")[-1].response["error"] == "paid_teams_only"


async def test_the_bot_outside_the_private_channel_is_told_to_invite_itself_then_adds_the_member(
    runtime, sandbox, clock
):
    ada = await _member(runtime, sandbox, MEMBER)
    await _change(runtime, ada, "inner")

    await _settle(runtime)

    row = await _row(runtime)
    reason = f"flywheel is not in private channel {PRIVATE}: invite it (/invite @flywheel)"
    assert (row.status, row.last_error) == ("pending", reason)
    assert reason in _owner_dms(sandbox)[0]
    async with runtime.sessions() as session:
        (state,) = await access_state(session, ada)
    assert (state.outcome, state.reason) == (Outcome.BLOCKED, reason)

    sandbox.state.set_bot_membership(PRIVATE, member=True)
    clock.advance(BLOCKED_RETRY_MAX.total_seconds())
    await _settle(runtime)

    assert MEMBER in sandbox.members_of(PRIVATE)
    assert (await _row(runtime)).status == "sent"


async def test_a_revoke_from_a_channel_the_bot_left_waits_but_one_the_member_left_is_done(
    runtime, sandbox, clock
):
    sandbox.state.members[PRIVATE].append(MEMBER)
    ada = await _member(runtime, sandbox, MEMBER)
    await _change(runtime, ada, "inner", grant=False)

    await _settle(runtime)

    row = await _row(runtime)
    assert row.status == "pending" and "is not in private channel" in (row.last_error or "")
    assert MEMBER in sandbox.members_of(PRIVATE)

    sandbox.state.set_bot_membership(PRIVATE, member=True)
    sandbox.state.members[PRIVATE].remove(MEMBER)  # they left by themselves meanwhile
    clock.advance(BLOCKED_RETRY_MAX.total_seconds())
    await _settle(runtime)

    assert (await _row(runtime)).status == "sent"


async def test_an_unknown_channel_is_named_with_the_setting_to_change(runtime, sandbox):
    ada = await _member(runtime, sandbox, MEMBER)
    await _change(runtime, ada, "gone")

    await _settle(runtime)

    row = await _row(runtime)
    assert row.status == "pending"
    assert row.last_error is not None
    assert row.last_error.startswith("Slack cannot find channel G0GONE for access 'gone'")
    assert "set [slack.access] gone to another channel" in row.last_error


async def test_team_join_of_a_known_member_publishes_member_joined(runtime, sandbox, served, joins):
    ada = await _member(runtime, sandbox, MEMBER)
    sandbox.add_user(STRANGER, "newbie")

    for user in (STRANGER, MEMBER):
        answer = await served.sender.send_event(
            {"type": "team_join", "user": {**sandbox.users[user], "team_id": sandbox.team_id}}
        )
        assert answer.status == 200
    await joins.wait_for(f"user {STRANGER} joined workspace {sandbox.team_id}: not a known member")
    await joins.wait_for(f"user {MEMBER} joined workspace {sandbox.team_id}: member {ada}")

    async with runtime.sessions() as session:
        events = (
            await session.scalars(select(EventRecord).where(EventRecord.name == "member.joined"))
        ).all()
    payloads = [dict(event.payload) for event in events]
    assert [len(payload.pop("join_uid")) for payload in payloads] == [16]
    assert payloads == [
        {
            "community_id": runtime.community_id,
            "member_id": ada,
            "platform": "slack",
            "space": sandbox.team_id,
            "user_id": MEMBER,
        }
    ]
