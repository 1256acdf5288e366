"""Members' files in modals (file_input) and radio buttons, through slack-bolt and slack-sdk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack import SlackEventSender, SlackSandbox

pytestmark = pytest.mark.e2e

MEMBER = "U0ADA"
CHANNEL = "C0GENERAL"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _option(value: str) -> dict[str, Any]:
    return {"text": _text(value.title()), "value": value}


def entry_modal(*, max_files: Any = 3, options: int = 2) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "entry",
        "title": _text("Submit an entry"),
        "submit": _text("Send"),
        "blocks": [
            {
                "type": "input",
                "block_id": "files",
                "label": _text("Files"),
                "element": {
                    "type": "file_input",
                    "action_id": "upload",
                    "filetypes": ["png", "jpg"],
                    "max_files": max_files,
                },
            },
            {
                "type": "input",
                "block_id": "kind",
                "label": _text("Kind"),
                "element": {
                    "type": "radio_buttons",
                    "action_id": "choice",
                    "options": [_option(f"kind{n}") for n in range(options)],
                },
            },
        ],
    }


@dataclass
class Bot:
    client: AsyncWebClient
    sender: SlackEventSender
    submissions: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    sandbox = SlackSandbox()
    sandbox.add_user(MEMBER, "ada")
    sandbox.add_channel(CHANNEL, "general")
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def bot(sandbox: SlackSandbox) -> AsyncIterator[Bot]:
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_base)
    app = AsyncApp(client=client, signing_secret=sandbox.signing_secret)
    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    bot = Bot(client, sandbox.sender(f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"))

    @app.command("/flywheel")
    async def open_entry(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=entry_modal())

    @app.view("entry")
    async def entry(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await bot.submissions.put(body)

    yield bot
    await runner.cleanup()


async def test_a_submitted_file_and_radio_choice_reach_the_view_listener(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    # Declared as a PNG of 5 MB: the bytes say otherwise, and the sandbox keeps both claims.
    lie = sandbox.add_user_file(MEMBER, "cat.png", b"<html>", "image/png", size=5_000_000)
    pixel = sandbox.add_user_file(MEMBER, "pixel.PNG", PNG, "image/png")
    await bot.sender.send_slash_command("/flywheel", "", user_id=MEMBER, channel_id=CHANNEL)
    opened = await sandbox.wait_for_call("views.open")
    assert opened.ok, opened.response

    reply = await bot.sender.send_view_submission(
        "entry",
        {"files": {"upload": [lie, pixel["id"]]}, "kind": {"choice": "kind1"}},
        user_id=MEMBER,
        view_id=opened.response["view"]["id"],
    )

    assert reply.status == 200
    body = await asyncio.wait_for(bot.submissions.get(), timeout=5)
    values = body["view"]["state"]["values"]
    assert values["kind"]["choice"] == {
        "type": "radio_buttons",
        "selected_option": _option("kind1"),
    }
    upload = values["files"]["upload"]
    assert upload["type"] == "file_input"
    first, second = upload["files"]
    assert first["id"].startswith("F")
    assert (first["name"], first["mimetype"], first["filetype"], first["size"]) == (
        "cat.png",
        "image/png",
        "png",
        5_000_000,
    )
    assert first["user"] == MEMBER
    assert (second["filetype"], second["size"]) == ("png", len(PNG))
    for key in ("title", "url_private", "url_private_download"):
        assert key in first


async def test_url_private_serves_the_bytes_only_with_the_bot_token(
    sandbox: SlackSandbox,
) -> None:
    described = sandbox.add_user_file(MEMBER, "notes.txt", b"secret notes", "image/gif")
    url = described["url_private"]
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {sandbox.bot_token}"}
        async with http.get(url, headers=auth) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "image/gif"  # as declared, not sniffed
            assert await answer.read() == b"secret notes"
        async with http.get(described["url_private_download"], headers=auth) as answer:
            assert await answer.read() == b"secret notes"
        async with http.get(url, allow_redirects=False) as bare:
            assert bare.status == 302
        async with http.get(url) as followed:
            assert followed.status == 200
            assert followed.content_type == "text/html"
            assert b"secret notes" not in await followed.read()
        wrong = {"Authorization": "Bearer xoxb-someone-else"}
        async with http.get(url, headers=wrong, allow_redirects=False) as forged:
            assert forged.status == 302
    downloads = sandbox.calls_to("file_download")
    assert [c.status for c in downloads] == [200, 200, 302, 302, 302]


async def test_files_info_describes_a_members_file(sandbox: SlackSandbox) -> None:
    described = sandbox.add_user_file(MEMBER, "pixel.png", PNG, "image/png")
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_base)
    info = await client.files_info(file=described["id"])
    assert info["file"] == described
    with pytest.raises(SlackApiError) as missing:
        await client.files_info(file="F0NOSUCH")
    assert missing.value.response["error"] == "file_not_found"


@pytest.mark.parametrize(
    ("view", "error"),
    [
        (entry_modal(max_files=11), "invalid_blocks"),
        (entry_modal(max_files=0), "invalid_blocks"),
        (entry_modal(max_files="3"), "invalid_blocks"),
        (entry_modal(options=11), "invalid_blocks"),
        (entry_modal(options=0), "invalid_blocks"),
        (
            {
                **entry_modal(),
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [{"type": "file_input", "action_id": "upload"}],
                    }
                ],
            },
            "invalid_blocks",
        ),
    ],
)
async def test_views_refuse_file_inputs_and_radio_buttons_over_the_limits(
    sandbox: SlackSandbox, view: dict[str, Any], error: str
) -> None:
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_base)
    with pytest.raises(SlackApiError) as refused:
        await client.views_open(trigger_id=sandbox.issue_trigger_id(), view=view)
    assert refused.value.response["error"] == error


async def test_views_accept_file_inputs_and_radio_buttons_at_the_limits(
    sandbox: SlackSandbox,
) -> None:
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_base)
    opened = await client.views_open(
        trigger_id=sandbox.issue_trigger_id(), view=entry_modal(max_files=10, options=10)
    )
    view_id = opened["view"]["id"]
    updated = await client.views_update(view_id=view_id, view=entry_modal(max_files=1))
    assert updated["view"]["blocks"][0]["element"]["max_files"] == 1
    with pytest.raises(SlackApiError):
        await client.views_update(view_id=view_id, view=entry_modal(max_files=11))


async def test_a_radio_value_the_view_does_not_list_is_refused_by_the_control_api(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    await bot.sender.send_slash_command("/flywheel", "", user_id=MEMBER, channel_id=CHANNEL)
    opened = await sandbox.wait_for_call("views.open")
    with pytest.raises(ValueError, match="not 'kind9'"):
        await bot.sender.send_view_submission(
            "entry",
            {"kind": {"choice": "kind9"}},
            user_id=MEMBER,
            view_id=opened.response["view"]["id"],
        )
    with pytest.raises(ValueError, match="add_user_file"):
        await bot.sender.send_view_submission(
            "entry",
            {"files": {"upload": ["F0NOSUCH"]}},
            user_id=MEMBER,
            view_id=opened.response["view"]["id"],
        )
