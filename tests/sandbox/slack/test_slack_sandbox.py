"""The Slack sandbox drives the real slack-bolt AsyncApp and slack-sdk AsyncWebClient."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack import SlackEventSender, SlackSandbox, sign_slack_request

pytestmark = pytest.mark.e2e

MEMBER = "U0ADA"
CHANNEL = "C0GENERAL"

FEEDBACK_MODAL = {
    "type": "modal",
    "callback_id": "feedback",
    "private_metadata": "from-command",
    "title": {"type": "plain_text", "text": "Feedback"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "idea",
            "label": {"type": "plain_text", "text": "Idea"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        }
    ],
}


@dataclass
class Bot:
    """A real bolt app served over HTTP, with what its listeners saw."""

    app: AsyncApp
    client: AsyncWebClient
    sender: SlackEventSender
    actions: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    submissions: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    sandbox = SlackSandbox()
    sandbox.add_user(MEMBER, "ada", real_name="Ada Lovelace", email="ada@example.org")
    sandbox.add_channel(CHANNEL, "general")
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def bot(sandbox: SlackSandbox) -> AsyncIterator[Bot]:
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_base)
    # Passing token= as well as client= only makes bolt warn that the token is unused.
    app = AsyncApp(client=client, signing_secret=sandbox.signing_secret)
    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    bot = Bot(app, client, sandbox.sender(f"http://127.0.0.1:{port}/slack/events"))

    @app.command("/flywheel")
    async def flywheel(ack: Any, body: dict[str, Any], client: Any, respond: Any) -> None:
        await ack()
        if body["text"] == "feedback":
            await client.views_open(trigger_id=body["trigger_id"], view=FEEDBACK_MODAL)
            return
        await client.chat_postMessage(channel=body["channel_id"], text=f"<@{body['user_id']}> ok")
        await respond("Check your DMs")

    @app.action("approve")
    async def approve(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await bot.actions.put(body)
        await respond(replace_original=True, text="Approved")

    @app.view("feedback")
    async def feedback(ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        await ack()
        await bot.submissions.put(body)
        idea = view["state"]["values"]["idea"]["text"]["value"]
        await client.chat_postMessage(channel=body["user"]["id"], text=f"Thanks for: {idea}")

    @app.shortcut("quote")
    async def quote(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await bot.actions.put(body)
        await respond(text="Quoted", response_type="ephemeral")

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: Any) -> None:
        await client.views_publish(
            user_id=event["user"],
            view={"type": "home", "blocks": [{"type": "section", "text": _mrkdwn("Hi")}]},
        )

    yield bot
    await runner.cleanup()


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


async def test_a_signed_slash_command_is_acked_and_the_bot_posts_and_responds(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    reply = await bot.sender.send_slash_command(
        "/flywheel", "link", user_id=MEMBER, channel_id=CHANNEL
    )

    assert reply.status == 200
    posted = await sandbox.wait_for_call("chat.postMessage")
    responded = await sandbox.wait_for_call("response_url")
    assert posted.ok
    assert posted.args["channel"] == CHANNEL
    assert posted.args["text"] == f"<@{MEMBER}> ok"
    assert responded.args["text"] == "Check your DMs"
    assert [m["text"] for m in sandbox.messages_in(CHANNEL)] == [f"<@{MEMBER}> ok"]
    # The first request made bolt call auth.test once; it caches the answer.
    assert len(sandbox.calls_to("auth.test")) == 1


async def test_a_forged_signature_is_refused_before_any_listener_runs(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    forged = await bot.sender.send_slash_command(
        "/flywheel", "link", user_id=MEMBER, channel_id=CHANNEL, forge=True
    )
    assert forged.status == 401

    # The valid request's listener posts, then responds: once its response is seen, a post
    # from the forged request would have been seen too.
    valid = await bot.sender.send_slash_command(
        "/flywheel", "link", user_id=MEMBER, channel_id=CHANNEL
    )
    assert valid.status == 200
    await sandbox.wait_for_call("response_url")
    assert len(sandbox.calls_to("chat.postMessage")) == 1


async def test_a_request_older_than_five_minutes_is_refused(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    stale = int(time.time()) - 301

    reply = await bot.sender.send_slash_command(
        "/flywheel", "link", user_id=MEMBER, channel_id=CHANNEL, timestamp=stale
    )

    assert reply.status == 401
    assert sandbox.calls_to("auth.test") == []


async def test_a_block_action_reaches_its_listener_and_replaces_the_original_message(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    button = {
        "type": "button",
        "action_id": "approve",
        "text": {"type": "plain_text", "text": "OK"},
    }
    posted = await bot.client.chat_postMessage(
        channel=CHANNEL, text="Approve?", blocks=[{"type": "actions", "elements": [button]}]
    )

    reply = await bot.sender.send_block_action(
        "approve", "yes", user_id=MEMBER, channel_id=CHANNEL, message_ts=posted["ts"]
    )

    assert reply.status == 200
    body = await asyncio.wait_for(bot.actions.get(), timeout=5)
    assert body["actions"][0]["value"] == "yes"
    assert body["message"]["text"] == "Approve?"
    await sandbox.wait_for_call("response_url")
    assert sandbox.messages_in(CHANNEL)[0]["text"] == "Approved"


async def test_a_view_submission_reaches_its_listener_with_the_submitted_values(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    await bot.sender.send_slash_command("/flywheel", "feedback", user_id=MEMBER, channel_id=CHANNEL)
    opened = await sandbox.wait_for_call("views.open")
    assert opened.ok
    view_id = opened.response["view"]["id"]

    reply = await bot.sender.send_view_submission(
        "feedback",
        {"idea": {"text": "More rituals"}},
        user_id=MEMBER,
        private_metadata="from-command",
        view_id=view_id,
    )

    assert reply.status == 200
    body = await asyncio.wait_for(bot.submissions.get(), timeout=5)
    assert body["view"]["id"] == view_id
    assert body["view"]["private_metadata"] == "from-command"
    thanks = await sandbox.wait_for_call("chat.postMessage")
    assert thanks.response["channel"] == sandbox.dm_channel_id(MEMBER)
    assert thanks.args["text"] == "Thanks for: More rituals"


async def test_a_rate_limited_post_is_retried_by_the_sdk_and_delivered_once(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    bot.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    sandbox.rate_limit_next("chat.postMessage", retry_after=1)

    await bot.sender.send_slash_command("/flywheel", "link", user_id=MEMBER, channel_id=CHANNEL)

    delivered = await sandbox.wait_for_call(
        lambda call: call.method == "chat.postMessage" and call.status == 200
    )
    attempts = sandbox.calls_to("chat.postMessage")
    assert [call.status for call in attempts] == [429, 200]
    # The SDK waits Retry-After (plus jitter) before it tries again.
    assert delivered.at - attempts[0].at >= 1
    assert len(sandbox.messages_in(CHANNEL)) == 1


async def test_opening_the_app_home_makes_the_bot_publish_a_home_view(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    reply = await bot.sender.send_app_home_opened(MEMBER)

    assert reply.status == 200
    published = await sandbox.wait_for_call("views.publish")
    assert published.ok
    assert published.args["user_id"] == MEMBER
    assert sandbox.home_views[MEMBER]["type"] == "home"


async def test_the_url_verification_challenge_is_echoed(bot: Bot) -> None:
    reply = await bot.sender.send_url_verification("c-123")

    assert reply.status == 200
    assert reply.json() == {"challenge": "c-123"}


# -- the Web API on its own --------------------------------------------------------------------


@pytest.fixture
def client(sandbox: SlackSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_base)


async def test_a_wrong_token_gets_invalid_auth(sandbox: SlackSandbox) -> None:
    intruder = AsyncWebClient(token="xoxb-wrong", base_url=sandbox.api_base)

    with pytest.raises(SlackApiError) as raised:
        await intruder.auth_test()

    assert raised.value.response["error"] == "invalid_auth"


async def test_unknown_methods_and_channels_fail_as_on_slack(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        await client.api_call("chat.teleport")
    with pytest.raises(SlackApiError) as missing:
        await client.chat_postMessage(channel="C0NOWHERE", text="hello")

    assert unknown.value.response["error"] == "unknown_method"
    assert missing.value.response["error"] == "channel_not_found"


async def test_a_deactivated_member_cannot_be_messaged(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    sandbox.close_dms(MEMBER)

    with pytest.raises(SlackApiError) as opening:
        await client.conversations_open(users=MEMBER)
    with pytest.raises(SlackApiError) as posting:
        await client.chat_postMessage(channel=MEMBER, text="hello")

    assert opening.value.response["error"] == "user_disabled"
    assert posting.value.response["error"] == "is_archived"


async def test_a_direct_message_opens_a_dm_channel_and_threads_replies(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    opened = await client.conversations_open(users=MEMBER)
    dm = opened["channel"]["id"]
    parent = await client.chat_postMessage(channel=dm, text="Welcome")
    await client.chat_postMessage(channel=dm, text="Step 1", thread_ts=parent["ts"])
    await client.reactions_add(channel=dm, timestamp=parent["ts"], name="wave")

    thread = await client.conversations_replies(channel=dm, ts=parent["ts"])

    assert dm == sandbox.dm_channel_id(MEMBER)
    assert [m["text"] for m in thread["messages"]] == ["Welcome", "Step 1"]
    assert thread["messages"][0]["reactions"][0]["name"] == "wave"


async def test_a_trigger_id_can_be_exchanged_only_once(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    trigger = sandbox.issue_trigger_id()
    await client.views_open(trigger_id=trigger, view=FEEDBACK_MODAL)

    with pytest.raises(SlackApiError) as again:
        await client.views_open(trigger_id=trigger, view=FEEDBACK_MODAL)

    assert again.value.response["error"] == "exchanged_trigger_id"


async def test_usergroup_members_are_replaced_and_listed(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    sandbox.add_user("U0BOB", "bob")
    sandbox.add_usergroup("S0MODS", "mods", users=[MEMBER])

    await client.usergroups_users_update(usergroup="S0MODS", users=[MEMBER, "U0BOB"])
    members = await client.usergroups_users_list(usergroup="S0MODS")
    groups = await client.usergroups_list(include_users=True)

    assert members["users"] == [MEMBER, "U0BOB"]
    assert groups["usergroups"][0]["user_count"] == 2


async def test_users_info_describes_the_seeded_member(client: AsyncWebClient) -> None:
    info = await client.users_info(user=MEMBER)

    assert info["user"]["profile"]["email"] == "ada@example.org"
    assert info["user"]["real_name"] == "Ada Lovelace"


async def test_waiting_for_a_call_that_never_comes_times_out_with_what_was_seen(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    await client.auth_test()

    with pytest.raises(TimeoutError, match=r"calls seen: auth\.test$"):
        await sandbox.wait_for_call("views.open", timeout=0.05)


def test_the_signature_matches_slacks_documented_example() -> None:
    # The example from Slack's "Verifying requests from Slack" guide.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmib"
        b"IGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )

    signature = sign_slack_request("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body)

    assert signature == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


async def test_history_returns_metadata_only_when_asked_and_pages_newest_first(
    client: AsyncWebClient,
) -> None:
    marker = {"event_type": "flywheel_outbox", "event_payload": {"key": "k1"}}
    first = await client.chat_postMessage(channel=CHANNEL, text="one", metadata=marker)
    await client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=first["ts"])
    for text in ("two", "three"):
        await client.chat_postMessage(channel=CHANNEL, text=text)

    plain = await client.conversations_history(channel=CHANNEL)
    assert [m["text"] for m in plain["messages"]] == ["three", "two", "one"]  # no replies
    assert all("metadata" not in m for m in plain["messages"])

    page = await client.conversations_history(channel=CHANNEL, limit=2, include_all_metadata=True)
    assert [m["text"] for m in page["messages"]] == ["three", "two"] and page["has_more"]
    rest = await client.conversations_history(
        channel=CHANNEL,
        limit=2,
        include_all_metadata=True,
        cursor=page["response_metadata"]["next_cursor"],
    )
    assert [m["text"] for m in rest["messages"]] == ["one"] and not rest["has_more"]
    assert rest["messages"][0]["metadata"] == marker

    newer = await client.conversations_history(channel=CHANNEL, oldest=first["ts"])
    assert [m["text"] for m in newer["messages"]] == ["three", "two"]  # oldest is exclusive
    replies = await client.conversations_replies(
        channel=CHANNEL, ts=first["ts"], include_all_metadata=True
    )
    assert [m["text"] for m in replies["messages"]] == ["one", "reply"]
    assert replies["messages"][0]["metadata"] == marker


async def test_malformed_message_metadata_is_refused(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(
            channel=CHANNEL, text="x", metadata={"event_type": "has spaces", "event_payload": {}}
        )
    assert refused.value.response["error"] == "invalid_metadata_format"


async def test_history_bounds_are_exclusive_and_a_page_is_stable_while_members_post(
    client: AsyncWebClient,
) -> None:
    stamps = [(await client.chat_postMessage(channel=CHANNEL, text=t))["ts"] for t in "abcd"]

    between = await client.conversations_history(
        channel=CHANNEL, oldest=stamps[0], latest=stamps[3]
    )
    assert [m["text"] for m in between["messages"]] == ["c", "b"]
    inclusive = await client.conversations_history(
        channel=CHANNEL, oldest=stamps[0], latest=stamps[3], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["d", "c", "b", "a"]

    first = await client.conversations_history(channel=CHANNEL, limit=2)
    await client.chat_postMessage(channel=CHANNEL, text="e")  # posted between the pages
    rest = await client.conversations_history(
        channel=CHANNEL, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in first["messages"] + rest["messages"]] == ["d", "c", "b", "a"]

    with pytest.raises(SlackApiError) as refused:
        await client.conversations_history(channel=CHANNEL, cursor="not-a-cursor")
    assert refused.value.response["error"] == "invalid_cursor"


async def test_reading_history_without_its_scope_says_which_scope_is_needed(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    sandbox.scopes = "chat:write,channels:read"

    with pytest.raises(SlackApiError) as refused:
        await client.conversations_history(channel=CHANNEL)

    assert refused.value.response["error"] == "missing_scope"
    assert refused.value.response["needed"] == "channels:history"


async def test_chat_update_replaces_keeps_or_removes_a_messages_blocks(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    def section(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text}}

    posted = await client.chat_postMessage(channel=CHANNEL, text="Review", blocks=[section("a")])
    ts = posted["ts"]

    await client.chat_update(channel=CHANNEL, ts=ts, text="Reviewed", blocks=[section("b")])
    replaced = sandbox.find_message(CHANNEL, ts)
    await client.chat_update(channel=CHANNEL, ts=ts, text="Still reviewed")
    kept = sandbox.find_message(CHANNEL, ts)
    assert replaced is not None and kept is not None
    assert kept["blocks"] == [section("b")] and kept["text"] == "Still reviewed"
    await client.chat_update(channel=CHANNEL, ts=ts, text="Done", blocks=[])
    removed = sandbox.find_message(CHANNEL, ts)

    assert removed is not None and not removed.get("blocks") and removed["text"] == "Done"
    assert [call.ok for call in sandbox.calls_to("chat.update")] == [True, True, True]


async def test_conversations_invite_adds_members_and_fails_as_on_slack(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    sandbox.add_user("U0BOB", "bob")
    sandbox.add_user("U0CY", "cy")
    sandbox.add_channel("G0CREW", "crew", is_private=True)
    sandbox.add_channel("G0ELSEWHERE", "elsewhere", is_private=True, bot_is_member=False)

    invited = await client.conversations_invite(channel="G0CREW", users=[MEMBER, "U0BOB"])
    assert invited["channel"]["id"] == "G0CREW"
    assert sandbox.members_of("G0CREW") == [sandbox.bot_user_id, MEMBER, "U0BOB"]

    async def error_of(**kwargs: Any) -> str:
        with pytest.raises(SlackApiError) as raised:
            await client.conversations_invite(**kwargs)
        return str(raised.value.response["error"])

    assert await error_of(channel="G0CREW", users=["U0BOB", "U0CY"]) == "already_in_channel"
    assert await error_of(channel="G0CREW", users="U0NOBODY") == "user_not_found"
    assert await error_of(channel="G0MISSING", users=MEMBER) == "channel_not_found"
    assert await error_of(channel="G0ELSEWHERE", users=MEMBER) == "not_in_channel"
    assert sandbox.members_of("G0CREW") == [sandbox.bot_user_id, MEMBER, "U0BOB"]

    forced = await client.conversations_invite(channel="G0CREW", users="U0BOB,U0CY", force=True)
    assert forced["errors"] == [{"user": "U0BOB", "ok": False, "error": "already_in_channel"}]
    assert sandbox.members_of("G0CREW")[-1] == "U0CY"


async def test_conversations_kick_removes_a_member_once(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    sandbox.add_channel("G0CREW", "crew", is_private=True, members=[MEMBER])

    await client.conversations_kick(channel="G0CREW", user=MEMBER)
    with pytest.raises(SlackApiError) as again:
        await client.conversations_kick(channel="G0CREW", user=MEMBER)
    with pytest.raises(SlackApiError) as unknown:
        await client.conversations_kick(channel="G0CREW", user="U0NOBODY")

    assert sandbox.members_of("G0CREW") == [sandbox.bot_user_id]
    assert again.value.response["error"] == "not_in_channel"
    assert unknown.value.response["error"] == "user_not_found"


async def test_a_members_message_reply_and_reaction_arrive_as_slack_sends_them(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @bot.app.event("message")
    async def message(event: dict[str, Any]) -> None:
        await heard.put(event)

    @bot.app.event("reaction_added")
    async def reaction(event: dict[str, Any]) -> None:
        await heard.put(event)

    sandbox.add_user("U0BOB", "bob")
    ts = await bot.sender.send_user_message(MEMBER, CHANNEL, "hello all")
    reply_ts = await bot.sender.send_user_message("U0BOB", CHANNEL, "hi Ada", thread_ts=ts)
    assert await bot.sender.send_reaction_added("U0BOB", CHANNEL, ts, "wave") is not None
    # The same member's same reaction again is one reaction: Slack sends nothing.
    assert await bot.sender.send_reaction_added("U0BOB", CHANNEL, ts, "wave") is None

    first, second, third = [await asyncio.wait_for(heard.get(), 5) for _ in range(3)]
    assert (first["user"], first["text"], first["ts"], first["channel_type"]) == (
        MEMBER,
        "hello all",
        ts,
        "channel",
    )
    assert "subtype" not in first and "bot_id" not in first
    assert (second["thread_ts"], second["parent_user_id"], second["ts"]) == (ts, MEMBER, reply_ts)
    assert third["user"] == "U0BOB" and third["item_user"] == MEMBER
    assert third["item"] == {"type": "message", "channel": CHANNEL, "ts": ts}
    kept = sandbox.find_message(CHANNEL, ts)
    assert kept is not None and kept["reply_count"] == 1
    assert kept["reactions"] == [{"name": "wave", "users": ["U0BOB"], "count": 1}]


async def test_a_message_shortcut_on_a_thread_reply_reaches_its_listener_and_replies_show_the_thread(
    sandbox: SlackSandbox, bot: Bot
) -> None:
    sandbox.add_user("U0BOB", "bob")
    question = sandbox.add_user_message(CHANNEL, MEMBER, "How?")
    answer = sandbox.add_user_message(CHANNEL, "U0BOB", "Like this.", thread_ts=question["ts"])

    reply = await bot.sender.send_message_action(
        "quote", user_id=MEMBER, channel_id=CHANNEL, message_ts=answer["ts"]
    )
    thread = await bot.client.conversations_replies(channel=CHANNEL, ts=question["ts"])

    assert reply.status == 200
    body = await asyncio.wait_for(bot.actions.get(), timeout=5)
    assert (body["type"], body["callback_id"], body["channel"]["id"]) == (
        "message_action",
        "quote",
        CHANNEL,
    )
    assert body["message"]["thread_ts"] == question["ts"] and body["message"]["user"] == "U0BOB"
    answered = await sandbox.wait_for_call("response_url")
    assert answered.args["text"] == "Quoted"
    parent, *replies = thread["messages"]
    assert (parent["ts"], parent["reply_count"], parent["reply_users"]) == (
        question["ts"],
        1,
        ["U0BOB"],
    )
    assert [(r["text"], r["parent_user_id"]) for r in replies] == [("Like this.", MEMBER)]
