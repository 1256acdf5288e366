"""The Slack app's frame: server-side roles, the verb router, Socket Mode, and start-up checks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import FakeClock
from bot.errors import ConfigError, Forbidden
from bot.runtime import Runtime, bootstrap_community, build_runtime
from bot.sandbox.slack import SlackSandbox
from bot.services.callers import Role
from bot.settings import SlackSettings, load_settings
from bot.slack.app import SlackPlatform
from bot.slack.directory import UserDirectory
from bot.slack.front import CommandRouter, SlackFront, VerbCall

pytestmark = pytest.mark.e2e

MEMBER = "U0ADA"
CHANNEL = "C0GENERAL"


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    sandbox = SlackSandbox()
    sandbox.add_user(MEMBER, "ada", real_name="Ada Lovelace")
    sandbox.add_user("U0OWNER", "olga", is_owner=True)
    sandbox.add_user("U0ADMIN", "adam", is_admin=True)
    sandbox.add_user("U0LISTED", "lisa")
    sandbox.add_channel(CHANNEL, "general")
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
def client(sandbox: SlackSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_base)


def settings_for(
    tmp_path: Path, database_url: str, sandbox: SlackSandbox, *, mode: str, **overrides: str
):
    config = tmp_path / "bot.toml"
    config.write_text(f'[slack]\nmode = "{mode}"\n', encoding="utf-8")
    environ = {
        "FLYWHEEL_DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": sandbox.bot_token,
        "SLACK_SIGNING_SECRET": sandbox.signing_secret,
        "SLACK_APP_TOKEN": sandbox.app_token,
    }
    environ.update(overrides)
    return load_settings(config, environ={k: v for k, v in environ.items() if v})


@pytest.fixture
async def socket_runtime(
    tmp_path: Path, database_url: str, committed, clock: FakeClock, sandbox: SlackSandbox
) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings_for(tmp_path, database_url, sandbox, mode="socket"), clock)
    await bootstrap_community(runtime)
    yield runtime
    await runtime.close()


# -- roles ------------------------------------------------------------------------------------


async def test_roles_come_from_settings_and_from_what_slack_says_about_the_user(
    sandbox: SlackSandbox, client: AsyncWebClient, clock: FakeClock
) -> None:
    directory = UserDirectory(
        SlackSettings(owner_user_ids=["U0LISTED"], moderator_user_ids=[MEMBER]), clock
    )

    async def role(user_id: str) -> Role:
        return (await directory.lookup(client, team_id=sandbox.team_id, user_id=user_id)).role

    assert await role("U0OWNER") == Role.OWNER
    assert await role("U0ADMIN") == Role.MODERATOR
    assert await role("U0LISTED") == Role.OWNER
    assert await role(MEMBER) == Role.MODERATOR
    sandbox.add_user("U0PLAIN", "pat")
    assert await role("U0PLAIN") == Role.MEMBER


async def test_users_info_is_asked_once_and_again_after_a_minute(
    sandbox: SlackSandbox, client: AsyncWebClient, clock: FakeClock
) -> None:
    directory = UserDirectory(SlackSettings(), clock)

    first = await directory.lookup(client, team_id=sandbox.team_id, user_id="U0ADMIN")
    await directory.lookup(client, team_id=sandbox.team_id, user_id="U0ADMIN")
    assert len(sandbox.calls_to("users.info")) == 1
    sandbox.users["U0ADMIN"]["is_admin"] = False  # demoted in Slack
    clock.advance(61)
    later = await directory.lookup(client, team_id=sandbox.team_id, user_id="U0ADMIN")

    assert len(sandbox.calls_to("users.info")) == 2
    assert (first.role, later.role) == (Role.MODERATOR, Role.MEMBER)
    assert first.display_name == "adam"


async def test_an_unknown_user_is_a_member_and_is_not_cached(
    sandbox: SlackSandbox, client: AsyncWebClient, clock: FakeClock
) -> None:
    directory = UserDirectory(SlackSettings(owner_user_ids=["U0GHOST"]), clock)

    found = await directory.lookup(client, team_id=sandbox.team_id, user_id="U0NOBODY")
    owner = await directory.lookup(client, team_id=sandbox.team_id, user_id="U0GHOST")
    await directory.lookup(client, team_id=sandbox.team_id, user_id="U0NOBODY")

    assert found.role == Role.MEMBER and owner.role == Role.OWNER
    assert len(sandbox.calls_to("users.info")) == 3


# -- the verb router ----------------------------------------------------------------------------


def test_the_longest_registered_verb_wins_and_the_rest_is_kept_raw() -> None:
    router = CommandRouter("/flywheel")

    async def nothing(call: VerbCall) -> None:
        return None

    router.add("privacy", nothing, summary="p")
    router.add("privacy export", nothing, summary="e")

    matched = router.match("  Privacy   export  now please ")
    assert matched is not None
    verb, args, rest = matched
    assert (verb.name, args, rest) == ("privacy export", ("now", "please"), "now please")
    assert router.match("share https://x") is None
    with pytest.raises(ValueError, match="twice"):
        router.add("privacy", nothing, summary="again")


def test_help_lists_only_the_verbs_the_caller_may_use() -> None:
    router = CommandRouter("/flywheel")

    async def nothing(call: VerbCall) -> None:
        return None

    router.add("rank", nothing, summary="Your rank.")
    router.add("ritual start", nothing, summary="Start a ritual.", role=Role.MODERATOR)

    assert "ritual start" not in router.help_text(Role.MEMBER)
    assert "`/flywheel ritual start` — Start a ritual." in router.help_text(Role.MODERATOR)


async def test_a_moderator_verb_is_refused_to_a_member_on_the_server_side(
    socket_runtime: Runtime, sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    ran: list[str] = []
    router = CommandRouter("/flywheel")
    front = SlackFront(
        runtime=socket_runtime,
        directory=UserDirectory(socket_runtime.settings.slack, socket_runtime.clock),
        commands=router,
    )

    async def approve(call: VerbCall) -> None:
        ran.append(call.user_id)

    router.add("ugc approve", approve, summary="Approve a post.", role=Role.MODERATOR)

    def call(user_id: str) -> VerbCall:
        body = sandbox.slash_command_payload(
            "/flywheel", "ugc approve 12", user_id=user_id, channel_id=CHANNEL
        )
        respond = AsyncRespond(response_url=body["response_url"])
        return VerbCall(front=front, client=client, respond=respond, body=dict(body))

    with pytest.raises(Forbidden, match="Only moderators"):
        await router.dispatch(call(MEMBER))
    await router.dispatch(call("U0ADMIN"))

    assert ran == ["U0ADMIN"]


async def test_a_verb_with_several_fields_opens_a_modal_with_the_commands_trigger(
    socket_runtime: Runtime, sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    router = CommandRouter("/flywheel")
    front = SlackFront(
        runtime=socket_runtime,
        directory=UserDirectory(socket_runtime.settings.slack, socket_runtime.clock),
        commands=router,
    )
    modal = {
        "type": "modal",
        "callback_id": "share",
        "title": {"type": "plain_text", "text": "Share your work"},
        "blocks": [],
    }

    async def share(call: VerbCall) -> None:
        await call.open_modal(modal)

    router.add("share", share, summary="Share something you made.")
    body = sandbox.slash_command_payload("/flywheel", "share", user_id=MEMBER, channel_id=CHANNEL)

    await router.dispatch(
        VerbCall(
            front=front,
            client=client,
            respond=AsyncRespond(response_url=body["response_url"]),
            body=dict(body),
        )
    )

    opened = await sandbox.wait_for_call("views.open")
    assert opened.ok and opened.args["trigger_id"] == body["trigger_id"]
    # A modal verb that asks for nothing else costs no users.info call before the 3 s deadline.
    assert sandbox.calls_to("users.info") == []


# -- the platform -------------------------------------------------------------------------------


async def test_socket_mode_connects_and_answers_a_slash_command_over_the_websocket(
    socket_runtime: Runtime, sandbox: SlackSandbox
) -> None:
    platform = SlackPlatform(socket_runtime, api_base=sandbox.api_base)
    assert platform.mount(web.Application()) is False  # nothing to serve over HTTP
    running = asyncio.create_task(platform.start())
    await sandbox.wait_for_call("socket_connect")

    envelope = await sandbox.socket_send(
        "slash_commands",
        sandbox.slash_command_payload("/flywheel", "link", user_id=MEMBER, channel_id=CHANNEL),
        accepts_response_payload=True,
    )

    await sandbox.wait_for_call(
        lambda call: call.method == "socket_ack" and call.args["envelope_id"] == envelope
    )
    reply = await sandbox.wait_for_call("response_url")
    assert "Your link code is" in reply.args["text"]
    assert platform.status == "connected"
    await platform.stop()
    await asyncio.wait_for(running, timeout=5)
    assert platform.status == "stopped"


async def test_a_rejected_bot_token_stops_start_up_with_a_line_naming_the_variable(
    tmp_path: Path, database_url: str, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    settings = settings_for(
        tmp_path, database_url, sandbox, mode="http", SLACK_BOT_TOKEN="xoxb-revoked"
    )
    runtime = build_runtime(settings, clock)
    platform = SlackPlatform(runtime, api_base=sandbox.api_base)

    with pytest.raises(ConfigError, match=r"^SLACK_BOT_TOKEN: Slack rejected the token"):
        await platform.start()

    assert platform.status == "failed"
    await runtime.close()


async def test_socket_mode_without_an_app_token_fails_fast(
    tmp_path: Path, database_url: str, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path, database_url, sandbox, mode="socket", SLACK_APP_TOKEN="")
    runtime = build_runtime(settings, clock)
    platform = SlackPlatform(runtime, api_base=sandbox.api_base)

    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        await platform.start()
    await runtime.close()


async def test_http_mode_without_a_signing_secret_is_refused(
    tmp_path: Path, database_url: str, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path, database_url, sandbox, mode="http", SLACK_SIGNING_SECRET="")
    runtime = build_runtime(settings, clock)

    with pytest.raises(ConfigError, match=r"^SLACK_SIGNING_SECRET is not set"):
        SlackPlatform(runtime)
    await runtime.close()


@pytest.mark.parametrize(
    ("lacking", "named"),
    [(("im:history", "groups:history"), "groups:history, im:history"), ((), None)],
    ids=["older-install", "complete-install"],
)
async def test_start_up_names_the_scopes_an_older_install_lacks(
    tmp_path: Path,
    database_url: str,
    sandbox: SlackSandbox,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    lacking: tuple[str, ...],
    named: str | None,
) -> None:
    runtime = build_runtime(settings_for(tmp_path, database_url, sandbox, mode="http"), clock)
    platform = SlackPlatform(runtime, api_base=sandbox.api_base)
    sandbox.scopes = ",".join(s for s in sandbox.scopes.split(",") if s not in lacking)

    with caplog.at_level("WARNING", logger="bot.slack.app"):
        running = asyncio.create_task(platform.start())
        await sandbox.wait_for_call("auth.test")
        await platform.stop()
        await asyncio.wait_for(running, timeout=5)

    warnings = [r.getMessage() for r in caplog.records if "lacks scope" in r.getMessage()]
    if named is None:
        assert warnings == []
    else:
        (warning,) = warnings
        assert named in warning and "flywheel commands slack" in warning
    await runtime.close()


# -- HTTP mode: what is refused before bolt parses anything ------------------------------------

NOT_UTF8 = b"payload=\xff\xfe%7B"
UNSIGNED_OR_BROKEN = {
    "malformed JSON": (b'{"type": "event_callback",', "application/json", {}),
    "a JSON array": (b"[1, 2]", "application/json", {}),
    "payload= with bad JSON": (b"payload=%7Bnope", "application/x-www-form-urlencoded", {}),
    "a non-UTF-8 body": (NOT_UTF8, "application/x-www-form-urlencoded", {}),
    "a non-numeric timestamp": (
        b'{"type": "url_verification", "challenge": "c"}',
        "application/json",
        {"X-Slack-Request-Timestamp": "soon"},
    ),
}
SIGNED_WRONG_SHAPE = {
    "malformed JSON": (b'{"type": ', "application/json"),
    "a JSON array": (b"[1, 2]", "application/json"),
    "a JSON string": (b'"event_callback"', "application/json"),
    "payload= with bad JSON": (b"payload=%7Bnope", "application/x-www-form-urlencoded"),
    "payload= holding an array": (b"payload=%5B1%5D", "application/x-www-form-urlencoded"),
    "a non-UTF-8 body": (NOT_UTF8, "application/x-www-form-urlencoded"),
    "an event that is a string": (b'{"type": "event_callback", "event": "x"}', "application/json"),
    "a user that is a number": (b'{"type": "block_actions", "user": 5}', "application/json"),
    "authorizations that are a number": (
        b'{"type": "event_callback", "event": {"type": "x"}, "authorizations": 3}',
        "application/json",
    ),
}


@pytest.mark.parametrize("case", sorted(UNSIGNED_OR_BROKEN), ids=str)
async def test_an_unsigned_or_badly_signed_request_is_refused_with_401_whatever_its_body(
    served, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    body, content_type, headers = UNSIGNED_OR_BROKEN[case]
    forged = not headers  # the broken timestamp case is otherwise correctly signed

    with caplog.at_level("INFO"):
        reply = await served.sender.send_raw(
            body, content_type, forge=forged, extra_headers=headers
        )

    assert reply.status == 401, reply.body
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    await served.sender.close()


@pytest.mark.parametrize("case", sorted(SIGNED_WRONG_SHAPE), ids=str)
async def test_a_signed_body_of_the_wrong_shape_is_refused_with_400_naming_the_problem(
    served, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    body, content_type = SIGNED_WRONG_SHAPE[case]

    with caplog.at_level("INFO"):
        reply = await served.sender.send_raw(body, content_type)

    assert reply.status == 400, reply.body
    assert reply.body.startswith(("the body is not", "the body is a")), reply.body
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    await served.sender.close()


async def test_a_signed_request_is_answered_once_and_refused_when_replayed(served) -> None:
    body = b'{"type": "url_verification", "token": "t", "challenge": "c-42"}'
    timestamp = int(time.time())

    first = await served.sender.send_raw(body, "application/json", timestamp=timestamp)
    again = await served.sender.send_raw(body, "application/json", timestamp=timestamp)
    stale = await served.sender.send_raw(body, "application/json", timestamp=timestamp - 301)

    assert (first.status, "c-42" in first.body) == (200, True)
    assert (again.status, again.body) == (
        401,
        "replayed: this signed request was already answered\n",
    )
    assert stale.status == 401 and "more than 5 minutes" in stale.body
    await served.sender.close()
