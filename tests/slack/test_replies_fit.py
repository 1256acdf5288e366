"""Every Slack reply fits Block Kit's limits: a section over 3,000 characters is cut.

The sandbox refuses what Slack refuses (``invalid_blocks``, ``msg_too_long``), so a reply
that does not fit shows up here as a refused response_url post: the member saw nothing.
"""

from __future__ import annotations

import pytest

from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from tests.slack.conftest import CHANNEL, MEMBER, MODERATOR, Served

pytestmark = pytest.mark.e2e

HOSTS = 45


async def test_a_ritual_with_many_long_named_hosts_is_listed_within_block_kit_limits(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    async with runtime.sessions() as session, session.begin():
        moderator = await resolve_actor(
            session,
            runtime.clock,
            community_id=runtime.community_id,
            caller=Caller("slack", sandbox.team_id, MODERATOR, "mo", Role.MODERATOR),
        )
        spec = rituals.RitualSpec(
            name="Office Hours",
            schedule="weekly fri 12:00",
            timezone="Europe/Berlin",
            prompt="Ask anything",
            channel_id=CHANNEL,
        )
        await rituals.create_ritual(session, runtime.clock, moderator, spec)
        for index in range(HOSTS):
            host = await resolve_actor(
                session,
                runtime.clock,
                community_id=runtime.community_id,
                caller=Caller(
                    "slack",
                    sandbox.team_id,
                    f"UHOST{index:03d}",
                    f"Host {index:02d} " + "n" * 70,
                    Role.MEMBER,
                ),
            )
            await rituals.add_host(session, runtime.clock, moderator, spec.name, host.member_id)
    seen = len(sandbox.calls)

    reply = await served.sender.send_slash_command(
        "/flywheel", "ritual list", user_id=MEMBER, channel_id=CHANNEL
    )

    assert reply.status == 200
    answer = await sandbox.wait_for_call("response_url", since=seen)
    assert answer.ok, answer.response
    sections = [b["text"]["text"] for b in answer.args["blocks"] if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    (office_hours,) = [text for text in sections if "Office Hours" in text]
    assert "Host 00" in office_hours and office_hours.endswith("…")
