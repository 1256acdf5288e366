"""/flywheel channel on Slack: moderators say where each purpose posts; members cannot."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import DestinationChannel
from bot.runtime import Runtime
from bot.sandbox.slack import RecordedCall, SlackSandbox
from tests.slack.conftest import CHANNEL, MEMBER, MODERATOR, Served


async def ask(served: Served, sandbox: SlackSandbox, text: str, user_id: str) -> RecordedCall:
    seen = len(sandbox.calls)
    reply = await served.sender.send_slash_command(
        "/flywheel", text, user_id=user_id, channel_id=CHANNEL
    )
    assert reply.status == 200
    answer = await sandbox.wait_for_call("response_url", since=seen)
    assert answer.args["response_type"] == "ephemeral"
    return answer


async def _channels(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(DestinationChannel.platform, DestinationChannel.channel_id)
        )
        return [tuple(row) for row in rows]


async def test_set_defaults_to_this_channel_and_a_picked_channel_wins(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    here = await ask(served, sandbox, "channel set showcase", MODERATOR)
    assert here.args["text"] == f"*showcase* posts now go to <#{CHANNEL}>."
    picked = await ask(served, sandbox, "channel set showcase <#C0PICKED|picked>", MODERATOR)
    assert picked.args["text"] == "*showcase* posts now go to <#C0PICKED>."
    assert await _channels(runtime) == [("slack", "C0PICKED")]
    listed = await ask(served, sandbox, "channel list", MEMBER)
    assert "*showcase*: <#C0PICKED>" in listed.args["text"]


async def test_bad_input_is_answered_clearly_and_changes_nothing(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    unknown = await ask(served, sandbox, "channel set billboard", MODERATOR)
    assert (
        "'billboard' is not a purpose; the purposes are rituals, ugc-review"
        in (unknown.args["text"])
    )
    typed = await ask(served, sandbox, "channel set showcase general", MODERATOR)
    assert "Pick the channel from the # menu" in typed.args["text"]
    member = await ask(served, sandbox, "channel set showcase", MEMBER)
    assert "moderators" in member.args["text"]
    assert await _channels(runtime) == []


async def test_set_in_a_dm_is_refused(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    seen = len(sandbox.calls)
    reply = await served.sender.send_slash_command(
        "/flywheel", "channel set rituals", user_id=MODERATOR, channel_id="D0MODDM"
    )
    assert reply.status == 200
    answer = await sandbox.wait_for_call("response_url", since=seen)
    assert "Run this in a channel (not a DM)" in answer.args["text"]
    assert await _channels(runtime) == []
