"""The boards on Slack, end to end: `rank` and `leaderboard` answer with an uploaded PNG card
shown in an image block, pages turn with buttons, `privacy leaderboard off` hides a member,
and the Home tab gains the member's standing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack import RecordedCall, SlackSandbox
from bot.services.recognition import cards
from tests.fuzz.observe import slack_pings
from tests.recognition_seed import seed_chat
from tests.slack.conftest import CHANNEL, MEMBER, Served

pytestmark = pytest.mark.e2e

BOB = "U0BOB"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def ranked(served: Served, sandbox: SlackSandbox) -> dict[str, int]:
    """Ada 15 points, Bob 25, ten more from 5 to 50 (this week): Bob #6 (tied), Ada #9 (tied)."""
    sandbox.add_user(BOB, "bob", real_name="Bob Builder")
    people = {MEMBER: ("ada", 3), BOB: ("bob", 5)}
    people.update({f"U0M{n:02d}": (f"member {n}", n) for n in range(1, 11)})
    return await seed_chat(served.runtime, "slack", sandbox.team_id, people)


async def ask(served: Served, sandbox: SlackSandbox, text: str, user: str = MEMBER) -> RecordedCall:
    seen = len(sandbox.calls)
    reply = await served.sender.send_slash_command(
        "/flywheel", text, user_id=user, channel_id=CHANNEL
    )
    assert reply.status == 200
    return await sandbox.wait_for_call("response_url", since=seen)


def image_of(sandbox: SlackSandbox, answer: RecordedCall) -> bytes:
    (image,) = [b for b in answer.args["blocks"] if b["type"] == "image"]
    assert image["alt_text"]
    found = sandbox.files[image["slack_file"]["id"]]
    assert found["content"].startswith(PNG_SIGNATURE)
    return bytes(found["content"])


def buttons(answer: RecordedCall) -> dict[str, str]:
    return {
        element["action_id"]: element["value"]
        for block in answer.args["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


async def test_rank_answers_with_an_uploaded_png_card_pinging_nobody(served, sandbox, ranked):
    answer = await ask(served, sandbox, "rank")

    assert answer.args["response_type"] == "ephemeral"
    assert answer.args["text"] == "*ada* · #9 of 12 · 15 points (Points · all time)"
    image_of(sandbox, answer)
    (completed,) = sandbox.calls_to("files.completeUploadExternal")
    assert not completed.args.get("channel_id")  # the file is shared in no conversation
    assert slack_pings(answer.args, bystanders={BOB}) == []


async def test_rank_of_another_member_in_a_period(served, sandbox, ranked):
    answer = await ask(served, sandbox, f"rank <@{BOB}|bob> week")

    assert answer.args["text"] == "*bob* · #6 of 12 · 25 points (Points · this week)"
    image_of(sandbox, answer)


async def test_leaderboard_pages_with_buttons_and_each_page_has_its_card(served, sandbox, ranked):
    first = await ask(served, sandbox, "leaderboard week")

    assert first.args["text"] == "*Points · this week* · page 1 of 2 (12 ranked)"
    assert buttons(first) == {"lb-page:points:week": "2"}
    first_png = image_of(sandbox, first)

    seen = len(sandbox.calls)
    await served.sender.send_block_action(
        "lb-page:points:week", "2", user_id=MEMBER, channel_id=CHANNEL
    )
    second = await sandbox.wait_for_call("response_url", since=seen)

    assert second.args["replace_original"] is True
    assert second.args["text"] == "*Points · this week* · page 2 of 2 (12 ranked)"
    assert buttons(second) == {"lb-page:points:week_prev": "1"}
    assert image_of(sandbox, second) != first_png


async def test_privacy_leaderboard_off_hides_the_member_but_not_from_themselves(
    served, sandbox, ranked
):
    told = await ask(served, sandbox, "privacy leaderboard off", user=BOB)
    assert "hidden from public leaderboards" in told.args["text"]

    board = await ask(served, sandbox, "leaderboard")
    asked = await ask(served, sandbox, f"rank <@{BOB}>")
    own = await ask(served, sandbox, "rank", user=BOB)

    assert board.args["text"] == "*Points · all time* · page 1 of 2 (11 ranked)"
    assert asked.args["text"] == "bob keeps their rank private."
    assert not [b for b in asked.args["blocks"] if b["type"] == "image"]
    assert own.args["text"].startswith("*bob* · #6 of 11 · 25 points")
    assert "only you see your rank" in own.args["text"]

    await ask(served, sandbox, "privacy leaderboard on", user=BOB)
    shown = await ask(served, sandbox, "leaderboard")
    assert "(12 ranked)" in shown.args["text"]


async def test_a_card_that_cannot_be_drawn_is_answered_as_text(
    served, sandbox, ranked, monkeypatch
):
    def broken(page: Any) -> bytes:
        raise OSError("drawing failed")

    monkeypatch.setattr(cards, "draw_leaderboard_card", broken)
    answer = await ask(served, sandbox, "leaderboard")

    assert "#1 member 10 · 50" in answer.args["text"]
    assert not [b for b in answer.args["blocks"] if b["type"] == "image"]
    assert sandbox.calls_to("files.getUploadURLExternal") == []


async def test_unknown_words_are_refused_naming_what_to_type(served, sandbox, ranked):
    answer = await ask(served, sandbox, "leaderboard karma")

    assert "is not a board, a period or a page" in answer.args["text"]
    assert "/flywheel leaderboard helpers month" in answer.args["text"]


async def test_the_home_tab_shows_this_weeks_rank_beside_the_members_profile(
    served, sandbox, ranked
):
    await served.sender.send_app_home_opened(MEMBER)
    await sandbox.wait_for_call("views.publish")

    texts = json.dumps(sandbox.home_views[MEMBER]["blocks"])
    assert "*Points*\\n15" in texts  # the members feature's section is still there
    assert "*This week*\\n#9 of 12 \\u00b7 15 points" in texts
    assert "*All time*\\n#9 of 12" in texts
    assert "*Top badges*\\nnone yet" in texts


async def test_the_sandbox_refuses_an_image_block_naming_no_uploaded_image(sandbox):
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_base)
    block = {"type": "image", "slack_file": {"id": "F0NOPE"}, "alt_text": "a card"}

    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel=CHANNEL, text="x", blocks=[block])
    assert refused.value.response["error"] == "invalid_blocks"
    both = {**block, "image_url": "https://example.org/a.png"}
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel=CHANNEL, text="x", blocks=[both])


async def answers(sandbox: SlackSandbox, seen: int) -> list[RecordedCall]:
    """Wait for a response_url post Slack took, and return every post since ``seen``."""
    await sandbox.wait_for_call(
        lambda call: call.method == "response_url" and call.response.get("ok") is True, since=seen
    )
    return [call for call in sandbox.calls[seen:] if call.method == "response_url"]


async def test_a_card_slack_refuses_is_answered_again_as_text_with_the_rows(
    served, sandbox, ranked
):
    # Slack scans an upload for a moment; an image block naming it meanwhile is invalid_blocks,
    # and a refused response_url post shows the member nothing at all.
    sandbox.state.processing_uploads = True

    seen = len(sandbox.calls)
    await served.sender.send_slash_command(
        "/flywheel", "leaderboard week", user_id=MEMBER, channel_id=CHANNEL
    )
    refused, shown = await answers(sandbox, seen)

    assert refused.response == {"ok": False, "error": "invalid_blocks"}
    assert "#1 member 10 · 50" in shown.args["text"]
    assert not [b for b in shown.args["blocks"] if b["type"] == "image"]
    assert buttons(shown) == {"lb-page:points:week": "2"}

    seen = len(sandbox.calls)
    await served.sender.send_block_action(
        "lb-page:points:week", "2", user_id=MEMBER, channel_id=CHANNEL
    )
    refused, shown = await answers(sandbox, seen)
    assert refused.response["ok"] is False and shown.args["replace_original"] is True
    assert "page 2 of 2" in shown.args["text"] and "#" in shown.args["text"].split("\n")[1]

    seen = len(sandbox.calls)
    await served.sender.send_slash_command("/flywheel", "rank", user_id=MEMBER, channel_id=CHANNEL)
    refused, shown = await answers(sandbox, seen)
    assert refused.response["ok"] is False
    assert shown.args["text"] == "*ada* · #9 of 12 · 15 points (Points · all time)"


async def test_a_card_whose_upload_fails_is_answered_as_text(served, sandbox, ranked):
    sandbox.fail_uploads(status=503)  # files.slack.com is down; the Web API is not

    answer = await ask(served, sandbox, "leaderboard")

    assert "#1 member 10 · 50" in answer.args["text"]
    assert not [b for b in answer.args["blocks"] if b["type"] == "image"]
    assert sandbox.calls_to("upload_url")[0].status == 503
