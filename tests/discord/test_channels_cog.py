"""/channel on Discord: moderators say where each purpose posts; members cannot."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import DestinationChannel
from tests.discord.conftest import ALICE_ID, GENERAL_ID, MODERATOR_ID


def _set(purpose: str) -> list[dict]:
    return [
        {
            "type": 1,
            "name": "set",
            "options": [
                {"type": 3, "name": "purpose", "value": purpose},
                {"type": 7, "name": "channel", "value": str(GENERAL_ID)},
            ],
        }
    ]


async def _channels(runtime):
    async with runtime.sessions() as session:
        return (
            await session.execute(
                select(DestinationChannel.platform, DestinationChannel.channel_id)
            )
        ).all()


async def test_a_moderator_sets_lists_and_clears_a_purposes_channel(bot, runtime, slash):
    answer = await slash("channel", user_id=MODERATOR_ID, options=_set("announcements"))
    assert answer.json["data"]["flags"] == 64
    assert f"**announcements** posts now go to <#{GENERAL_ID}>" in answer.json["data"]["content"]
    assert await _channels(runtime) == [("discord", str(GENERAL_ID))]

    listed = await slash("channel", user_id=ALICE_ID, options=[{"type": 1, "name": "list"}])
    content = listed.json["data"]["content"]
    assert f"**announcements**: <#{GENERAL_ID}>" in content and "**rituals**: not set" in content

    clear = [
        {
            "type": 1,
            "name": "clear",
            "options": [{"type": 3, "name": "purpose", "value": "announcements"}],
        }
    ]
    cleared = await slash("channel", user_id=MODERATOR_ID, options=clear)
    assert "posts are off" in cleared.json["data"]["content"]
    # Kept as "cleared on purpose", so bot.toml does not put it back at the next start.
    assert await _channels(runtime) == [("discord", "")]


async def test_a_member_cannot_set_a_channel_and_nothing_changes(bot, runtime, slash):
    answer = await slash("channel", user_id=ALICE_ID, options=_set("rituals"))
    assert answer.json["data"]["content"] == "Only moderators can do that."
    assert await _channels(runtime) == []
