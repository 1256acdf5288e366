"""The Slack front end's assembly: the bolt app, its one slash command, the Home tab, the platform.

The features plug in on their own: every declared feature with front ends
(:func:`bot.features.front_end_modules`) has a module or package ``bot/slack/<name>`` with
``register(app, front)``, which adds its verbs and listeners through the kit in
:mod:`bot.slack.front` (who is calling, the router, the listener decorators),
:mod:`bot.slack.events` (the one listener per event type features subscribe to),
:mod:`bot.slack.blocks` and :mod:`bot.slack.confirm`. Feature modules never import this
module, so there is no import loop. Everything a member types arrives through one
configurable slash command, ``/flywheel <verb> …``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import (
    build_normalized_headers,
    extract_content_type,
    parse_body,
)
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConfigError, one_line
from bot.features import front_end_modules
from bot.runtime import Runtime
from bot.slack.directory import UserDirectory
from bot.slack.errors import install_error_handler, reported
from bot.slack.events import GuardedApp
from bot.slack.front import (
    PLATFORM,
    CommandRouter,
    EventCall,
    SlackFront,
    VerbCall,
)
from bot.slack.manifest import BOT_SCOPES, EVENTS_PATH
from bot.slack.requests import Refusal, RequestCheck, payload_problem
from bot.slack.sender import SlackSender

log = logging.getLogger(__name__)

FEATURE_PACKAGE = "bot.slack"
FeatureRegistrar = Callable[[AsyncApp, SlackFront], None]


def feature_registrars(modules: Sequence[str] | None = None) -> list[FeatureRegistrar]:
    """Import each declared feature's Slack module and return its ``register``."""
    registrars: list[FeatureRegistrar] = []
    for name in front_end_modules(FEATURE_PACKAGE) if modules is None else modules:
        register = getattr(importlib.import_module(name), "register", None)
        if not callable(register):
            raise TypeError(f"{name} has no register(app, front): every Slack feature needs one")
        registrars.append(register)
    return registrars


class _ClientWins(logging.Filter):
    """Drop bolt's warning that our client is used over SLACK_BOT_TOKEN, which it reads itself.

    Bolt takes the token from the environment when none is passed and then warns, at every
    start, that the client we give it (the same token, our API base) wins: not news to anyone.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but that one."""
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_CLIENT_WINS = _ClientWins()


def build_slack_app(
    runtime: Runtime, *, api_base: str | None = None
) -> tuple[AsyncApp, SlackFront]:
    """Build the bolt app with every feature's listeners and the one error handler.

    The front comes back too: its command router is what the app answers to (the fuzz
    harness reads the verbs from it).
    """
    settings = runtime.settings
    token = settings.secrets.SLACK_BOT_TOKEN
    if token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set; set it to the app's bot token (xoxb-…)")
    signing_secret = settings.secrets.SLACK_SIGNING_SECRET
    if signing_secret is None and settings.slack.mode == "http":
        raise ConfigError(
            'SLACK_SIGNING_SECRET is not set: HTTP mode ([slack] mode = "http") needs it to verify '
            "requests; copy it from the app's Basic Information page"
        )
    client = AsyncWebClient(
        token=token.get_secret_value(), base_url=api_base or AsyncWebClient.BASE_URL
    )
    logging.getLogger("slack_bolt.AsyncApp").addFilter(_CLIENT_WINS)
    app = GuardedApp(
        name="flywheel",
        client=client,
        # Socket Mode needs no signature; a random secret makes any HTTP request fail verification.
        signing_secret=(
            signing_secret.get_secret_value() if signing_secret else secrets.token_hex(32)
        ),
    )
    front = SlackFront(
        runtime=runtime,
        directory=UserDirectory(settings.slack, runtime.clock),
        commands=CommandRouter(settings.slack.command),
    )
    install_error_handler(app)
    for register in feature_registrars():
        register(app, front)

    async def help_verb(call: VerbCall) -> None:
        caller = await call.caller()
        await call.reply(front.commands.help_text(caller.role))

    front.commands.add("help", help_verb, summary="List what I can do.")

    async def on_command(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()  # Slack waits 3 seconds for this; the work happens after.
        async with reported(body, respond=respond, client=client):
            await front.commands.dispatch(
                VerbCall(front=front, client=client, respond=respond, body=body)
            )

    app.command(settings.slack.command)(on_command)

    async def home_opened(call: EventCall) -> None:
        if call.event.get("tab", "home") == "home":
            await front.publish_home(call.client, await call.caller())

    front.events.on("app_home_opened", home_opened)
    # Last: one bolt listener per event type, plus one that acknowledges every other event.
    front.events.install(app, front)
    return app, front


# -- the platform --------------------------------------------------------------------------------


class SlackPlatform:
    """The Slack front end as the process runs it: Socket Mode, or HTTP through our web server."""

    name = PLATFORM

    def __init__(self, runtime: Runtime, *, api_base: str | None = None) -> None:
        self.runtime = runtime
        self.mode = runtime.settings.slack.mode
        self.app, self.front = build_slack_app(runtime, api_base=api_base)
        secret = runtime.settings.secrets.SLACK_SIGNING_SECRET
        self._check = RequestCheck(secret.get_secret_value()) if secret is not None else None
        self._status = "stopped"
        self._stopping = asyncio.Event()
        self._socket: AsyncSocketModeHandler | None = None

    @property
    def status(self) -> str:
        """Return a one-word state for /healthz."""
        return self._status

    def mount(self, web_app: web.Application) -> bool:
        """Serve Slack's requests at POST /slack/events on the shared web app (HTTP mode only)."""
        if self.mode != "http":
            return False
        web_app.router.add_post(EVENTS_PATH, self.handle_request)
        return True

    async def handle_request(self, request: web.Request) -> web.Response:
        """Verify one request from Slack on its raw bytes, check its shape, dispatch it through bolt."""
        body = await request.read()  # past the app's client_max_size: 413
        if self._check is None:  # mount() serves HTTP mode only, which requires the secret
            return _refuse(Refusal(401, "SLACK_SIGNING_SECRET is not set"))
        refusal = self._check.verify(request.headers, body)
        if refusal is not None:
            return _refuse(refusal)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(Refusal(400, "the body is not UTF-8"))
        headers = build_normalized_headers(
            {name: request.headers.getall(name) for name in request.headers}
        )
        try:
            # Parsed as bolt will parse it; bolt reads fields while it builds the request.
            parsed = parse_body(text, extract_content_type(headers))
        except ValueError as exc:  # json.JSONDecodeError, in the body or in payload=
            return _refuse(Refusal(400, f"the body is not valid JSON ({exc})"))
        problem = payload_problem(parsed)
        if problem is not None:
            return _refuse(Refusal(400, f"the body is not a Slack request: {problem}"))
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=headers)
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    async def _check_token(self) -> None:
        try:
            answer = await self.app.client.auth_test()
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise ConfigError(
                f"slack: cannot reach Slack ({one_line(exc)}); check this host's network, DNS, "
                "firewall or proxy, then start again"
            ) from None
        except SlackApiError as exc:
            error = exc.response.get("error")
            raise ConfigError(
                f"SLACK_BOT_TOKEN: Slack rejected the token ({error}); "
                "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page"
            ) from None
        headers = {str(k).lower(): str(v) for k, v in (answer.headers or {}).items()}
        granted = {scope.strip() for scope in headers.get("x-oauth-scopes", "").split(",")}
        missing = [scope for scope in BOT_SCOPES if scope not in granted]
        if headers.get("x-oauth-scopes") and missing:
            # Not fatal: what needs the scope fails alone, with this line to explain it.
            log.warning(
                "slack: the app lacks scope(s) %s (%s); update the app from "
                "`flywheel commands slack` and reinstall it",
                ", ".join(missing),
                "; ".join(BOT_SCOPES[scope] for scope in missing),
            )

    async def start(self) -> None:
        """Check the token, connect (Socket Mode) or start accepting requests, serve until stopped."""
        self._stopping.clear()
        self._status = "starting"
        try:
            await self._check_token()
            if self.mode == "socket":
                app_token = self.runtime.settings.secrets.SLACK_APP_TOKEN
                if app_token is None:
                    raise ConfigError(
                        "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…); "
                        'set it, or set [slack] mode = "http"'
                    )
                self._socket = AsyncSocketModeHandler(self.app, app_token.get_secret_value())
                await self._socket.connect_async()  # type: ignore[no-untyped-call]
                self._status = "connected"
            else:
                self._status = "serving"
        except BaseException:
            self._status = "failed"
            raise
        await self._stopping.wait()

    async def stop(self) -> None:
        """Disconnect from Slack; in HTTP mode the web server stops taking requests on its own."""
        self._stopping.set()
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        self._status = "stopped"


def _refuse(refusal: Refusal) -> web.Response:
    # Anyone can send these, so they are told why but nothing is logged above INFO.
    log.info("slack: refused a request (%d): %s", refusal.status, refusal.reason)
    return web.Response(status=refusal.status, text=refusal.reason + "\n")


def attach_slack(runtime: Runtime, *, api_base: str | None = None) -> SlackPlatform:
    """Add the Slack front end and its outbox sender to a runtime."""
    token = runtime.settings.secrets.SLACK_BOT_TOKEN
    if token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set; set it to the app's bot token (xoxb-…)")
    platform = SlackPlatform(runtime, api_base=api_base)
    runtime.platforms.append(platform)
    runtime.dispatcher.register(
        SlackSender(
            token.get_secret_value(), api_base=api_base, access=dict(runtime.settings.slack.access)
        )
    )
    return platform
