"""Slow work never makes Discord's 3 seconds pass: the bot acknowledges before it waits."""

from __future__ import annotations

import pytest

from tests.discord.conftest import ALICE_ID, CALLBACK_DEFERRED, GENERAL_ID, GUILD_ID, answer_of
from tests.held_lock import write_lock_held

pytestmark = pytest.mark.e2e


async def test_a_command_waiting_for_the_database_is_acknowledged_before_the_deadline(
    bot, sandbox, database_url
):
    # A short deadline: a callback after it is refused (10062), as Discord refuses it.
    sandbox.interaction_response_deadline = 1.0
    with write_lock_held(database_url):
        interaction = await sandbox.send_slash_command(
            "ritual",
            guild_id=GUILD_ID,
            channel_id=GENERAL_ID,
            user_id=ALICE_ID,
            options=[{"type": 1, "name": "list", "options": []}],
        )
        acknowledged = await sandbox.wait_for_call(
            lambda call: call.path == interaction.callback_path
        )
        assert acknowledged.status < 300
        assert acknowledged.json["type"] == CALLBACK_DEFERRED
        assert acknowledged.json["data"]["flags"] & 64  # the answer will be private

    answer = await answer_of(sandbox, interaction)

    assert answer["content"].startswith("No rituals yet.")
