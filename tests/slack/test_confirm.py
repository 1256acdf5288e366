"""The Slack confirm prompt, through the two commands that use it: it answers the asker once,
nobody else, and not after it expired."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.errors import Invalid
from bot.models import Identity, Member, Ritual
from bot.runtime import Runtime
from bot.sandbox.slack import RecordedCall, SlackSandbox
from bot.slack.confirm import CONFIRM_SECONDS, WRONG_USER
from bot.slack.front import field_errors
from bot.slack.members import CANCEL_DELETE as KEEP_DATA
from bot.slack.members import CONFIRM_DELETE as ERASE
from bot.slack.rituals import CANCEL_DELETE, CONFIRM_DELETE
from bot.slack.rituals.modal import FIELDS
from tests.log_waiter import LogWaiter
from tests.slack.conftest import CHANNEL, MEMBER, MODERATOR, Served, prompt_buttons
from tests.slack.test_rituals import ask, create_from_template

pytestmark = pytest.mark.e2e


@pytest.fixture
def confirm_log(log_waiter: Callable[[str], LogWaiter]) -> LogWaiter:
    return log_waiter("bot.slack.confirm")


async def click(
    served: Served, sandbox: SlackSandbox, action_id: str, value: str, user_id: str
) -> RecordedCall:
    seen = len(sandbox.calls)
    await served.sender.send_block_action(action_id, value, user_id=user_id, channel_id=CHANNEL)
    return await sandbox.wait_for_call("response_url", since=seen)


async def rituals_left(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Ritual)) or 0)


async def test_only_the_asker_can_answer_and_the_answer_replaces_the_prompt(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    await create_from_template(served, sandbox)
    prompt = prompt_buttons(await ask(served, sandbox, "ritual delete Feedback Friday", MODERATOR))

    other = await click(served, sandbox, CANCEL_DELETE, prompt[CANCEL_DELETE], MEMBER)
    kept = await click(served, sandbox, CANCEL_DELETE, prompt[CANCEL_DELETE], MODERATOR)

    assert (other.args["text"], other.args["replace_original"]) == (WRONG_USER, False)
    assert (kept.args["text"], kept.args["replace_original"]) == ("Nothing was deleted.", True)
    assert not kept.args.get("blocks")  # the buttons are gone
    assert await rituals_left(runtime) == 1


async def test_a_second_click_on_an_answered_prompt_does_nothing(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, confirm_log: LogWaiter
) -> None:
    await command_link(served, sandbox)
    prompt = prompt_buttons(await ask(served, sandbox, "privacy delete"))
    done = await click(served, sandbox, ERASE, prompt[ERASE], MEMBER)
    assert done.args["text"].startswith("Done: your personal data has been erased.")
    seen = len(sandbox.calls)

    # A double click (or a stale copy of the prompt): neither erases a fresh member again.
    await served.sender.send_block_action(ERASE, prompt[ERASE], user_id=MEMBER, channel_id=CHANNEL)
    await confirm_log.wait_for("answered twice")

    assert [call.method for call in sandbox.calls[seen:] if call.method == "response_url"] == []
    async with runtime.sessions() as session:
        members = await session.scalar(select(func.count()).select_from(Member))
        identities = await session.scalar(
            select(func.count()).select_from(Identity).where(Identity.user_id == MEMBER)
        )
    assert (members, identities) == (1, 0)


async def command_link(served: Served, sandbox: SlackSandbox) -> None:
    await ask(served, sandbox, "link")  # the member exists from their first command on


async def test_an_expired_prompt_says_so_and_loses_its_buttons(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, clock: FakeClock
) -> None:
    await create_from_template(served, sandbox)
    prompt = prompt_buttons(await ask(served, sandbox, "ritual delete Feedback Friday", MODERATOR))
    clock.advance(CONFIRM_SECONDS + 1)

    late = await click(served, sandbox, CONFIRM_DELETE, prompt[CONFIRM_DELETE], MODERATOR)

    assert late.args["text"] == "This request expired; nothing was deleted."
    assert late.args["replace_original"] is True and not late.args.get("blocks")
    assert await rituals_left(runtime) == 1


async def test_a_button_that_is_not_one_of_our_prompts_is_refused_politely(
    served: Served, sandbox: SlackSandbox
) -> None:
    await command_link(served, sandbox)

    answer = await click(served, sandbox, KEEP_DATA, json.dumps({"u": MEMBER}), MEMBER)

    assert answer.args["text"].startswith("That button does not belong to a question I asked")


def test_a_refusal_about_a_field_the_modal_lacks_is_not_shown_under_any_field() -> None:
    assert field_errors(Invalid("Nope.", field="schedule"), FIELDS) == {"schedule": "Nope."}
    assert field_errors(Invalid("Nope.", field="checkin_points"), FIELDS) is None
    assert field_errors(Invalid("Nope."), FIELDS) is None
    assert field_errors(RuntimeError("boom"), FIELDS) is None
