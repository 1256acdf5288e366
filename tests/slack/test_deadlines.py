"""Slow work never makes Slack's 3 seconds pass: a modal submission is acked in time."""

from __future__ import annotations

import asyncio

import pytest

from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from tests.held_lock import write_lock_held
from tests.slack.conftest import MODERATOR, Served
from tests.slack.test_rituals import MODAL, form, open_create_modal

pytestmark = pytest.mark.e2e

SLACK_DEADLINE = 3.0


async def test_a_modal_submission_waiting_for_the_database_is_acked_before_the_deadline(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, database_url: str
) -> None:
    view_id = await open_create_modal(served, sandbox)
    seen = len(sandbox.calls)
    with write_lock_held(database_url):
        submitted = asyncio.ensure_future(
            served.sender.send_view_submission(MODAL, form(), user_id=MODERATOR, view_id=view_id)
        )
        done, _ = await asyncio.wait({submitted}, timeout=SLACK_DEADLINE)
        assert done, "no ack within Slack's 3 seconds"
    reply = await submitted
    assert reply.status == 200 and reply.body == ""  # the modal closes

    told = await sandbox.wait_for_call("chat.postEphemeral", since=seen)
    assert "Created *Feedback Friday*" in told.args["text"]
