"""The web app as `flywheel run` builds it, with both front ends, served on port 0.

Discord and Slack (HTTP mode) are attached the way the process attaches them
(:func:`bot.platforms.attach_platforms`) and the app is built by the process's own
:func:`bot.process.build_web_app`, so every route a feature or platform mounts is served here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from bot.clock import FakeClock
from bot.platforms import attach_platforms
from bot.process import build_web_app
from bot.runtime import Runtime, bootstrap_community, build_runtime
from bot.sandbox.slack import SlackSandbox
from bot.settings import load_settings
from bot.web.app import start_site
from tests.payments_setup import FUZZ_PAYMENTS

COMMUNITY_TOML = (
    '[community]\nname = "Acme Makers"\nslug = "acme"\ntimezone = "Europe/Berlin"\n'
    '[web]\npublic_url = "https://acme.example"\n[slack]\nmode = "http"\n'
)


@dataclass
class WebUnderTest:
    """The served app: its routes, its port, the runtime behind it and the Slack sandbox."""

    app: web.Application
    port: int
    runtime: Runtime
    slack: SlackSandbox

    def __repr__(self) -> str:
        return f"<web app on 127.0.0.1:{self.port}>"


@pytest.fixture
async def web_under_test(
    tmp_path: Path, database_url: str, committed: object, clock: FakeClock
) -> AsyncIterator[WebUnderTest]:
    """Serve the process's web app on 127.0.0.1:0 with Discord and Slack (HTTP mode) attached."""
    slack = SlackSandbox()
    slack.add_user("U0ADA", "ada", real_name="Ada Lovelace")
    slack.add_channel("C0GENERAL", "general")
    await slack.start()
    config = tmp_path / "bot.toml"
    media = tmp_path / "media"
    # Offers and the links' key (no Stripe key): /buy's refusals are reached for real.
    config.write_text(
        COMMUNITY_TOML + f'[media]\ndir = "{media}"\n' + FUZZ_PAYMENTS[0], encoding="utf-8"
    )
    settings = load_settings(
        config,
        environ={
            "FLYWHEEL_DATABASE_URL": database_url,
            "DISCORD_TOKEN": "sandbox-discord-token",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            **FUZZ_PAYMENTS[1],
            "STRIPE_WEBHOOK_SECRET": "whsec_fuzz_secret",
        },
    )
    runtime = build_runtime(settings, clock=clock)
    attach_platforms(runtime, slack_api=slack.api_base)
    await bootstrap_community(runtime)
    app = build_web_app(runtime)
    runner, port = await start_site(app, "127.0.0.1", 0)
    yield WebUnderTest(app, port, runtime, slack)
    await runner.cleanup()
    await runtime.close()
    await slack.stop()
