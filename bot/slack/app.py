"""The Slack front end: the bolt app, its one slash command, the Home tab, and the platform.

Feature modules (``bot/slack/<feature>.py``) hold the listeners; each has
``register(app, front)`` and uses :class:`SlackFront` to learn who is calling and to run
a service inside a transaction. A listener acks first, then does its work inside
:func:`bot.slack.errors.reported`, which answers failures as the global error handler does. Everything a member types arrives through one configurable
slash command, ``/flywheel <verb> …``, routed by :class:`CommandRouter`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import ConfigError, Invalid
from bot.runtime import Runtime
from bot.services.callers import Actor, Caller, Role, require, resolve_actor
from bot.settings import SlackSettings
from bot.slack.errors import install_error_handler, reported
from bot.slack.manifest import BOT_SCOPES, EVENTS_PATH
from bot.slack.sender import SlackSender
from bot.text import slack_escape

log = logging.getLogger(__name__)

PLATFORM = "slack"
# users.info answers are reused this long: a promotion or demotion shows within a minute,
# and a burst of clicks costs one Web API call.
ROLE_CACHE_SECONDS = 60.0
ROLE_CACHE_SIZE = 10_000
# A Home tab holds at most 100 blocks.
MAX_HOME_BLOCKS = 100

Block = dict[str, Any]
HomeSection = Callable[[AsyncSession, Actor], Awaitable[list[Block]]]
VerbHandler = Callable[["VerbCall"], Awaitable[None]]
FeatureRegistrar = Callable[[AsyncApp, "SlackFront"], None]


# -- Block Kit pieces shared by the feature modules -------------------------------------------


def mrkdwn_section(text: str) -> Block:
    """Return a section block of mrkdwn text (the caller escapes user text in it)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context_block(text: str) -> Block:
    """Return a context block: small grey mrkdwn text."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def header_block(text: str) -> Block:
    """Return a header block (plain text, at most 150 characters)."""
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def button(text: str, action_id: str, value: str = "", *, style: str | None = None) -> Block:
    """Return a button element."""
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value or action_id,
    }
    if style is not None:
        element["style"] = style
    return element


# -- who is calling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackUser:
    """What users.info told us about a workspace member, reduced to what Flywheel uses."""

    role: Role
    display_name: str | None


class UserDirectory:
    """Decide a Slack user's role on the server side, from settings and users.info, cached briefly."""

    def __init__(
        self,
        settings: SlackSettings,
        clock: Clock,
        *,
        ttl_seconds: float = ROLE_CACHE_SECONDS,
        max_entries: int = ROLE_CACHE_SIZE,
    ) -> None:
        self._owners = frozenset(settings.owner_user_ids)
        self._moderators = frozenset(settings.moderator_user_ids)
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], tuple[float, SlackUser]] = OrderedDict()

    def _configured_role(self, user_id: str) -> Role:
        if user_id in self._owners:
            return Role.OWNER
        if user_id in self._moderators:
            return Role.MODERATOR
        return Role.MEMBER

    async def lookup(self, client: AsyncWebClient, *, team_id: str, user_id: str) -> SlackUser:
        """Return the user's role and display name."""
        key = (team_id, user_id)
        now = self._clock.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            answer = await client.users_info(user=user_id)
        except SlackApiError as exc:
            # Least privilege when Slack cannot tell us: settings still make owners owners.
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            return SlackUser(role=self._configured_role(user_id), display_name=None)
        user = _as_dict(answer.get("user"))
        found = SlackUser(role=self._role_of(user_id, user), display_name=_display_name(user))
        self._cache[key] = (now, found)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return found

    def _role_of(self, user_id: str, user: dict[str, Any]) -> Role:
        configured = self._configured_role(user_id)
        if user.get("deleted") or user.get("is_bot"):
            return configured
        if user.get("is_owner") or user.get("is_primary_owner"):
            return Role.OWNER
        if user.get("is_admin"):
            return max(configured, Role.MODERATOR)
        return configured

    def forget(self, user_id: str) -> None:
        """Drop a user's cached answer (after they erased their data, for instance)."""
        for key in [key for key in self._cache if key[1] == user_id]:
            del self._cache[key]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _display_name(user: dict[str, Any]) -> str | None:
    profile = _as_dict(user.get("profile"))
    for candidate in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:100]
    return None


def _ids_from_body(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """Return team, user, channel and the name Slack sent, for commands, actions and events."""
    if "command" in body:
        return (
            str(body.get("team_id", "")),
            str(body.get("user_id", "")),
            body.get("channel_id") or None,
            body.get("user_name") or None,
        )
    event = _as_dict(body.get("event"))
    if event:
        return (
            str(body.get("team_id", "")),
            str(event.get("user", "")),
            event.get("channel") or None,
            None,
        )
    user = _as_dict(body.get("user"))
    team = _as_dict(body.get("team"))
    channel = _as_dict(body.get("channel")).get("id") or _as_dict(body.get("container")).get(
        "channel_id"
    )
    return (
        str(team.get("id") or user.get("team_id") or ""),
        str(user.get("id", "")),
        channel or None,
        user.get("username") or user.get("name") or None,
    )


# -- the slash command ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verb:
    """One `/flywheel <verb>`: its words, what it does, and who may use it."""

    name: str
    summary: str
    handler: VerbHandler
    usage: str = ""
    role: Role = Role.MEMBER


@dataclass
class VerbCall:
    """One acknowledged `/flywheel <verb> …`, with what a verb handler needs to answer it."""

    front: SlackFront
    client: AsyncWebClient
    respond: AsyncRespond
    body: dict[str, Any]
    verb: Verb | None = None
    args: tuple[str, ...] = ()
    rest: str = ""
    _caller: Caller | None = field(default=None, repr=False)

    @property
    def runtime(self) -> Runtime:
        """Return the process's runtime."""
        return self.front.runtime

    @property
    def user_id(self) -> str:
        """Return the Slack user id of the member who typed the command."""
        return str(self.body.get("user_id", ""))

    async def caller(self) -> Caller:
        """Return the caller, asking Slack for their role once per call (and briefly cached)."""
        if self._caller is None:
            self._caller = await self.front.caller_from_body(self.client, self.body)
        return self._caller

    async def reply(self, text: str, *, blocks: Sequence[Block] | None = None) -> None:
        """Answer only the caller (ephemeral), in the channel the command came from."""
        await self.respond(
            text=text, blocks=list(blocks) if blocks else None, response_type="ephemeral"
        )

    async def open_modal(self, view: Block) -> None:
        """Open a modal for verbs with several fields; call it before slow work (3 s trigger)."""
        await self.client.views_open(trigger_id=self.body["trigger_id"], view=view)


class CommandRouter:
    """Route `/flywheel <verb> …` to the handler registered for the longest matching verb."""

    def __init__(self, command: str) -> None:
        self.command = command
        self._verbs: dict[str, Verb] = {}

    def add(
        self,
        name: str,
        handler: VerbHandler,
        *,
        summary: str,
        usage: str = "",
        role: Role = Role.MEMBER,
    ) -> None:
        """Register a verb (one or more lower-case words, e.g. "privacy export")."""
        if not re.fullmatch(r"[a-z][a-z0-9-]*( [a-z][a-z0-9-]*)*", name):
            raise ValueError(f"a verb is lower-case words, got {name!r}")
        if name in self._verbs:
            raise ValueError(f"the verb {name!r} is registered twice")
        self._verbs[name] = Verb(
            name=name, summary=summary, handler=handler, usage=usage, role=role
        )

    @property
    def verbs(self) -> tuple[Verb, ...]:
        """Return the registered verbs in registration order."""
        return tuple(self._verbs.values())

    def match(self, text: str) -> tuple[Verb, tuple[str, ...], str] | None:
        """Return the verb the text starts with, the words after it, and the raw rest of the text."""
        words = text.split()
        for length in range(min(len(words), 3), 0, -1):
            verb = self._verbs.get(" ".join(words[:length]).lower())
            if verb is not None:
                rest = text.strip()
                for word in words[:length]:
                    rest = rest[len(word) :].lstrip()
                return verb, tuple(words[length:]), rest
        return None

    def help_text(self, role: Role) -> str:
        """List the verbs a caller with ``role`` may use."""
        lines = [f"*What `{self.command}` can do:*"]
        for verb in self._verbs.values():
            if verb.role > role:
                continue
            usage = f" {verb.usage}" if verb.usage else ""
            lines.append(f"• `{self.command} {verb.name}{usage}` — {verb.summary}")
        return "\n".join(lines)

    async def dispatch(self, call: VerbCall) -> None:
        """Run the verb the command names, or answer with the list of verbs."""
        text = str(call.body.get("text", ""))
        matched = self.match(text)
        if matched is None:
            caller = await call.caller()
            first = text.split()[0] if text.split() else ""
            intro = (
                f"`{self.command} {slack_escape(first[:50])}` is not something I know.\n"
                if first and first.lower() != "help"
                else ""
            )
            await call.reply(intro + self.help_text(caller.role))
            return
        call.verb, call.args, call.rest = matched
        if call.verb.role > Role.MEMBER:
            require(await call.caller(), call.verb.role)
        await call.verb.handler(call)


# -- the front end's shared parts -------------------------------------------------------------


@dataclass
class SlackFront:
    """What a Slack feature module needs besides the bolt app."""

    runtime: Runtime
    directory: UserDirectory
    commands: CommandRouter
    home_sections: list[HomeSection] = field(default_factory=list)

    async def caller(
        self,
        client: AsyncWebClient,
        *,
        team_id: str,
        user_id: str,
        channel_id: str | None = None,
        fallback_name: str | None = None,
    ) -> Caller:
        """Describe a Slack user as a Caller, with the role decided here, never by the client."""
        if not team_id or not user_id:
            raise Invalid("Slack did not say who you are; try again from a channel.")
        user = await self.directory.lookup(client, team_id=team_id, user_id=user_id)
        return Caller(
            platform=PLATFORM,
            space_id=team_id,
            user_id=user_id,
            display_name=user.display_name or fallback_name,
            role=user.role,
            channel_id=channel_id,
        )

    async def caller_from_body(self, client: AsyncWebClient, body: dict[str, Any]) -> Caller:
        """Describe the author of a command, action or event payload as a Caller."""
        team_id, user_id, channel_id, name = _ids_from_body(body)
        return await self.caller(
            client, team_id=team_id, user_id=user_id, channel_id=channel_id, fallback_name=name
        )

    @asynccontextmanager
    async def acting(self, caller: Caller) -> AsyncIterator[tuple[AsyncSession, Actor]]:
        """Open a transaction and resolve the caller to a member; commit when the block ends."""
        runtime = self.runtime
        async with runtime.sessions() as session, session.begin():
            actor = await resolve_actor(
                session, runtime.clock, community_id=runtime.community_id, caller=caller
            )
            yield session, actor

    async def publish_home(self, client: AsyncWebClient, caller: Caller) -> None:
        """Build the caller's Home tab from every feature's section and publish it."""
        blocks: list[Block] = []
        async with self.acting(caller) as (session, actor):
            for section in self.home_sections:
                blocks.extend(await section(session, actor))
        await client.views_publish(
            user_id=caller.user_id, view={"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
        )


def _features() -> list[FeatureRegistrar]:
    # Imported here, not at the top: feature modules import this module's helpers.
    from bot.slack import members, rituals

    return [members.register, rituals.register]


def build_slack_app(runtime: Runtime, *, api_base: str | None = None) -> AsyncApp:
    """Build the bolt app with every feature's listeners and the one error handler."""
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
    app = AsyncApp(
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
    for register in _features():
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

    async def on_home_opened(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        async with reported(body, respond=None, client=client):
            caller = await front.caller_from_body(client, body)
            await front.publish_home(client, caller)

    app.event("app_home_opened")(on_home_opened)

    async def ignore_event() -> None:
        # Events no feature listens to are still acknowledged, so Slack neither retries them
        # nor disables the subscription. Registered last: bolt runs the first match only.
        return None

    app.event(re.compile(r".*"))(ignore_event)
    return app


# -- the platform --------------------------------------------------------------------------------


class SlackPlatform:
    """The Slack front end as the process runs it: Socket Mode, or HTTP through our web server."""

    name = PLATFORM

    def __init__(self, runtime: Runtime, *, api_base: str | None = None) -> None:
        self.runtime = runtime
        self.mode = runtime.settings.slack.mode
        self.app = build_slack_app(runtime, api_base=api_base)
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
        """Verify and dispatch one request from Slack through the bolt app."""
        response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _check_token(self) -> None:
        try:
            answer = await self.app.client.auth_test()
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


def attach_slack(runtime: Runtime, *, api_base: str | None = None) -> SlackPlatform:
    """Add the Slack front end and its outbox sender to a runtime."""
    token = runtime.settings.secrets.SLACK_BOT_TOKEN
    if token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set; set it to the app's bot token (xoxb-…)")
    platform = SlackPlatform(runtime, api_base=api_base)
    runtime.platforms.append(platform)
    runtime.dispatcher.register(SlackSender(token.get_secret_value(), api_base=api_base))
    return platform
