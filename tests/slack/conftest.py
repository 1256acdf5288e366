"""Shared Slack fixtures: the sandbox workspace, a runtime on the test database and FakeClock,
and the Slack front end served in HTTP mode by our own web server on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.runtime import Runtime, bootstrap_community, build_runtime
from bot.sandbox.slack import RecordedCall, SlackEventSender, SlackSandbox
from bot.settings import load_settings
from bot.slack.app import SlackPlatform
from bot.web.app import create_app, start_site

MEMBER = "U0ADA"
MODERATOR = "U0MOD"
CHANNEL = "C0GENERAL"
COMMUNITY_TOML = (
    '[community]\nname = "Acme Makers"\nslug = "acme"\ntimezone = "Europe/Berlin"\n'
    '[web]\npublic_url = "https://acme.example"\n[slack]\nmode = "http"\n'
)


@dataclass
class Served:
    """The Slack front end served in HTTP mode by our own web server."""

    runtime: Runtime
    platform: SlackPlatform
    sender: SlackEventSender


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    """Start a sandbox workspace: a member, a workspace admin (a moderator) and #general."""
    sandbox = SlackSandbox()
    sandbox.add_user(MEMBER, "ada", real_name="Ada Lovelace", email="ada@example.org")
    sandbox.add_user(MODERATOR, "mo", real_name="Mo Moderator", is_admin=True)
    sandbox.add_channel(CHANNEL, "general")
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
def extra_config() -> tuple[str, dict[str, str]]:
    """Return more bot.toml text and environment (e.g. offers and a secret key); override it.

    The text follows the ``[slack]`` table: keys before its first table header are Slack's
    (``owner_user_ids``, ``access``)."""
    return "", {}


@pytest.fixture
async def runtime(
    tmp_path: Path,
    database_url: str,
    committed,
    clock: FakeClock,
    sandbox: SlackSandbox,
    extra_config: tuple[str, dict[str, str]],
) -> AsyncIterator[Runtime]:
    """Build a runtime for the Acme Makers community (Europe/Berlin) on the FakeClock."""
    config = tmp_path / "bot.toml"
    # Members' files go to the test's folder, never the working directory's media/.
    config.write_text(
        COMMUNITY_TOML + extra_config[0] + f'[media]\ndir = "{tmp_path / "media"}"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        config,
        environ={
            "FLYWHEEL_DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": sandbox.bot_token,
            "SLACK_SIGNING_SECRET": sandbox.signing_secret,
            **extra_config[1],
        },
    )
    runtime = build_runtime(settings, clock=clock)
    await bootstrap_community(runtime)
    yield runtime
    await runtime.close()


@pytest.fixture
async def served(runtime: Runtime, sandbox: SlackSandbox) -> AsyncIterator[Served]:
    """Serve the Slack app at /slack/events on port 0, with a sender of signed requests."""
    platform = SlackPlatform(runtime, api_base=sandbox.api_base)
    web_app = create_app(runtime)
    assert platform.mount(web_app)
    runner, port = await start_site(web_app, "127.0.0.1", 0)
    yield Served(runtime, platform, sandbox.sender(f"http://127.0.0.1:{port}/slack/events"))
    await runner.cleanup()


def prompt_buttons(prompt: RecordedCall) -> dict[str, str]:
    """Return the buttons of an answer with blocks: action_id -> value."""
    return {
        element["action_id"]: element["value"]
        for block in prompt.args["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }
